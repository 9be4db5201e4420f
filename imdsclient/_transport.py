"""The one place that touches httpx: building clients and turning exchanges into results.

Clients always connect directly (``trust_env=False``: a proxy can never reach a link-local
address), never follow redirects, and read at most ``MAX_BODY_BYTES``.  httpx exceptions become
:class:`~imdsclient._protocol.Failure` values here, so the protocol rules decide what they mean.

Two more guarantees hold whatever the server does, on the network transport built here (a
``transport=`` given by the caller, such as an httpx ``MockTransport``, is used as it is):

- **A total deadline per attempt.**  httpx's timeouts are per socket operation, so a server that
  drips one byte (or one ``102`` interim answer) every half second never trips them.  Here every
  connect, write and read is given at most what is left of the attempt's ``timeout``, counted
  from its first network operation: connecting, sending and the whole answer end within
  ``timeout`` together.
- **No reuse of a connection whose answer did not end where it said.**  Bytes after a
  ``Content-Length`` body would become the answer to the next request (h11 keeps them for the
  next cycle).  Each connection frames its answers itself and is reused only after an answer
  that had one ``Content-Length`` and ended exactly there.

Both are :class:`_Wire`, one per connection, shared by the sync and async network streams.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from imdsclient._protocol import MAX_BODY_BYTES, Failure, FailureKind, Request, Response, Result
from imdsclient._version import __version__

__all__ = [
    "SYN_RESEND_SLACK",
    "async_client",
    "failure_from",
    "send_async",
    "send_sync",
    "sync_client",
]

_HEADERS = {
    "User-Agent": f"imdsclient/{__version__}",
    "Accept": "*/*",
    # Bodies are returned byte for byte (user-data may itself be gzip); nothing to decode.
    "Accept-Encoding": "identity",
}
#: Extra seconds for connecting.  Linux resends an unanswered SYN 1 s after the first (then at
#: 3 s, 7 s): exactly when the default 1 s timeout ends.  IMDS drops packets over its rate limit,
#: so without this a single lost SYN fails a call that the resend would have saved.
SYN_RESEND_SLACK = 0.15
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0)


def _options(base_url: str, timeout: float) -> dict[str, Any]:
    """Settings shared by the sync and async clients."""
    return {
        "base_url": base_url,
        "headers": _HEADERS,
        "timeout": httpx.Timeout(
            timeout, connect=timeout + SYN_RESEND_SLACK, read=timeout, write=timeout, pool=None
        ),
        "trust_env": False,  # never a proxy: none can reach a link-local address
        "follow_redirects": False,
    }


def sync_client(base_url: str, timeout: float, transport: object = None) -> httpx.Client:
    """A keep-alive client for one endpoint; ``transport`` replaces the network (tests)."""
    chosen = _check(transport, httpx.BaseTransport) or _SyncTransport()
    return httpx.Client(transport=chosen, **_options(base_url, timeout))


def async_client(base_url: str, timeout: float, transport: object = None) -> httpx.AsyncClient:
    """The async twin of :func:`sync_client`."""
    chosen = _check(transport, httpx.AsyncBaseTransport) or _AsyncTransport()
    return httpx.AsyncClient(transport=chosen, **_options(base_url, timeout))


def _check(transport: object, kind: type) -> Any:
    """A transport of the kind the client needs, or a usage error before anything is sent."""
    if transport is not None and not isinstance(transport, kind):
        raise TypeError(f"the client needs an httpx.{kind.__name__}, not {transport!r}")
    return transport


def failure_from(exc: httpx.TransportError) -> Failure:
    """Map an httpx transport error to the most specific failure kind."""
    if isinstance(exc, httpx.ConnectTimeout):
        kind = FailureKind.CONNECT_TIMEOUT
    elif isinstance(exc, httpx.TimeoutException):
        kind = FailureKind.READ_TIMEOUT
    elif isinstance(exc, httpx.ConnectError):
        kind = FailureKind.CONNECT
    else:  # RemoteProtocolError, ReadError, WriteError, ...
        kind = FailureKind.DROPPED
    return Failure(kind, type(exc).__name__)


# -- one exchange ---------------------------------------------------------------------------


class _Body:
    """Collects one answer's body under the size cap; shared by both senders."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks: list[bytes] = []
        self.size = 0
        length = response.headers.get("content-length", "")
        # ASCII digits only: str.isdigit() also accepts "¹", which int() refuses.
        self.too_large = length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES

    @property
    def streaming(self) -> bool:
        """Whether there is anything left to read (an in-memory answer is already read)."""
        if self.response.is_stream_consumed:
            self.add(self.response.content)
        return not self.too_large and not self.response.is_stream_consumed

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``True`` once the body is over the cap (stop reading)."""
        self.size += len(chunk)
        self.too_large = self.too_large or self.size > MAX_BODY_BYTES
        if not self.too_large:
            self.chunks.append(chunk)
        return self.too_large

    def result(self) -> Result:
        if self.too_large:
            return Failure(FailureKind.TOO_LARGE, f"over {MAX_BODY_BYTES} bytes")
        raw = self.response.headers.raw
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        return Response(self.response.status_code, headers, b"".join(self.chunks))


def _build(client: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
    if request.connect_timeout is None:
        return client.build_request(request.method, request.path, headers=dict(request.headers))
    timeout = client.timeout
    this = httpx.Timeout(
        timeout.read, connect=request.connect_timeout, write=timeout.write, pool=timeout.pool
    )
    return client.build_request(
        request.method, request.path, headers=dict(request.headers), timeout=this
    )


@contextlib.contextmanager
def _exchange(client: httpx.Client | httpx.AsyncClient) -> Iterator[list[Result]]:
    """Around one exchange: its deadline, and every way it can fail turned into a Failure.

    The exchange appends its result to the list; a transport error replaces it.  httpx raises
    ``RuntimeError`` for a request sent through a closed client: closed by another thread or
    task while this call was in flight (a call *started* after ``close()`` never gets here).
    """
    out: list[Result] = []
    # The whole attempt: the timeout, and the slack that lets a resent SYN land (connect).
    read = client.timeout.read
    token = _ATTEMPT.set(_Attempt(None if read is None else read + SYN_RESEND_SLACK))
    try:
        yield out
    except httpx.TransportError as exc:
        out[:] = [_CLOSED if client.is_closed else failure_from(exc)]
    except RuntimeError:
        if not client.is_closed:
            raise
        out[:] = [_CLOSED]
    finally:
        _ATTEMPT.reset(token)


_CLOSED = Failure(FailureKind.CLOSED, "closed by another thread or task")


def send_sync(client: httpx.Client | None, request: Request) -> Result:
    """One exchange, never raising for transport trouble.  ``client`` is ``None`` when the
    shell's client was closed between two requests of a call in flight."""
    if client is None:
        return _CLOSED
    with _exchange(client) as out:
        response = client.send(_build(client, request), stream=True)
        try:
            body = _Body(response)
            if body.streaming:
                for chunk in response.iter_raw():
                    if body.add(chunk):
                        break
            out.append(body.result())
        finally:
            response.close()
    return out[0]


