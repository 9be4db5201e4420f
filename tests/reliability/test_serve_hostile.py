"""``imdsclient serve`` (the simulator's TCP server) fed hostile *requests*: it must keep serving
everyone else, answer malformed input with an error, and stay bounded in memory and time.

The server is ``IMDSSimulator`` on 127.0.0.1, exactly what ``serve`` runs.  Hostile clients are
raw sockets; a well-behaved ``IMDSClient`` checks that service goes on.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imdsclient import IMDSClient
from imdsclient.testing import FakeClock, IMDSSimulator
from tests.reliability._hostile import within

GOOD = b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator


def connect(sim: IMDSSimulator) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    sock.settimeout(5)
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it hangs up (bounded: 5 s per read)."""
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def served(sim: IMDSSimulator) -> str:
    """A well-behaved client's answer, under the liveness guard."""

    def get() -> str:
        with IMDSClient(endpoint=sim.url, clock=FakeClock(), timeout=2) as client:
            return client.get("instance-id")

    return within(30, get)


def test_service_goes_on_while_hostile_clients_hold_connections(sim: IMDSSimulator) -> None:
    """Idle connections, a request dripped byte by byte and one whose body never comes do not
    stop the server from answering a well-behaved client at once."""
    hostile = [connect(sim) for _ in range(20)]  # connect and say nothing
    dripper = connect(sim)
    stop = threading.Event()

    def drip() -> None:
        with contextlib.suppress(OSError):
            for byte in GOOD[:-2]:
                if stop.wait(0.05):
                    return
                dripper.send(bytes([byte]))

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    no_body = connect(sim)
    no_body.sendall(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    try:
        assert served(sim) == "i-1234567890abcdef0"
    finally:
        stop.set()
        thread.join(5)
        for sock in [*hostile, dripper, no_body]:
            sock.close()
    assert sim.internal_errors == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"\x00\xff\xfe garbage\r\n\r\n", b"400"),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        (b"GET /x HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 8000 + b"\r\n", b"431"),
        (b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", b"413"),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb9\r\n\r\n", b"400"),
    ],
    ids=["garbage", "huge-header", "many-headers", "huge-body", "chunked", "odd-length"],
)
def test_malformed_requests_get_an_error_and_a_closed_connection(
    sim: IMDSSimulator, request_bytes: bytes, status: bytes
) -> None:
    """Garbage, oversized heads and bodies, chunking, odd lengths: an error status, then the
    connection is closed; the server keeps serving."""
    sock = connect(sim)
    with contextlib.suppress(OSError):  # the server may hang up before it has read it all
        sock.sendall(request_bytes)
    answer = answer_of(sock)
    sock.close()
    assert answer.split(b" ", 2)[1] == status
    assert served(sim) == "i-1234567890abcdef0"
    assert sim.internal_errors == []


def test_a_connection_that_never_completes_its_request_is_closed_in_bounded_time(
    sim: IMDSSimulator,
) -> None:
    """Idle, dripping and body-withholding clients are hung up on at ``idle_timeout`` (1 s here;
    the test waits 4 s): the whole request must arrive in time, not each byte."""
    sim.idle_timeout = 1.0
    idle = connect(sim)
    dripping = connect(sim)
    withholding = connect(sim)
    withholding.sendall(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    open_ = {idle, dripping, withholding}
    deadline = time.monotonic() + 4
    try:
        while open_ and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                dripping.send(b"G")
            readable, _, _ = select.select(list(open_), [], [], 0.2)
            for sock in readable:
                if _hung_up(sock):
                    open_.discard(sock)
    finally:
        for sock in (idle, dripping, withholding):
            sock.close()
    assert not open_, f"{len(open_)} of 3 hostile connections still open after 4 s"


def _hung_up(sock: socket.socket) -> bool:
    """An end of stream or a reset: closing a socket with unread bytes (the dripping client's
    last ``G``) makes the kernel answer with RST, and that is a hang-up too."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def _request(method: bytes, target: bytes, headers: list[bytes], body: bytes, tail: bytes) -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\n" + b"".join(headers) + b"\r\n" + body + tail


requests = st.builds(
    _request,
    method=st.sampled_from([b"GET", b"PUT", b"POST", b"", b"G\x00T", b"GET GET"]),
    target=st.one_of(
        st.sampled_from([b"/latest/meta-data/", b"/latest/api/token", b"*", b"", b"http://x/"]),
        st.binary(max_size=64),
        st.builds(lambda n: b"/" + b"a" * n, st.sampled_from([255, 8000, 70_000])),
    ),
    headers=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    b"Host: x\r\n",
                    b"Content-Length: 5\r\n",
                    b"Content-Length: -1\r\n",
                    b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\n",
                    b"X-aws-ec2-metadata-token-ttl-seconds: 99999999999999999999\r\n",
                    b"X-Forwarded-For: 1.2.3.4\r\n",
                    b"Connection: close\r\n",
                ]
            ),
            st.binary(max_size=40).map(lambda b: b + b"\r\n"),
        ),
        max_size=6,
    ),
    body=st.sampled_from([b"", b"hello", b"\x00" * 100]),
    tail=st.sampled_from([b"", GOOD, b"\r\n\r\n", b"junk"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request_bytes=requests, pieces=st.sampled_from([1, 7, 4096, 1 << 20]))
def test_any_request_bytes_leave_the_server_serving(
    sim: IMDSSimulator, request_bytes: bytes, pieces: int
) -> None:
    """Arbitrary request bytes, sent whole or in small pieces: no server thread fails, and a
    well-behaved client is still answered."""
    sock = connect(sim)
    try:
        with contextlib.suppress(OSError):  # the server may hang up before it has read it all
            for start in range(0, len(request_bytes), pieces):
                sock.sendall(request_bytes[start : start + pieces])
            sock.shutdown(socket.SHUT_WR)
        answer = answer_of(sock)
    finally:
        sock.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    assert served(sim) == "i-1234567890abcdef0"
    assert sim.internal_errors == []
