"""The one place that does HTTP: a connection pool per endpoint, and exchanges turned into results.

The URL parts, the headers and the timeouts are built once per client, and an answer is read
into a :class:`~imdsclient._protocol.Response` without any ``httpx.Request`` or
``httpx.Response`` in between.  IMDS needs none of httpx's client layers (URL merging, cookies,
auth, redirects, proxies); skipping them is most of a warm ``get``'s cost (#15).  Under each
pool (:class:`SyncPool`, :class:`AsyncPool`) one of three carries the bytes:

- the sync client, ``http://`` endpoint: imdsclient's own HTTP/1.1 exchange over a blocking
  socket (:mod:`imdsclient._socket`), so a one-shot CLI ``get`` never imports httpcore, h11,
  anyio or ssl;
- the async client, and the sync client on ``https://``: httpcore's connection pool (HTTP/1.1
  over h11) on guarded network streams (:mod:`imdsclient._core_pool`);
- a caller's ``transport=``: an httpx client over it.

Connections
are always direct (a proxy can never reach a link-local address), redirects are never
followed, and at most ``MAX_BODY_BYTES`` are read.  Transport errors become
:class:`~imdsclient._protocol.Failure` values here, so the protocol rules decide what they mean.

A ``transport=`` given by the caller (an httpx ``BaseTransport``/``AsyncBaseTransport``, such as
``httpx.MockTransport``) is sent through an ``httpx.Client``/``AsyncClient`` built with the same
settings, as it is; httpx is imported only then.  ``respx.mock`` still sees every request of the
network pool: it patches httpcore's ``ConnectionPool.handle_request``, and while it does the
sync client sends through httpcore's pool instead of its socket exchange.

Two more guarantees hold whatever the server does, on the network pools built here:

- **A total deadline per attempt.**  Socket timeouts are per operation, so a server that drips
  one byte (or one ``102`` interim answer) every half second never trips them.  Here every
  connect, write and read is given at most what is left of the attempt's ``timeout``, counted
  from its first network operation: connecting, sending and the whole answer end within
  ``timeout`` together.
- **No reuse of a connection whose answer did not end where it said.**  Bytes after a
  ``Content-Length`` body would become the answer to the next request (h11 keeps them for the
  next cycle).  Each connection frames its answers itself and is reused only after an answer
  that had one ``Content-Length`` and ended exactly there.

On httpcore's streams both are :class:`_Wire`, one per connection; the socket exchange frames
answers itself, with the same rules (:func:`_limit`, :func:`_content_length`).
"""

from __future__ import annotations

import contextvars
import re
import select
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from imdsclient._protocol import MAX_BODY_BYTES, Failure, FailureKind, Request, Response, Result
from imdsclient._version import __version__

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from imdsclient._core_pool import AsyncCore, SyncCore
    from imdsclient._socket import SocketPool

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
    """Map a transport error, the socket exchange's, httpcore's or httpx's (named alike), to the
    most specific kind."""
    if isinstance(exc, WireError):
        kind = exc.kind
    elif isinstance(exc, _errors("ConnectTimeout")):
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
    """httpcore's and httpx's exception classes ``names``, of those loaded: a caller's transport
    (or ``respx``, from inside httpcore's pool) raises httpx's.  Never imports either: without
    it, nothing can raise its exceptions."""
    libraries = [sys.modules.get(name) for name in ("httpcore", "httpx")]
    return tuple(getattr(lib, name) for lib in libraries if lib is not None for name in names)


class WireError(Exception):
    """A failure of the socket exchange (:mod:`imdsclient._socket`); the subclasses are named
    as httpcore's errors are, so a Failure's detail reads the same whichever pool sent."""

    kind = FailureKind.DROPPED


class ConnectTimeout(WireError):
    kind = FailureKind.CONNECT_TIMEOUT


class ConnectError(WireError):
    kind = FailureKind.CONNECT


class ReadTimeout(WireError):
    kind = FailureKind.READ_TIMEOUT


class WriteTimeout(WireError):
    kind = FailureKind.READ_TIMEOUT