async def send_async(client: httpx.AsyncClient | None, request: Request) -> Result:
    """The async twin of :func:`send_sync`."""
    if client is None:
        return _CLOSED
    with _exchange(client) as out:
        response = await client.send(_build(client, request), stream=True)
        try:
            body = _Body(response)
            if body.streaming:
                async for chunk in response.aiter_raw():
                    if body.add(chunk):
                        break
            out.append(body.result())
        finally:
            await response.aclose()
    return out[0]


# -- the attempt's deadline and the framing check -------------------------------------------


@dataclass
class _Attempt:
    """One attempt's time budget.  The clock starts at its first network operation, so time
    spent waiting for a free connection of the pool (other requests' business) is not counted."""

    timeout: float | None
    deadline: float | None = None

    def left(self) -> float | None:
        if self.timeout is None:
            return None
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout
        return self.deadline - time.monotonic()


# A context variable follows the exchange into httpcore: the connection's I/O is done by the
# thread (sync) or the task (async) that sent the request.
_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "imdsclient_attempt", default=None
)

# Where a head ends, exactly as h11 finds it: a blank line, with or without CR.
_HEAD_END = re.compile(rb"\n\r?\n")
_MAX_HEAD = 128 * 1024  # h11 refuses heads over 100 KiB anyway


