"""The one place that does HTTP: a connection pool per endpoint, and exchanges turned into results.

Requests go straight to httpcore's connection pool (HTTP/1.1 over h11): the URL parts, the
headers and the timeouts are built once per client as the bytes httpcore takes, and an answer is
read into a :class:`~imdsclient._protocol.Response` without any ``httpx.Request`` or
``httpx.Response`` in between.  IMDS needs none of httpx's client layers (URL merging, cookies,
auth, redirects, proxies); skipping them is most of a warm ``get``'s cost (#15).  Connections
are always direct (a proxy can never reach a link-local address), redirects are never
followed, and at most ``MAX_BODY_BYTES`` are read.  Transport errors become
:class:`~imdsclient._protocol.Failure` values here, so the protocol rules decide what they mean.

A ``transport=`` given by the caller (an httpx ``BaseTransport``/``AsyncBaseTransport``, such as
``httpx.MockTransport``) is sent through an ``httpx.Client``/``AsyncClient`` built with the same
settings, as it is; httpx is imported only then.  ``respx.mock`` still sees every request of the
network pool: it patches httpcore's ``ConnectionPool.handle_request``, which is what is called.

Two more guarantees hold whatever the server does, on the network pool built here:

- **A total deadline per attempt.**  Socket timeouts are per operation, so a server that drips
  one byte (or one ``102`` interim answer) every half second never trips them.  Here every
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
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpcore

from imdsclient._connections import AsyncConnections
from imdsclient._protocol import MAX_BODY_BYTES, Failure, FailureKind, Request, Response, Result
from imdsclient._version import __version__

if TYPE_CHECKING:
    import httpx

__all__ = [
    "SYN_RESEND_SLACK",
    "AsyncPool",
    "SyncPool",
    "async_client",
    "failure_from",
    "send_async",
    "send_sync",
    "sync_client",
]

#: Extra seconds for connecting.  Linux resends an unanswered SYN 1 s after the first (then at
#: 3 s, 7 s): exactly when the default 1 s timeout ends.  IMDS drops packets over its rate limit,
#: so without this a single lost SYN fails a call that the resend would have saved.
SYN_RESEND_SLACK = 0.15
_POOL_LIMITS: dict[str, Any] = {
    "max_connections": 64,
    "max_keepalive_connections": 32,
    "keepalive_expiry": 30.0,
}
_USER_AGENT = f"imdsclient/{__version__}"
_HEADERS = {  # besides Host: what httpx.Client sends by default, made IMDS's
    "Accept": "*/*",
    # Bodies are returned byte for byte (user-data may itself be gzip); nothing to decode.
    "Accept-Encoding": "identity",
    "Connection": "keep-alive",
    "User-Agent": _USER_AGENT,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WITH_BODY = ("POST", "PUT", "PATCH")  # a request of these always says how long its body is


def sync_client(base_url: str, timeout: float, transport: object = None) -> SyncPool:
    """A keep-alive pool for one endpoint; ``transport`` (httpx) replaces the network."""
    return SyncPool(_Endpoint(base_url, timeout), transport)


def async_client(base_url: str, timeout: float, transport: object = None) -> AsyncPool:
    """The async twin of :func:`sync_client`."""
    return AsyncPool(_Endpoint(base_url, timeout), transport)


def failure_from(exc: Exception) -> Failure:
    """Map a transport error, httpcore's or httpx's (named alike), to the most specific kind."""
    if isinstance(exc, _errors("ConnectTimeout")):
        kind = FailureKind.CONNECT_TIMEOUT
    elif isinstance(exc, _errors("TimeoutException")):
        kind = FailureKind.READ_TIMEOUT
    elif isinstance(exc, _errors("ConnectError")):
        kind = FailureKind.CONNECT
    else:  # RemoteProtocolError, ReadError, WriteError, ...
        kind = FailureKind.DROPPED
    return Failure(kind, type(exc).__name__)


#: What httpcore raises when an exchange fails below HTTP (httpx's classes of the same names,
#: subclasses of ``httpx.TransportError``, are their twins).
_TRANSPORT_ERRORS = (
    "TimeoutException",
    "NetworkError",
    "ProtocolError",
    "UnsupportedProtocol",
    "ProxyError",
)


def _errors(*names: str) -> tuple[type[Exception], ...]:
    """httpcore's exception classes ``names``, and httpx's when httpx is loaded: a caller's
    transport (or ``respx``, from inside httpcore's pool) raises httpx's.  Never imports httpx:
    without it, nothing can raise its exceptions."""
    libraries = [httpcore, sys.modules["httpx"]] if "httpx" in sys.modules else [httpcore]
    return tuple(getattr(library, name) for library in libraries for name in names)


# -- what every request to one endpoint shares -----------------------------------------------


class _Endpoint:
    """One endpoint's URL parts, headers and timeouts, built once as the bytes httpcore takes.

    ``base_url`` is ``scheme://host[:port]`` as the configuration validated it (ASCII, no
    path); a default port is dropped, as httpx does, so the ``Host`` header is the same.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        scheme, _, netloc = base_url.partition("://")
        host, port = _split_netloc(netloc.lower())
        if port == _DEFAULT_PORTS.get(scheme):
            port = None
        self.base_url = base_url
        self.timeout = timeout
        self.scheme, self.host, self.port = scheme.encode(), host.encode(), port
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port is None else f"{shown}:{port}"
        self.headers = [(b"Host", host_header.encode())]
        self.headers += [(k.encode(), v.encode()) for k, v in _HEADERS.items()]
        #: httpcore's timeouts; connecting also gets the slack a resent SYN needs.
        self.timeouts: dict[str, float | None] = {
            "connect": timeout + SYN_RESEND_SLACK,
            "read": timeout,
            "write": timeout,
            "pool": None,
        }

    def request(self, request: Request) -> httpcore.Request:
        """``request`` as httpcore's, with the headers httpx would send for it."""
        headers = self.headers + [(k.encode(), v.encode()) for k, v in request.headers.items()]
        if request.method in _WITH_BODY:
            headers.insert(1, (b"Content-Length", b"0"))
        url = httpcore.URL(
            scheme=self.scheme, host=self.host, port=self.port, target=request.path.encode()
        )
        timeouts = self.timeouts_for(request)
        return httpcore.Request(
            request.method, url, headers=headers, extensions={"timeout": timeouts}
        )

    def timeouts_for(self, request: Request) -> dict[str, float | None]:
        """The client's timeouts, or the request's own connect timeout (the second attempt of
        a first contact waits half as long for its connection)."""
        if request.connect_timeout is None:
            return self.timeouts
        return {**self.timeouts, "connect": request.connect_timeout}

    def httpx_options(self, transport: object, kind: type) -> dict[str, Any]:
        """The settings of an httpx client over the caller's ``transport``, which must be a
        ``kind``; a usage error before anything is sent otherwise."""
        import httpx

        if not isinstance(transport, kind):
            raise TypeError(f"the client needs an httpx.{kind.__name__}, not {transport!r}")
        return {
            "transport": transport,
            "base_url": self.base_url,
            "headers": _HEADERS,
            "timeout": httpx.Timeout(**self.timeouts),
            "trust_env": False,  # never a proxy: none can reach a link-local address
            "follow_redirects": False,
        }

    def httpx_request(
        self, client: httpx.Client | httpx.AsyncClient, request: Request
    ) -> httpx.Request:
        """``request`` for the httpx client over a caller's transport."""
        import httpx

        timeout = httpx.Timeout(**self.timeouts_for(request))
        headers = dict(request.headers)
        return client.build_request(request.method, request.path, headers=headers, timeout=timeout)


