"""httpcore's connection pools on guarded network streams: the async client's network, and the
sync client's for ``https://`` endpoints (and under ``respx.mock``, which patches httpcore).

Every stream carries a :class:`~imdsclient._transport._Wire` (is the connection reusable?) and
gives each operation at most what is left of the attempt (:func:`~imdsclient._transport._limit`).
Imported only when one of these pools is built: the sync client's ``http://`` requests go over
:mod:`imdsclient._socket` and never load httpcore, h11, anyio or ssl.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpcore

from imdsclient._protocol import Request
from imdsclient._transport import (
    _REFUSED,
    _Endpoint,
    _limit,
    _Opened,
    _readable,
    _Wire,
)

if TYPE_CHECKING:
    import ssl

_POOL_LIMITS: dict[str, Any] = {
    "max_connections": 64,
    "max_keepalive_connections": 32,
    "keepalive_expiry": 30.0,
}


def core_request(endpoint: _Endpoint, request: Request) -> httpcore.Request:
    """``request`` as httpcore's, with the headers httpx would send for it."""
    url = httpcore.URL(
        scheme=endpoint.scheme, host=endpoint.host, port=endpoint.port, target=request.path.encode()
    )
    timeouts = endpoint.timeouts_for(request)
    headers = endpoint.request_headers(request)
    return httpcore.Request(request.method, url, headers=headers, extensions={"timeout": timeouts})


class SyncCore:
    """httpcore's sync pool, its streams closed with it."""

    def __init__(self, endpoint: _Endpoint) -> None:
        self.endpoint = endpoint
        self._streams = _Streams()
        backend = _SyncBackend(self._streams)
        self._pool = httpcore.ConnectionPool(network_backend=backend, **_POOL_LIMITS)

    def open(self, request: Request) -> _Opened:
        answer = self._pool.handle_request(core_request(self.endpoint, request))
        return answer.status, answer.headers, answer.iter_stream(), answer.close

    def close(self) -> None:
        left = self._streams.close()
        self._pool.close()
        for stream in left:
            stream.abort()


class AsyncCore:
    """httpcore's async pool, its streams closed with it: the async client's network for
    ``https://``, and for ``http://`` while ``respx.mock`` patches the pool (otherwise its
    ``http://`` requests go over the socket exchange, on threads: ``_transport.AsyncPool``)."""

    def __init__(self, endpoint: _Endpoint) -> None:
        self.endpoint = endpoint
        self._streams = _Streams()
        backend = _AsyncBackend(self._streams)
        self._pool = httpcore.AsyncConnectionPool(network_backend=backend, **_POOL_LIMITS)

    async def open(self, request: Request) -> _Opened:
        answer = await self._pool.handle_async_request(core_request(self.endpoint, request))
        return answer.status, answer.headers, answer.aiter_stream(), answer.aclose

    async def aclose(self) -> None:
        left = self._streams.close()
        await self._pool.aclose()
        for stream in left:
            await stream.aclose()


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