def _limit(given: float | None, error: type[Exception]) -> float | None:
    """A socket operation's timeout shrunk to what is left of the attempt; ``error`` once
    nothing is left."""
    attempt = _ATTEMPT.get()
    left = attempt.left() if attempt is not None else None
    if left is None:
        return given
    if left <= 0:
        assert attempt is not None
        raise error(f"no complete answer within the attempt's {attempt.timeout:g} s")
    return left if given is None else min(given, left)


class _Wire:
    """One connection's record of its current answer: is the connection still reusable?

    Deliberately narrow: it stays reusable only after an answer with one ``Content-Length``,
    no ``Transfer-Encoding``, no interim ``1xx``, no folded header line, that ended exactly
    there.  Anything else (IMDS sends none of it) costs a new connection for the next
    request, never a desynchronised one.
    """

    __slots__ = ("head", "left", "reading", "reusable")

    def __init__(self) -> None:
        self.reusable = True
        self.reading = False
        self.head: bytearray | None = bytearray()  # None once the head is complete
        self.left = 0  # body bytes still expected after the head

    def sent(self) -> None:
        """A write after an answer starts the next exchange on this connection."""
        if self.reading:
            self.reading, self.head, self.left = False, bytearray(), 0

    def received(self, data: bytes) -> None:
        """Count what arrived against what the answer's head announced."""
        self.reading = True
        if not self.reusable:
            return
        if self.head is None:
            self.left -= len(data)
        else:
            self.head += data
            end = _HEAD_END.search(self.head)
            if end is None:
                self.reusable = len(self.head) <= _MAX_HEAD
                return
            length = _content_length(bytes(self.head[: end.start()]))
            self.left = -1 if length is None else length - (len(self.head) - end.end())
            self.head = None
        if self.left < 0:  # more than announced, or no framing to check
            self.reusable = False

    def readable(self, value: Any) -> Any:
        """httpcore asks ``is_readable`` of an idle connection, and drops it when true (the
        server hung up).  An answer that did not end where it said gets the same treatment."""
        return True if not self.reusable else value


def _content_length(head: bytes) -> int | None:
    """The body length a final answer's head announces, if it frames it unambiguously."""
    lines = head.split(b"\n")
    status = [*lines[0].split(b" ", 2), b""][1]
    if not (len(status) == 3 and status.isdigit()) or status[:1] == b"1":
        return None
    if status in (b"204", b"304"):  # bodiless whatever the head says
        return None
    lengths = set()
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            return None  # obsolete line folding
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            lengths.add(value.strip())
    if len(lengths) != 1:
        return None
    text = lengths.pop()
    return int(text) if text.isdigit() else None


# -- httpcore plumbing: network streams that carry a _Wire, transports that use them ---------


class _Streams:
    """The open network streams of one transport, so that closing the transport closes them
    all: httpcore's pool forgets a connection that a request was still opening (or was
    cancelled while opening) when the pool closed, and leaves its socket to the collector."""

    def __init__(self) -> None:
        self.closed = False
        self._open: set[Any] = set()
        self._lock = threading.Lock()

    def opened(self, stream: Any) -> bool:
        """Register a new stream; ``False`` when the transport is already closed."""
        with self._lock:
            if not self.closed:
                self._open.add(stream)
        return not self.closed

    def forget(self, stream: Any) -> None:
        with self._lock:
            self._open.discard(stream)

    def close(self) -> list[Any]:
        """Refuse new streams; the ones still open, to be closed by the caller."""
        with self._lock:
            self.closed, left, self._open = True, list(self._open), set()
        return left


_REFUSED = "the client was closed"