def _split_netloc(netloc: str) -> tuple[str, int | None]:
    """``host[:port]`` or ``[v6][:port]`` into the host (no brackets) and the port."""
    if netloc.startswith("["):
        end = netloc.index("]")
        host, rest = netloc[1:end], netloc[end + 1 :]
    else:
        host, colon, port = netloc.partition(":")
        rest = colon + port
    return host, int(rest[1:]) if rest else None


# -- one exchange ---------------------------------------------------------------------------


#: What opening an exchange gives: status, headers, the body's chunks, and how to end it.
_Opened = tuple[int, list[tuple[bytes, bytes]], Any, Any]


class SyncPool:
    """The connections of an ``IMDSClient`` to one endpoint: httpcore's pool on guarded network
    streams, or an ``httpx.Client`` over the caller's transport."""

    def __init__(self, endpoint: _Endpoint, transport: object = None) -> None:
        self.endpoint = endpoint
        self._closed = False
        self._streams = _Streams()
        self._pool: httpcore.ConnectionPool | None = None
        self._http: httpx.Client | None = None
        if transport is not None:
            import httpx

            self._http = httpx.Client(**endpoint.httpx_options(transport, httpx.BaseTransport))
        else:
            backend = _SyncBackend(self._streams)
            self._pool = httpcore.ConnectionPool(network_backend=backend, **_POOL_LIMITS)

    @property
    def closed(self) -> bool:
        return self._closed or (self._http is not None and self._http.is_closed)

    def open(self, request: Request) -> _Opened:
        """Send ``request``: the answer's status and headers, its body still to read."""
        if self._pool is not None:
            answer = self._pool.handle_request(self.endpoint.request(request))
            return answer.status, answer.headers, answer.iter_stream(), answer.close
        assert self._http is not None
        response = self._http.send(self.endpoint.httpx_request(self._http, request), stream=True)
        # An in-memory answer (MockTransport) is read already.
        chunks = [response.content] if response.is_stream_consumed else response.iter_raw()
        return response.status_code, response.headers.raw, chunks, response.close

    def close(self) -> None:
        self._closed = True
        if self._http is not None:
            self._http.close()
        left = self._streams.close()
        if self._pool is not None:
            self._pool.close()
        for stream in left:
            stream.abort()

    def __enter__(self) -> SyncPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncPool:
    """The async twin of :class:`SyncPool`, for an ``AsyncIMDSClient``."""

    def __init__(self, endpoint: _Endpoint, transport: object = None) -> None:
        self.endpoint = endpoint
        self._closed = False
        self._streams = _Streams()
        self._pool: httpcore.AsyncConnectionPool | None = None
        #: plain http://: a stack of idle connections (httpcore's pool serves https://, and
        #: requests while ``respx.mock`` patches that pool, so that the mock sees them).
        self._connections: AsyncConnections | None = None
        self._http: httpx.AsyncClient | None = None
        if transport is not None:
            import httpx

            options = endpoint.httpx_options(transport, httpx.AsyncBaseTransport)
            self._http = httpx.AsyncClient(**options)
        else:
            backend = _AsyncBackend(self._streams)
            self._pool = httpcore.AsyncConnectionPool(network_backend=backend, **_POOL_LIMITS)
            if endpoint.scheme == b"http":
                self._connections = AsyncConnections(
                    backend,
                    max_idle=_POOL_LIMITS["max_keepalive_connections"],
                    keepalive_expiry=_POOL_LIMITS["keepalive_expiry"],
                )

    @property
    def closed(self) -> bool:
        return self._closed or (self._http is not None and self._http.is_closed)

    async def open(self, request: Request) -> _Opened:
        """Send ``request``: the answer's status and headers, its body still to read."""
        if self._pool is not None:
            chosen: AsyncConnections | httpcore.AsyncConnectionPool = self._pool
            if self._connections is not None and not _async_pool_patched():
                chosen = self._connections
            answer = await chosen.handle_async_request(self.endpoint.request(request))
            return answer.status, answer.headers, answer.aiter_stream(), answer.aclose
        assert self._http is not None
        sent = self.endpoint.httpx_request(self._http, request)
        response = await self._http.send(sent, stream=True)
        if response.is_stream_consumed:  # an in-memory answer (MockTransport) is read already
            chunks: Any = _one(response.content)
        else:
            chunks = response.aiter_raw()
        return response.status_code, response.headers.raw, chunks, response.aclose

    async def aclose(self) -> None:
        self._closed = True
        if self._http is not None:
            await self._http.aclose()
        left = self._streams.close()
        if self._connections is not None:
            await self._connections.aclose()
        if self._pool is not None:
            await self._pool.aclose()
        for stream in left:
            await stream.aclose()


