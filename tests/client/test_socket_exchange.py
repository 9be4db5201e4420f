"""The sync client's own HTTP/1.1 exchange (imdsclient/_socket.py) over real loopback sockets:
framing, interim answers, keep-alive rules, failure kinds, and what it never imports."""

from __future__ import annotations

import errno
import select
import subprocess
import sys
from collections.abc import Iterable, Sequence

import pytest

from imdsclient import _transport
from imdsclient._protocol import (
    MAX_BODY_BYTES,
    Failure,
    FailureKind,
    Response,
    Result,
    get_request,
)
from tests.reliability._servers import CLOSE, Piece, RawServer, hang, simple_answer

REQUEST = get_request("/latest/meta-data/instance-id", None)


def _send(*answers: Sequence[Piece], calls: int = 1) -> tuple[list[Result], RawServer]:
    """``calls`` requests through one sync pool; each request is answered by the next script."""
    scripts = iter(answers)

    def respond(method: str, path: str) -> Iterable[Piece]:
        return next(scripts)

    with RawServer(respond) as server, _transport.sync_client(server.url, 2.0) as pool:
        results = [_transport.send_sync(pool, REQUEST) for _ in range(calls)]
    return results, server


def test_the_sync_http_pool_is_the_socket_exchange_and_https_keeps_httpcore() -> None:
    with _transport.sync_client("http://127.0.0.1:9", 1.0) as pool:
        assert pool._sockets is not None
    with _transport.sync_client("https://127.0.0.1:9", 1.0) as pool:
        assert pool._sockets is None


def test_a_chunked_body_is_decoded_and_its_trailers_skipped() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    (result,), _ = _send([head, b"3;x=y\r\ni-1\r\n2\r\n23\r\n0\r\nT: v\r\n\r\n", CLOSE])
    assert isinstance(result, Response)
    assert result.body == b"i-123"


def test_interim_answers_are_skipped() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
    (result,), _ = _send([interim, *simple_answer(200, b"i-1")])
    assert isinstance(result, Response)
    assert (result.status, result.body) == (200, b"i-1")


def test_a_body_without_length_is_read_until_the_connection_ends() -> None:
    (result,), _ = _send([b"HTTP/1.1 200 OK\r\n\r\ni-1", b"23", CLOSE])
    assert isinstance(result, Response)
    assert result.body == b"i-123"


@pytest.mark.parametrize(
    ("first", "reused"),
    [
        (simple_answer(200, b"i-1"), True),
        (simple_answer(200, b"i-1", "Connection: close"), False),
        (simple_answer(200, b"i-1", "Connection: keep-alive, Close"), False),
        ([b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\ni-1"], False),
        ([b"HTTP/1.1 100 Continue\r\n\r\n", *simple_answer(200, b"i-1")], False),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ni-1\r\n0\r\n\r\n"], False),
    ],
)
def test_only_a_plain_content_length_answer_keeps_its_connection(
    first: Sequence[Piece], reused: bool
) -> None:
    results, server = _send(first, simple_answer(200, b"i-2"), calls=2)
    assert [r.body for r in results if isinstance(r, Response)] == [b"i-1", b"i-2"]
    assert len(server.connections) == (1 if reused else 2)


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    scripts: list[list[Piece]] = [
        [*simple_answer(200, b"i-1"), CLOSE],
        [*simple_answer(200, b"i-2")],
    ]
    answers = iter(scripts)
    with RawServer(lambda method, path: next(answers)) as server:
        with _transport.sync_client(server.url, 2.0) as pool:
            first = _transport.send_sync(pool, REQUEST)
            assert pool._sockets is not None
            ((idle, _),) = pool._sockets._idle
            select.select([idle.sock], [], [], 5.0)  # until the server's FIN has arrived
            second = _transport.send_sync(pool, REQUEST)
        assert len(server.connections) == 2
    assert [first.body, second.body] == [b"i-1", b"i-2"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
    ],
)
def test_a_malformed_answer_is_a_dropped_exchange(answer: bytes) -> None:
    (result,), _ = _send([answer, CLOSE])
    assert result == Failure(FailureKind.DROPPED, "RemoteProtocolError")


def test_a_declared_length_over_the_cap_is_not_read() -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    (result,), _ = _send([head, *hang(5.0)])
    assert isinstance(result, Failure)
    assert result.kind is FailureKind.TOO_LARGE


def test_a_refused_connection_is_a_connect_failure_with_its_errno() -> None:
    with RawServer() as server:
        url = server.url
    pool = _transport.sync_client(url, 1.0)
    assert pool._sockets is not None
    with pytest.raises(_transport.ConnectError) as caught:
        pool._sockets.open(REQUEST)
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ECONNREFUSED
    assert _transport.send_sync(pool, REQUEST) == Failure(FailureKind.CONNECT, "ConnectError")
    pool.close()
    assert _transport.send_sync(pool, REQUEST).kind is FailureKind.CLOSED  # type: ignore[union-attr]


def test_a_header_value_with_a_line_break_is_never_sent() -> None:
    request = get_request("/latest/meta-data/instance-id", "t\r\nX-Injected: 1")
    with RawServer(lambda method, path: simple_answer(200, b"i-1")) as server:
        with _transport.sync_client(server.url, 1.0) as pool:
            result = _transport.send_sync(pool, request)
        assert server.connections == []
    assert result == Failure(FailureKind.DROPPED, "LocalProtocolError")


_NOTHING_HEAVY = """
import sys
from imdsclient import IMDSClient
from imdsclient.testing import IMDSSimulator

with IMDSSimulator() as sim:
    with IMDSClient(endpoint=sim.url) as client:
        client.get("instance-id")
        client.get("instance-id")
heavy = ("httpcore", "h11", "anyio", "certifi", "ssl", "httpx")
print(*sorted(m for m in heavy if m in sys.modules))
"""


def test_the_sync_client_over_http_imports_no_http_library() -> None:
    """#15: the sync client's http:// path loads none of httpcore, h11, anyio, certifi, ssl."""
    out = subprocess.run(
        [sys.executable, "-c", _NOTHING_HEAVY], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [], out.stdout


def test_httpcore_is_used_only_while_respx_patches_it() -> None:
    """httpcore loaded (httpx is, in this process) does not divert the sync client; respx.mock,
    which patches httpcore's pool, does, so that it intercepts the requests."""
    import httpcore
    import respx

    assert httpcore.ConnectionPool is not None
    assert not _transport._httpcore_mocked()
    with respx.mock:
        assert _transport._httpcore_mocked()
    assert not _transport._httpcore_mocked()
