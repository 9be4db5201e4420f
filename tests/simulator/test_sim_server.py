"""The simulator over real TCP on 127.0.0.1: HTTP/1.1 framing, bad input, faults, clean shutdown."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from imdsclient.testing import FakeClock, IMDSSimulator, serve

MD = "/latest/meta-data/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"


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
    """Send bytes on a fresh connection, read until the server closes it."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(data)
        chunks: list[bytes] = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


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
    """Pipelined HTTP/1.1 requests on one socket get one answer each, in order."""
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
    """A PUT with a body does not desynchronise the next request on the connection."""
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
    with httpx.Client(base_url=sim.url, trust_env=False, timeout=0.2) as short:
        with pytest.raises(httpx.ReadTimeout):
            short.put("/latest/api/token", headers={TTL: "60"})
        assert short.get(MD + "instance-id").status_code == 200


def test_stop_closes_hung_and_idle_connections_and_joins_threads() -> None:
    """stop() returns with hung and keep-alive connections open, leaving no server threads."""
    sim = IMDSSimulator(hop_limit_drop=True).start()
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
        with httpx.Client(base_url=url, trust_env=False, timeout=5) as c:
            assert c.get(MD + "instance-id").status_code == 401
    finally:
        stop.set()
        thread.join()
    assert url.startswith("http://127.0.0.1:")
    assert simulator_threads() == []