def _async_pool_patched() -> bool:
    """Whether ``respx.mock`` (or the like) has replaced httpcore's async pool's
    ``handle_async_request``: then requests go through that pool, where the mock sees them."""
    method = vars(httpcore.AsyncConnectionPool)["handle_async_request"]
    return getattr(method, "__qualname__", "") != "AsyncConnectionPool.handle_async_request"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Body:
    """Collects one answer's body under the size cap; shared by both senders."""

    __slots__ = ("chunks", "headers", "size", "status", "too_large")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status, self.headers = status, headers
        self.chunks: list[bytes] = []
        self.size = 0
        length = next((v for k, v in headers if k.lower() == b"content-length"), b"")
        # ASCII digits only (bytes.isdigit): a declared length over the cap is not read at all.
        self.too_large = length.isdigit() and int(length) > MAX_BODY_BYTES

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
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.headers}
        return Response(self.status, headers, b"".join(self.chunks))


class _Exchange:
    """Around one exchange: its deadline, and every way it can fail turned into a Failure.

    A transport error becomes ``result``.  httpx raises ``RuntimeError`` for a request sent
    through a closed client: closed by another thread or task while this call was in flight
    (a call *started* after ``close()`` never gets here).
    """

    __slots__ = ("_token", "pool", "result")

    def __init__(self, pool: SyncPool | AsyncPool) -> None:
        self.pool = pool
        self.result: Result | None = None

    def __enter__(self) -> _Exchange:
        # The whole attempt: the timeout, and the slack that lets a resent SYN land (connect).
        attempt = _Attempt(self.pool.endpoint.timeout + SYN_RESEND_SLACK)
        self._token = _ATTEMPT.set(attempt)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        _ATTEMPT.reset(self._token)
        if exc is None:
            return False
        if isinstance(exc, _errors(*_TRANSPORT_ERRORS)):
            self.result = _CLOSED if self.pool.closed else failure_from(exc)
            return True
        if isinstance(exc, RuntimeError) and self.pool.closed:
            self.result = _CLOSED
            return True
        return False


_CLOSED = Failure(FailureKind.CLOSED, "closed by another thread or task")


def send_sync(pool: SyncPool | None, request: Request) -> Result:
    """One exchange, never raising for transport trouble.  ``pool`` is ``None`` when the
    shell's client was closed between two requests of a call in flight."""
    if pool is None or pool.closed:
        return _CLOSED
    with _Exchange(pool) as exchange:
        status, headers, chunks, done = pool.open(request)
        try:
            body = _Body(status, headers)
            if not body.too_large:
                for chunk in chunks:
                    if body.add(chunk):
                        break
            exchange.result = body.result()
        finally:
            done()
    assert exchange.result is not None
    return exchange.result


async def send_async(pool: AsyncPool | None, request: Request) -> Result:
    """The async twin of :func:`send_sync`."""
    if pool is None or pool.closed:
        return _CLOSED
    with _Exchange(pool) as exchange:
        status, headers, chunks, done = await pool.open(request)
        try:
            body = _Body(status, headers)
            if not body.too_large:
                async for chunk in chunks:
                    if body.add(chunk):
                        break
            exchange.result = body.result()
        finally:
            await done()
    assert exchange.result is not None
    return exchange.result


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
