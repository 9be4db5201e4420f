"""The simulator over real TCP on 127.0.0.1: HTTP/1.1 framing, bad input, faults, clean shutdown."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from imdsclient.testing import FakeClock, IMDSSimulator, serve

MD = "/latest/meta-data/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator
        assert simulator.internal_errors == []


@pytest.fixture
def client(sim: IMDSSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, trust_env=False, timeout=5) as c:
        yield c


def raw_exchange(sim: IMDSSimulator, data: bytes) -> bytes:
    """Send bytes on a fresh connection, read until the server closes (or resets) it."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(data)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (every 5 ms, at most 5 s): for a server thread to get there."""
    for _ in range(1000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def simulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("imds-simulator")]


def test_serves_on_loopback_with_an_ephemeral_port(sim: IMDSSimulator) -> None:
    """The URL is http://127.0.0.1:<free port>."""
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    assert sim.port != 0


def test_token_flow_over_http(sim: IMDSSimulator, client: httpx.Client) -> None:
    """PUT a token, GET with it: headers and bodies as IMDS sends them."""
    sim.http_tokens = "required"
    put = client.put("/latest/api/token", headers={TTL: "300"})
    assert put.status_code == 200
    assert put.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "300"
    assert put.headers["server"] == "EC2ws"
    got = client.get(MD + "instance-id", headers={"X-aws-ec2-metadata-token": put.text})
    assert (got.status_code, got.text) == (200, "i-1234567890abcdef0")
    assert client.get(MD + "instance-id").status_code == 401


def test_date_header_follows_the_simulator_clock() -> None:
    """Date is rendered in HTTP form from the injected clock's wall time."""
    with IMDSSimulator(clock=FakeClock(wall=1_767_225_600.0)) as sim:
        answer = raw_exchange(sim, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n" in answer


def test_keep_alive_serves_many_requests_on_one_connection(sim: IMDSSimulator) -> None:
    """keep_alive=True: pipelined HTTP/1.1 requests on one socket get one answer each, in order."""
    sim.keep_alive = True
    request = b"GET /latest/meta-data/placement/region HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(sim, request * 3 + last)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 4
    assert answer.count(b"us-east-1") == 3
    assert answer.endswith(b"i-1234567890abcdef0")
    assert b"Content-Length: 9\r\n" in answer


def test_head_has_length_but_no_body(sim: IMDSSimulator) -> None:
    """HEAD answers with GET's headers, Content-Length included, and no body."""
    answer = raw_exchange(
        sim, b"HEAD /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.endswith(b"\r\n\r\n")
    assert b"Content-Length: 19\r\n" in answer


def test_http10_closes_after_the_answer(sim: IMDSSimulator) -> None:
    """An HTTP/1.0 request without keep-alive gets one answer and a close."""
    answer = raw_exchange(sim, b"GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close\r\n" in answer


def test_put_body_is_consumed_and_connection_reused(sim: IMDSSimulator) -> None:
    """keep_alive=True: a PUT with a body does not desynchronise the next request."""
    sim.keep_alive = True
    put = b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + TTL.encode() + b": 60\r\n"
    put += b"Content-Length: 5\r\n\r\nhello"
    get = b"GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(sim, put + get)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.endswith(b"ami-0a887e401f7654935")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\x00\xff\xfe garbage \r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\n", 400),
        (b"GET /x\r\n\r\n", 400),
        (b"GET  /x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n", 400),
        (b"GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /latest/meta-data/ HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n", 400),  # superscript 2
        (b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
    ],
)
def test_bad_input_gets_an_error_and_the_server_survives(
    sim: IMDSSimulator, client: httpx.Client, data: bytes, status: int
) -> None:
    """Garbage, malformed lines, missing Host, bodies, unknown methods: answered, never fatal."""
    answer = raw_exchange(sim, data)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Connection: close" in answer
    assert client.get(MD + "instance-id").status_code == 200
    assert sim.requests[0].status == status


def test_huge_headers_get_431(sim: IMDSSimulator, client: httpx.Client) -> None:
    """Headers beyond 64 KiB are refused with 431 and the connection is closed."""
    big = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        with contextlib.suppress(OSError):  # the server may close before reading everything
            conn.sendall(big)
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert client.get(MD + "instance-id").status_code == 200


def test_client_disconnecting_mid_request_is_harmless(
    sim: IMDSSimulator, client: httpx.Client
) -> None:
    """A half request followed by a close leaves the server serving."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(b"GET /latest/meta-data/ HTTP/1.1\r\nHo")
    assert client.get(MD + "instance-id").status_code == 200


def test_reset_fault_aborts_the_connection(sim: IMDSSimulator, client: httpx.Client) -> None:
    """inject('reset') closes the connection with no answer; the client sees a transport error."""
    sim.inject("reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(MD + "instance-id")
    assert client.get(MD + "instance-id").status_code == 200
    assert [r.status for r in sim.requests] == [None, 200]


def test_hang_fault_times_the_client_out(sim: IMDSSimulator) -> None:
    """inject('hang') never answers, so the client's read timeout fires."""
    sim.inject("hang")
    with httpx.Client(base_url=sim.url, trust_env=False, timeout=0.2) as short:
        with pytest.raises(httpx.ReadTimeout):
            short.get(MD + "instance-id")
        assert short.get(MD + "instance-id").status_code == 200


def test_hop_limit_drop_times_out_the_put_only(sim: IMDSSimulator) -> None:
    """hop_limit_drop: the token PUT times out while token-less GETs are answered."""
    sim.hop_limit_drop = True
    short = httpx.Client(base_url=sim.url, trust_env=False, timeout=0.2)
    with short, pytest.raises(httpx.ReadTimeout):
        short.put("/latest/api/token", headers={TTL: "60"})
    # A generous timeout for the answer that must come: 0.2 s failed on a loaded machine.
    with httpx.Client(base_url=sim.url, trust_env=False, timeout=10) as patient:
        assert patient.get(MD + "instance-id").status_code == 200


def test_stop_closes_hung_and_idle_connections_and_joins_threads() -> None:
    """stop() returns with hung and keep-alive connections open, leaving no server threads."""
    sim = IMDSSimulator(hop_limit_drop=True, keep_alive=True).start()
    idle = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    hung = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    try:
        idle.sendall(b"GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        hung.sendall(
            b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + TTL.encode() + b": 9\r\n\r\n"
        )
        while sim.count(method="PUT") == 0:
            threading.Event().wait(0.005)
        assert len(simulator_threads()) == 3
        sim.stop()
        assert simulator_threads() == []
        assert hung.recv(100) == b""
        assert idle.recv(100) == b""
    finally:
        idle.close()
        hung.close()
        sim.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=1).close()