class ReadError(WireError):
    pass


class WriteError(WireError):
    pass


class RemoteProtocolError(WireError):
    pass


class LocalProtocolError(WireError):
    pass


# -- what every request to one endpoint shares -----------------------------------------------


class _Endpoint:
    """One endpoint's URL parts, headers and timeouts, built once as bytes.

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
        #: The timeouts (httpcore's names); connecting also gets the slack a resent SYN needs.
        self.timeouts: dict[str, float | None] = {
            "connect": timeout + SYN_RESEND_SLACK,
            "read": timeout,
            "write": timeout,
            "pool": None,
        }

    def request_headers(self, request: Request) -> list[tuple[bytes, bytes]]:
        """The headers httpx would send for ``request``, in its order."""
        headers = self.headers + [(k.encode(), v.encode()) for k, v in request.headers.items()]
        if request.method in _WITH_BODY:
            headers.insert(1, (b"Content-Length", b"0"))
        return headers

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
    """The connections of an ``IMDSClient`` to one endpoint: the socket exchange (``http://``),
    httpcore's pool (``https://``, or while ``respx.mock`` patches it), or an ``httpx.Client``
    over the caller's transport."""

    def __init__(self, endpoint: _Endpoint, transport: object = None) -> None:
        self.endpoint = endpoint
        self._closed = False
        self._sockets: SocketPool | None = None
        self._core: SyncCore | None = None
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        if transport is not None:
            import httpx

            self._http = httpx.Client(**endpoint.httpx_options(transport, httpx.BaseTransport))
        elif endpoint.scheme == b"http":
            from imdsclient._socket import SocketPool

            self._sockets = SocketPool(endpoint)

    @property
    def closed(self) -> bool:
        return self._closed or (self._http is not None and self._http.is_closed)

    def open(self, request: Request) -> _Opened:
        """Send ``request``: the answer's status and headers, its body still to read."""
        if self._sockets is not None and not _httpcore_mocked():
            return self._sockets.open(request)
        if self._http is None:
            return self._httpcore().open(request)
        response = self._http.send(self.endpoint.httpx_request(self._http, request), stream=True)
        # An in-memory answer (MockTransport) is read already.
        chunks = [response.content] if response.is_stream_consumed else response.iter_raw()
        return response.status_code, response.headers.raw, chunks, response.close

    def _httpcore(self) -> SyncCore:
        """httpcore's pool, built on first use (imports httpcore)."""
        with self._lock:
            if self._core is None:
                from imdsclient._core_pool import SyncCore

                self._core = SyncCore(self.endpoint)
            if self._closed:
                self._core.close()
            return self._core

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if self._http is not None:
            self._http.close()
        if self._sockets is not None:
            self._sockets.close()
        if self._core is not None:
            self._core.close()

    def __enter__(self) -> SyncPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _httpcore_mocked(pool: str = "ConnectionPool", method: str = "handle_request") -> bool:
    """Whether ``respx.mock`` (or the like) has replaced httpcore's ``pool.method``: then
    requests go through httpcore's pool, where the mock intercepts them.  Never imports
    httpcore: unloaded, it cannot have been patched."""
    core = sys.modules.get("httpcore")
    if core is None:
        return False
    found = vars(getattr(core, pool))[method]
    return getattr(found, "__qualname__", None) != f"{pool}.{method}"


def _readable(sock: Any) -> bool:
    """Whether data (or the server's hang-up) waits on an idle connection's socket: httpcore's
    own test.  A socket already closed counts as readable (the next read would return b"")."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


#: Threads an ``AsyncIMDSClient`` carries its ``http://`` requests out on; at most this many of
#: its requests are in flight at once, on these threads and the gathering ones together.
SENDING_THREADS = 16
#: Threads the flows of an ``AsyncIMDSClient``'s ``Gather`` (a crawl's level) run on, each
#: driving one flow at a time to its end with no hop to the event loop per request.
GATHERING_THREADS = 8


class AsyncPool:
    """The async twin of :class:`SyncPool`, for an ``AsyncIMDSClient``.

    For ``http://`` it carries each exchange out on a few threads over the sync client's socket
    exchange: a request costs a third of what asyncio, anyio and h11 make it cost, so 1000
    tasks, or a crawl eight at a time, finish sooner than on the event loop (#15,
    docs/performance.md).  A ``Gather``'s flows run on threads of their own
    (:meth:`gathering`), which carry their requests out themselves (:meth:`send_here`).
    httpcore's async pool serves ``https://`` and requests while ``respx.mock`` patches it; an
    ``httpx.AsyncClient`` the caller's transport.
    """

    def __init__(self, endpoint: _Endpoint, transport: object = None) -> None:
        self.endpoint = endpoint
        self._closed = False
        self._core: AsyncCore | None = None
        self._http: httpx.AsyncClient | None = None
        self._sync: SyncPool | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._gathering: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(SENDING_THREADS)
        if transport is not None:
            import httpx

            options = endpoint.httpx_options(transport, httpx.AsyncBaseTransport)
            self._http = httpx.AsyncClient(**options)
        else:
            from imdsclient._core_pool import AsyncCore

            self._core = AsyncCore(endpoint)
            if endpoint.scheme == b"http":
                from concurrent.futures import ThreadPoolExecutor

                self._sync = SyncPool(endpoint)
                self._threads = ThreadPoolExecutor(SENDING_THREADS, "imdsclient-send")
                self._gathering = ThreadPoolExecutor(GATHERING_THREADS, "imdsclient-gather")

    def on_threads(self) -> ThreadPoolExecutor | None:
        """The threads requests are carried out on (:meth:`send_here`), unless ``respx.mock``
        patches httpcore's async pool (then the request goes there, where the mock sees it)."""
        if self._sync is None or self._threads is None:
            return None
        if _httpcore_mocked("AsyncConnectionPool", "handle_async_request"):
            return None
        return self._threads

    def gathering(self) -> ThreadPoolExecutor | None:
        """The threads a ``Gather``'s flows run on, when requests are carried out on threads."""
        return self._gathering if self.on_threads() is not None else None

    def send_here(self, request: Request) -> Result:
        """One exchange over the socket exchange, on the calling thread (a sending or a gathering
        one); at most ``SENDING_THREADS`` at once, whichever threads they are on."""
        with self._slots:
            return send_sync(self._sync, request)

    @property
    def closed(self) -> bool:
        return self._closed or (self._http is not None and self._http.is_closed)

    async def open(self, request: Request) -> _Opened:
        """Send ``request``: the answer's status and headers, its body still to read."""
        if self._core is not None:
            return await self._core.open(request)
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
        if self._sync is not None:
            self._sync.close()  # requests in flight on the threads end as CLOSED
        threads = [pool for pool in (self._threads, self._gathering) if pool is not None]
        if threads:
            # Their requests were just ended: wait for the threads to finish them, off the loop
            # (one still connecting can take its connect timeout; a gathering thread may wait
            # for the loop, which keeps running meanwhile).
            import asyncio

            def shutdown() -> None:
                for pool in threads:
                    pool.shutdown()

            await asyncio.get_running_loop().run_in_executor(None, shutdown)
        if self._core is not None:
            await self._core.aclose()


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
        if isinstance(exc, Exception) and isinstance(
            exc, (WireError, *_errors(*_TRANSPORT_ERRORS))
        ):
            self.result = _CLOSED if self.pool.closed else failure_from(exc)
            return True
        if isinstance(exc, RuntimeError) and self.pool.closed:
            self.result = _CLOSED
            return True
        return False


_CLOSED = Failure(FailureKind.CLOSED, "closed by another thread or task")
#: Why a pool refuses a connection opened while it was being closed (then mapped to _CLOSED).
_REFUSED = "the client was closed"


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
    threads = pool.on_threads()
    if threads is not None:
        import asyncio  # here: the sync client's path never loads it

        return await asyncio.get_running_loop().run_in_executor(threads, pool.send_here, request)
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