class _SyncStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, streams: _Streams) -> None:
        self._stream, self._streams, self._wire = stream, streams, _Wire()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))
        self._wire.received(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._wire.sent()
        self._stream.write(buffer, _limit(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._streams.forget(self)
        self._stream.close()

    def abort(self) -> None:
        """Close now, waking a thread blocked reading it (``close`` alone does not)."""
        sock = self._stream.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.shutdown(socket.SHUT_RDWR)
        self.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        tls = self._stream.start_tls(ssl_context, server_hostname, limit)
        self._streams.forget(self)
        wrapped = _SyncStream(tls, self._streams)
        if not self._streams.opened(wrapped):
            wrapped.close()
            raise httpcore.ConnectError(_REFUSED)
        return wrapped

    def get_extra_info(self, info: str) -> Any:
        value = self._stream.get_extra_info(info)
        return self._wire.readable(value) if info == "is_readable" else value


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream, streams: _Streams) -> None:
        self._stream, self._streams, self._wire = stream, streams, _Wire()
        self._socket = stream.get_extra_info("socket")  # for is_readable, see get_extra_info

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._stream.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))
        self._wire.received(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._wire.sent()
        await self._stream.write(buffer, _limit(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        self._streams.forget(self)
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        tls = await self._stream.start_tls(ssl_context, server_hostname, limit)
        self._streams.forget(self)
        wrapped = _AsyncStream(tls, self._streams)
        if not self._streams.opened(wrapped):
            await wrapped.aclose()
            raise httpcore.ConnectError(_REFUSED)
        return wrapped

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # the pool asks it of every idle connection at each hand-over;
            # anyio's attribute lookup made that a fifth of a busy client's time (#15)
            return self._wire.readable(_readable(self._socket))
        return self._stream.get_extra_info(info)


def _readable(sock: socket.socket | None) -> bool:
    """Whether data (or the server's hang-up) waits on ``sock``: httpcore's own test."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True  # gone: as if the next read returned b""
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _SyncBackend(httpcore.NetworkBackend):
    def __init__(self, streams: _Streams) -> None:
        self._backend, self._streams = httpcore.SyncBackend(), streams

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        raw = self._backend.connect_tcp(host, port, limit, local_address, socket_options)
        stream = _SyncStream(raw, self._streams)
        if not self._streams.opened(stream):
            stream.close()
            raise httpcore.ConnectError(_REFUSED)
        return stream

    def sleep(self, seconds: float) -> None:  # pragma: no cover - only httpcore's retries
        self._backend.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, streams: _Streams) -> None:
        self._backend, self._streams = httpcore.AnyIOBackend(), streams

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = _limit(timeout, httpcore.ConnectTimeout)
        raw = await self._backend.connect_tcp(host, port, limit, local_address, socket_options)
        stream = _AsyncStream(raw, self._streams)
        if not self._streams.opened(stream):
            await stream.aclose()
            raise httpcore.ConnectError(_REFUSED)
        return stream

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - only httpcore's retries
        await self._backend.sleep(seconds)


#: httpcore's exceptions and the httpx ones its own transport raises for them.
_HTTPX_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProxyError: httpx.ProxyError,
}


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as httpx's, the most specific first (what httpx itself does)."""
    try:
        yield
    except Exception as exc:
        mapped = next((_HTTPX_ERRORS[c] for c in type(exc).__mro__ if c in _HTTPX_ERRORS), None)
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


def _core_request(request: httpx.Request, content: Any) -> httpcore.Request:
    url = request.url
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        headers=request.headers.raw,
        content=content,
        extensions=request.extensions,
    )


def _pool_options() -> dict[str, Any]:
    return {
        "max_connections": _LIMITS.max_connections,
        "max_keepalive_connections": _LIMITS.max_keepalive_connections,
        "keepalive_expiry": _LIMITS.keepalive_expiry,
    }


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, answer: httpcore.Response) -> None:
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._answer.iter_stream()

    def close(self) -> None:
        with _as_httpx_errors():
            self._answer.close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, answer: httpcore.Response) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._answer.aiter_stream():
                yield part

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._answer.aclose()


class _SyncTransport(httpx.BaseTransport):
    """httpx's own HTTP transport in miniature (no proxies, HTTP/1.1), on guarded streams."""

    def __init__(self) -> None:
        self._streams = _Streams()
        backend = _SyncBackend(self._streams)
        self._pool = httpcore.ConnectionPool(network_backend=backend, **_pool_options())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        with _as_httpx_errors():
            answer = self._pool.handle_request(_core_request(request, request.stream))
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_SyncBody(answer),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        left = self._streams.close()
        self._pool.close()
        for stream in left:
            stream.abort()


class _AsyncTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`_SyncTransport`."""

    def __init__(self) -> None:
        self._streams = _Streams()
        backend = _AsyncBackend(self._streams)
        self._pool = httpcore.AsyncConnectionPool(network_backend=backend, **_pool_options())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        with _as_httpx_errors():
            answer = await self._pool.handle_async_request(_core_request(request, request.stream))
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_AsyncBody(answer),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        left = self._streams.close()
        await self._pool.aclose()
        for stream in left:
            await stream.aclose()