def test_knobs_change_while_running(sim: IMDSSimulator, client: httpx.Client) -> None:
    """Attributes set from the test thread apply to the next request on a live connection."""
    assert client.get(MD + "instance-id").status_code == 200
    sim.endpoint_enabled = False
    assert client.get(MD + "instance-id").status_code == 403
    sim.endpoint_enabled = True
    sim.set("instance-id", "i-0changed")
    assert client.get(MD + "instance-id").text == "i-0changed"


def test_concurrent_clients_all_get_answers(sim: IMDSSimulator) -> None:
    """Eight threads with their own connections are all served."""
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=sim.url, trust_env=False, timeout=5) as c:
            got = [c.get(MD + "placement/region").status_code for _ in range(25)]
        with lock:
            statuses.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 200
    assert sim.count(path=MD + "placement/region") == 200


def test_url_before_start_and_double_start_are_errors() -> None:
    """.url needs a running server, and a simulator starts only once."""
    sim = IMDSSimulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.url
    with sim, pytest.raises(RuntimeError, match="once"):
        sim.start()
    sim.stop()  # stopping twice is harmless


def test_serve_prints_the_url_and_stops_on_request() -> None:
    """serve() prints its URL, serves with the given knobs, and returns when stop is set."""
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        kwargs={"port": 0, "stop": stop, "out": out, "http_tokens": "required"},
    )
    thread.start()
    try:
        while "http://" not in out.getvalue():
            threading.Event().wait(0.005)
        url = out.getvalue().split()[4]
        assert "(real IMDS mode (Connection: close); tokens required;" in out.getvalue()
        with httpx.Client(base_url=url, trust_env=False, timeout=5) as c:
            assert c.get(MD + "instance-id").status_code == 401
    finally:
        stop.set()
        thread.join()
    assert url.startswith("http://127.0.0.1:")
    assert simulator_threads() == []


# ---------------------------------------------------------------- connection handling


class TTLRecorder(IMDSSimulator):
    """Records, for every answer, its status line and the socket's TTL as it is written."""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.sent: list[tuple[bytes, int]] = []

    def _sendall(self, conn: socket.socket, data: bytes) -> None:
        if conn.family == socket.AF_INET6:
            ttl = conn.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)
        else:
            ttl = conn.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
        self.sent.append((data.split(b"\r\n", 1)[0], ttl))
        super()._sendall(conn, data)


PUT_TOKEN = b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + TTL.encode() + b": 60\r\n\r\n"
GET_ID = b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n"


