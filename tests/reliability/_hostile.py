"""Hostile IMDS servers, by name: the wire behaviours ``test_hostile.py`` checks and
``benchmarks/hostile.py`` times.

Each :class:`Behaviour` says how the endpoint answers the token PUT and the GETs, at a *pace*
(seconds between drips): the tests use a fast pace and a short client timeout, the benchmark the
issue's real figures (one byte or one ``102`` every 0.5 s against the default 1 s timeout).
Everything runs on :class:`~tests.reliability._servers.RawServer` (127.0.0.1 only).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from imdsclient import IMDSConnectionError, IMDSError, IMDSTimeoutError, ThrottledError
from tests.reliability._servers import CLOSE, Piece, drip, hang, interim, simple_answer

__all__ = [
    "BEHAVIOURS",
    "ID",
    "IDENTITY",
    "SPOT",
    "TOKEN",
    "Behaviour",
    "by_name",
    "deep_json",
    "respond",
    "within",
]

TOKEN = b"AQAEAHostile-Token-For-Raw-Servers=="
ID = b"i-0123456789abcdef0"
_TTL = "X-aws-ec2-metadata-token-ttl-seconds: 21600"
MiB = 1024 * 1024

Script = Callable[[float], Iterable[Piece]]


def _token(pace: float) -> list[bytes]:
    del pace
    return simple_answer(200, TOKEN, _TTL)


def _value(pace: float) -> list[bytes]:
    del pace
    return simple_answer(200, ID)


def _chunked(chunk: bytes, every: float, count: int) -> Iterator[Piece]:
    yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for _ in range(count):
        yield piece
        if every:
            yield every


def _huge_head(pace: float) -> Iterator[Piece]:
    del pace
    yield b"HTTP/1.1 200 OK\r\n"
    line = b"X-Filler: " + b"x" * 1000 + b"\r\n"
    for _ in range(1024):  # 1 MiB of headers; h11 refuses heads over 100 KiB
        yield line
    yield b"Content-Length: 2\r\n\r\nok"


def _smuggle(pace: float) -> list[bytes]:
    del pace
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"
    return [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ni-" + smuggled]


@dataclass(frozen=True)
class Behaviour:
    """One way of answering; ``get_error`` is what ``get("instance-id")`` must end with
    (``None``: a value, ``value``)."""

    name: str
    what: str
    get: Script = _value
    put: Script = _token
    get_error: type[IMDSError] | None = None
    value: str = ID.decode()


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "drip-head",
        "the GET's status line and headers, one byte per pace",
        lambda pace: drip(simple_answer(200, ID)[0], pace),
        get_error=IMDSTimeoutError,
    ),
    Behaviour(
        "drip-body",
        "headers at once, then a 64-byte body one byte per pace",
        lambda pace: [b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n", *drip(b"i" * 64, pace)],
        get_error=IMDSTimeoutError,
    ),
    Behaviour(
        "interim-102",
        "a `102 Processing` interim answer per pace, never a final one",
        interim,
        get_error=IMDSTimeoutError,
    ),
    Behaviour(
        "silent",
        "accepts the connection and the request, never answers",
        lambda pace: hang(),
        get_error=IMDSTimeoutError,
    ),
    Behaviour(
        "chunked-drip",
        "`Transfer-Encoding: chunked`, one 1-byte chunk per pace, never the last chunk",
        lambda pace: _chunked(b"i", pace, 100_000),
        get_error=IMDSTimeoutError,
    ),
    Behaviour(
        "long-content-length",
        "`Content-Length: 1000`, 10 bytes, then silence",
        lambda pace: [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\ni-01234567", *hang()],
        get_error=IMDSTimeoutError,
    ),
    Behaviour(
        "close-mid-body",
        "`Content-Length: 1000`, 10 bytes, then hangs up",
        lambda pace: [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\ni-01234567", CLOSE],
        get_error=IMDSConnectionError,
    ),
    Behaviour(
        "close-mid-head",
        "half a status line, then hangs up",
        lambda pace: [b"HTTP/1.1 200 OK\r\nContent-Le", CLOSE],
        get_error=IMDSConnectionError,
    ),
    Behaviour(
        "short-content-length",
        "`Content-Length: 2` followed by a whole second answer (a desync attempt)",
        _smuggle,
        value="i-",
    ),
    Behaviour(
        "huge-head",
        "1 MiB of header lines",
        _huge_head,
        get_error=IMDSConnectionError,
    ),
    Behaviour(
        "garbage",
        "bytes that are not HTTP",
        lambda pace: [b"\x00\xffSSH-2.0-nope\r\n\r\n", CLOSE],
        get_error=IMDSConnectionError,
    ),
    Behaviour(
        "endless-body",
        "a chunked body streamed as fast as possible, without end (64 MiB)",
        lambda pace: _chunked(b"\0" * 65536, 0.0, 1024),
        get_error=IMDSError,
    ),
    Behaviour(
        "throttle-retry-after-huge",
        "429 with `Retry-After: 1e9`, every time",
        lambda pace: simple_answer(429, b"", "Retry-After: 1e9"),
        get_error=ThrottledError,
    ),
    Behaviour(
        "throttle-retry-after-tiny",
        "429 with `Retry-After: 1e-320`, every time",
        lambda pace: simple_answer(429, b"", "Retry-After: 1e-320"),
        get_error=ThrottledError,
    ),
    Behaviour(
        "drip-put",
        "the token PUT's answer one byte per pace (GETs answer normally)",
        put=lambda pace: drip(simple_answer(200, TOKEN, _TTL)[0], pace),
    ),
    Behaviour(
        "interim-put",
        "`102` interim answers to the token PUT, never a final one",
        put=interim,
    ),
    Behaviour(
        "huge-token",
        "a 1 MiB token",
        put=lambda pace: simple_answer(200, b"A" * (MiB - 1), _TTL),
        get_error=IMDSError,
    ),
    Behaviour(
        "utf16-token",
        "a UTF-16 token",
        put=lambda pace: simple_answer(200, "AQAE-token".encode("utf-16"), _TTL),
        get_error=IMDSError,
    ),
)


def by_name(name: str) -> Behaviour:
    """The behaviour called ``name``."""
    return next(b for b in BEHAVIOURS if b.name == name)


def respond(behaviour: Behaviour, pace: float) -> Callable[[str, str], Iterable[Piece]]:
    """A ``RawServer`` responder playing ``behaviour`` at ``pace``."""

    def answer(method: str, path: str) -> Iterable[Piece]:
        del path
        return (behaviour.put if method == "PUT" else behaviour.get)(pace)

    return answer


#: Valid documents, each to get an extra field nested absurdly deep.
IDENTITY = (
    b'{"accountId": "123456789012", "availabilityZone": "eu-west-1a", "imageId": "ami-1", '
    b'"instanceId": "i-1", "instanceType": "t3.micro", "region": "eu-west-1"'
)
SPOT = b'{"action": "terminate", "time": "2030-01-01T00:00:00Z"'


def deep_json(depth: int, document: bytes = IDENTITY) -> bytes:
    """``document`` (a valid one, without its closing brace) plus a field nested ``depth``
    levels deep: it validates, and only the nesting is wrong."""
    return document + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


T = TypeVar("T")


def within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result, or a test failure if it has not returned after ``seconds``.

    A liveness check (the call ends at all), not a timing threshold: the limit is far above any
    bound the client documents.  The call runs in a daemon thread, so a hang cannot block the
    suite; its exception, if any, is re-raised here.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"still running after {seconds} s: the call is not bounded")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
