"""Keep-alive HTTP/1.1 connections of an ``AsyncIMDSClient`` to a plain-``http://`` endpoint.

httpcore's ``AsyncConnectionPool`` matches every waiting request against every connection at
each hand-over, and sends a request assigned to a connection that another request took first
around again: with a few dozen tasks sending at once that was about 40 % of a busy client's
time (#15).  The client already bounds its requests in flight (``MAX_IN_FLIGHT``), so a stack of
idle connections does the pool's job: take the most recent idle one, or connect; give it back
when its answer is closed, if it can serve another.  Each connection is httpcore's own HTTP/1.1
state machine on the guarded streams of :mod:`imdsclient._core_pool`, so the attempt's deadline
and the framing check hold exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpcore

__all__ = ["AsyncConnections"]


class AsyncConnections:
    """An origin's idle connections, at most ``max_idle``, each kept ``keepalive_expiry`` s."""

    def __init__(
        self, backend: httpcore.AsyncNetworkBackend, *, max_idle: int, keepalive_expiry: float
    ) -> None:
        self._backend = backend
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._idle: list[httpcore.AsyncHTTP11Connection] = []
        self._closed = False

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on an idle connection or a new one; the answer's body still to
        read (closing it gives the connection back)."""
        connection = await self._idle_connection()
        if connection is None:
            timeout = request.extensions.get("timeout", {}).get("connect")
            url = request.url
            stream = await self._backend.connect_tcp(
                url.host.decode("ascii"), url.port or 80, timeout=timeout
            )
            connection = httpcore.AsyncHTTP11Connection(
                url.origin, stream, keepalive_expiry=self._keepalive_expiry
            )
        answer = await connection.handle_async_request(request)  # closes itself on failure
        return httpcore.Response(
            answer.status,
            headers=answer.headers,
            content=_GivenBack(answer, connection, self),
            extensions=answer.extensions,
        )

    async def _idle_connection(self) -> httpcore.AsyncHTTP11Connection | None:
        """The most recently used idle connection that can still serve (expired or hung-up
        ones are closed on the way)."""
        while self._idle:
            connection = self._idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return None

    async def give_back(self, connection: httpcore.AsyncHTTP11Connection) -> None:
        """After an answer: keep the connection if it can serve another, else close it."""
        if connection.is_idle() and not self._closed and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        elif not connection.is_closed():
            await connection.aclose()

    async def aclose(self) -> None:
        """Close the idle connections; those in flight are closed by their streams' owner."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()


class _GivenBack:
    """An answer's body that gives its connection back to the pool when closed."""

    def __init__(
        self,
        answer: httpcore.Response,
        connection: httpcore.AsyncHTTP11Connection,
        pool: AsyncConnections,
    ) -> None:
        self._answer, self._connection, self._pool = answer, connection, pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._answer.aiter_stream():
            yield chunk

    async def aclose(self) -> None:
        await self._answer.aclose()
        await self._pool.give_back(self._connection)