def test_put_answers_leave_with_the_put_response_hop_limit() -> None:
    """put_response_hop_limit=1: the PUT answer is written with TTL 1, the next answer with 64."""
    with TTLRecorder(put_response_hop_limit=1, keep_alive=True) as sim:
        last = GET_ID.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        raw_exchange(sim, PUT_TOKEN + GET_ID + last)
        raw_exchange(sim, GET_ID.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert sim.sent == [
        (b"HTTP/1.1 200 OK", 1),
        (b"HTTP/1.1 200 OK", 64),
        (b"HTTP/1.1 200 OK", 64),
        (b"HTTP/1.1 200 OK", 64),
    ]


def test_every_put_answer_gets_the_hop_limit_in_real_mode() -> None:
    """In the default (close) mode a refused PUT is written with the hop limit too."""
    with TTLRecorder(put_response_hop_limit=2) as sim:
        raw_exchange(sim, PUT_TOKEN)
        raw_exchange(sim, PUT_TOKEN.replace(b": 60", b": 0"))
        raw_exchange(sim, GET_ID)
    assert [ttl for _, ttl in sim.sent] == [2, 2, 64]
    assert sim.sent[1][0] == b"HTTP/1.1 400 Bad Request"


def test_hop_limit_applies_to_ipv6_sockets() -> None:
    """On ::1 the IPv6 unicast hop limit is what carries the PUT hop limit."""
    try:
        sim = TTLRecorder(host="::1", put_response_hop_limit=3).start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with sim, socket.create_connection(("::1", sim.port), timeout=5) as conn:
        conn.sendall(PUT_TOKEN)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert sim.sent[0][1] == 3


def test_without_the_knob_the_ttl_is_left_alone(sim: IMDSSimulator) -> None:
    """put_response_hop_limit=None (default): no TTL is set, so the OS default applies."""
    assert sim.put_response_hop_limit is None
    with pytest.raises(ValueError, match="put_response_hop_limit"):
        sim.put_response_hop_limit = 0
    with pytest.raises(ValueError, match="put_response_hop_limit"):
        sim.put_response_hop_limit = 65


class LatencyRecorder(IMDSSimulator):
    """Records each wait before an answer and each answer's status line, in order."""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.events: list[tuple[str, object]] = []

    def _delay(self, seconds: float) -> None:
        self.events.append(("wait", seconds))
        super()._delay(seconds)

    def _sendall(self, conn: socket.socket, data: bytes) -> None:
        self.events.append(("send", data.split(b"\r\n", 1)[0]))
        super()._sendall(conn, data)


def test_latency_holds_every_answer_back() -> None:
    """latency=S: each answer (a refusal too) waits S before it is written; set to 0 while
    running, the next answer goes at once."""
    with LatencyRecorder(latency=0.01) as sim:
        raw_exchange(sim, PUT_TOKEN)
        raw_exchange(sim, GET_ID.replace(b"instance-id", b"nothing-here"))
        sim.latency = 0
        raw_exchange(sim, GET_ID)
    ok, missing = b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found"
    waited = ("wait", 0.01)
    assert sim.events == [waited, ("send", ok), waited, ("send", missing), ("send", ok)]


def test_stop_ends_a_latency_wait() -> None:
    """stop() does not wait out a long latency: the connection's thread ends with the server."""
    sim = IMDSSimulator(latency=60).start()
    conn = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    try:
        conn.sendall(GET_ID)
        while sim.count(method="GET") == 0:
            threading.Event().wait(0.005)
        sim.stop()
        assert simulator_threads() == []
    finally:
        conn.close()


def test_latency_validates() -> None:
    """latency is 0..60 seconds; anything else is refused."""
    for bad in (-0.1, 61, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="latency"):
            IMDSSimulator(latency=bad)  # type: ignore[arg-type]
    assert IMDSSimulator(latency=2).latency == 2.0


def test_connections_are_counted(sim: IMDSSimulator) -> None:
    """.connections counts accepted connections; .open_connections those still open."""
    raw_exchange(sim, GET_ID)
    raw_exchange(sim, PUT_TOKEN)
    assert sim.connections == 2
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5):
        wait_until(lambda: sim.open_connections == 1, "the connection to be accepted")
        assert sim.connections == 3


def test_idle_connections_time_out() -> None:
    """A connection that sends nothing is closed after idle_timeout."""
    with IMDSSimulator(idle_timeout=0.1) as sim:
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
            assert conn.recv(100) == b""
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
            conn.sendall(b"GET /latest/meta-data/ HTTP/1.1\r\nHo")  # half a request
            assert conn.recv(100) == b""
    assert sim.requests == []


def test_max_connections_makes_further_ones_wait() -> None:
    """With two connections open and max_connections=2, a third is served once one closes."""
    with IMDSSimulator(max_connections=2) as sim:
        first = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
        second = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
        wait_until(lambda: sim.open_connections == 2, "two open connections")
        third = socket.create_connection(("127.0.0.1", sim.port), timeout=5)  # in the backlog
        third.sendall(GET_ID)
        assert sim.connections == 2
        first.close()
        assert third.recv(65536).startswith(b"HTTP/1.1 200 OK")
        assert sim.connections == 3
        second.close()
        third.close()


def test_a_failed_thread_start_is_survived(
    sim: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'can't start new thread' (ulimit -v, -u): that connection is dropped, later ones served."""
    real_start = threading.Thread.start
    failures = [RuntimeError("can't start new thread"), MemoryError()]

    def start(self: threading.Thread) -> None:
        if self.name == "imds-simulator-conn" and failures:
            raise failures.pop(0)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    assert raw_exchange(sim, GET_ID) == b""
    assert raw_exchange(sim, GET_ID) == b""
    assert raw_exchange(sim, GET_ID).startswith(b"HTTP/1.1 200 OK")
    assert sim.accept_errors == 2
    assert sim.connections == 1


def test_a_bug_in_the_accept_loop_does_not_kill_it(
    sim: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception while accepting is recorded and accepting goes on."""
    real_spawn = sim._spawn
    calls = []

    def spawn(conn: socket.socket) -> None:
        calls.append(conn)
        if len(calls) == 1:
            conn.close()
            raise ValueError("simulated bug")
        real_spawn(conn)

    monkeypatch.setattr(sim, "_spawn", spawn)
    assert raw_exchange(sim, GET_ID) == b""
    assert raw_exchange(sim, GET_ID).startswith(b"HTTP/1.1 200 OK")
    assert [type(e) for e in sim.internal_errors] == [ValueError]
    sim.internal_errors.clear()


def test_shell_knobs_validate() -> None:
    """Bad http_version, max_connections and idle_timeout values are refused."""
    with pytest.raises(ValueError, match="http_version"):
        IMDSSimulator(http_version="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_connections"):
        IMDSSimulator(max_connections=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        IMDSSimulator(idle_timeout=0)


# ---------------------------------------------------------------- the request log


def test_request_log_has_one_line_per_request_and_no_secrets() -> None:
    """request_log: time, peer, method and path, status, size, token or TTL; never a token."""
    log = io.StringIO()
    clock = FakeClock(wall=1_767_225_600.0)
    with IMDSSimulator(request_log=log, clock=clock, http_tokens="required") as sim:
        token = raw_exchange(sim, PUT_TOKEN).rsplit(b"\r\n\r\n", 1)[1].decode()
        with_token = GET_ID.replace(b"\r\n\r\n", f"\r\n{TOKEN_HEADER}: {token}\r\n\r\n".encode())
        raw_exchange(sim, with_token)
        raw_exchange(sim, GET_ID)
        raw_exchange(sim, b"\x00garbage\r\n\r\n")
        raw_exchange(sim, b'GET /"x\x7f HTTP/1.1\r\nHost: x\r\n\r\n')
        sim.inject("reset")
        raw_exchange(sim, GET_ID)
        secret = json.loads(
            raw_exchange(
                sim,
                with_token.replace(b"instance-id", b"iam/security-credentials/baskinc-role"),
            ).rsplit(b"\r\n\r\n", 1)[1]
        )["SecretAccessKey"]
    lines = log.getvalue().splitlines()
    peer = r"127\.0\.0\.1:\d+"
    expected = [
        rf'01 Jan 2026 00:00:00 {peer} "PUT /latest/api/token" 200 56B ttl=60',
        rf'01 Jan 2026 00:00:00 {peer} "GET /latest/meta-data/instance-id" 200 19B token',
        rf'01 Jan 2026 00:00:00 {peer} "GET /latest/meta-data/instance-id" 401 \d+B no-token',
        rf'01 Jan 2026 00:00:00 {peer} "- -" 400 malformed',
        rf'01 Jan 2026 00:00:00 {peer} "GET /\\x22x\\x7f" 401 \d+B no-token',
        rf'01 Jan 2026 00:00:00 {peer} "GET /latest/meta-data/instance-id" reset 0B no-token',
        r'.* "GET /latest/meta-data/iam/security-credentials/baskinc-role" 200 \d+B token',
    ]
    assert len(lines) == len(expected)
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), line
    assert token not in log.getvalue()
    assert secret not in log.getvalue()
