"""``AsyncIMDSClient``: the asyncio shell.  It carries out the effects of the flows and holds
the I/O (the connection pool, the token lock, bounded concurrency); every decision is in the
core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import AsyncIterator, Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar

from imdsclient._base import ClientBase
from imdsclient._flow import (
    Abandoned,
    Effect,
    Emit,
    Fanout,
    Flow,
    Gather,
    Hook,
    Locked,
    Run,
    Send,
    Sleep,
    drive,
)
from imdsclient._methods import AsyncMethods
from imdsclient._transport import AsyncPool, async_client, send_async

__all__ = ["AsyncIMDSClient"]

#: At most this many requests of one ``Gather`` (e.g. ``dump``) are in flight at once.
GATHER_CONCURRENCY = 8
#: At most this many requests of one client's tasks are in flight at once; the others wait their
#: turn here (in order), not in httpcore's pool, whose every hand-over scans all its waiters
#: against all its connections: 1000 requests queued there took 24 s, not 2 (#15).  Below the
#: pool's 32 keep-alive connections, so no connection is closed as surplus and reopened.  On
#: ``http://`` the requests of gathering threads count against the same bound
#: (``_transport.SENDING_THREADS``, :meth:`AsyncPool.send_here`).
MAX_IN_FLIGHT = 16

#: How often a gathering thread waiting for the event loop checks that the loop still exists.
LOOP_CHECK_SECONDS = 0.5

T = TypeVar("T")


def _on_loop(step: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> T:
    """``step`` run on ``loop`` for a gathering thread, which waits for its result; a closed loop
    (the program ended its ``asyncio.run`` meanwhile) raises RuntimeError instead of hanging."""
    try:
        future = asyncio.run_coroutine_threadsafe(step, loop)
    except RuntimeError:  # closed already
        step.close()
        raise
    while True:
        try:
            return future.result(timeout=LOOP_CHECK_SECONDS)
        except concurrent.futures.TimeoutError:
            if loop.is_closed():
                future.cancel()
                step.close()  # never to run: not left "never awaited"
                raise RuntimeError("the event loop closed before it answered") from None


class AsyncIMDSClient(AsyncMethods, ClientBase):
    """The asyncio twin of ``IMDSClient``: task-safe, same methods, awaitable.

    Settings come from keyword arguments, then ``config``, then the environment and
    ``~/.aws/config``; see ``__init__`` for each keyword.
    """

    def _open(self) -> None:
        self._lock: asyncio.Lock | None = None  # made in the running loop (Python 3.9 binds early)
        self._sending: asyncio.Semaphore | None = None  # MAX_IN_FLIGHT, also made in the loop
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None  # bound at the first call
        self._http: AsyncPool | None = async_client(
            self.config.base_url, self.config.timeout, self._transport
        )

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        http, self._http = self._http, None
        mine = self._loop in (None, asyncio.get_running_loop()) and self._pid == os.getpid()
        if http is not None and mine:  # a pool of another loop or process cannot be closed here
            await http.aclose()

    async def __aenter__(self) -> AsyncIMDSClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the effect interpreter ------------------------------------------------------------

    async def _run(self, flow: Flow[T]) -> T:
        """One public call.  A call made after ``aclose()`` is a usage error (RuntimeError); a
        call in flight when another task closes the client ends with an IMDSError."""
        if self._client() is None:
            raise RuntimeError("This AsyncIMDSClient is closed; create a new one.")
        return await self._drive(flow)

    async def _drive(self, flow: Flow[T]) -> T:
        """Drive a flow: carry out each effect and hand back its result (or its error)."""
        run = Run(flow)
        while (effect := run.effect()) is not None:
            try:
                run.answer(await self._carry_out(effect))
            except Exception as exc:  # handed to the flow, which may handle it
                run.fail(exc)
        return run.result

    async def _stream(self, flow: Flow[None]) -> AsyncIterator[Any]:
        """Drive a flow like ``_run``, handing the value of each ``Emit`` to the caller."""
        if self._client() is None:  # as for ``_run``: a stream started after close()
            flow.close()
            raise RuntimeError("This AsyncIMDSClient is closed; create a new one.")
        run = Run(flow)
        try:
            while (effect := run.effect()) is not None:
                if isinstance(effect, Emit):
                    run.answer(None)
                    yield effect.value
                    continue
                try:
                    run.answer(await self._carry_out(effect))
                except Exception as exc:  # handed to the flow, which may handle it
                    run.fail(exc)
        finally:
            flow.close()  # the caller stopped iterating: end the flow where it is

    async def _carry_out(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            self._client()  # in a new loop or a forked child, replace the semaphore first
            if self._sending is None:
                self._sending = asyncio.Semaphore(MAX_IN_FLIGHT)
            async with self._sending:  # the pool is looked up after the wait: closed meanwhile?
                return await send_async(self._client(), effect.request)
        if isinstance(effect, Sleep):
            return await self._session.clock.asleep(effect.seconds)
        if isinstance(effect, Hook):
            return effect.function(effect.value)
        if isinstance(effect, Locked):
            self._client()  # in a new loop or a forked child, replace the lock first
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                return await self._drive(effect.flow)
        if isinstance(effect, Gather):
            return await self._gather(effect.flows)
        raise TypeError(f"not an effect: {effect!r}")

    async def _gather(self, flows: Sequence[Flow[Any]]) -> list[Any]:
        """Run the flows eight at a time (a 1000-leaf ``dump`` makes 8 workers, not 1000), on the
        gathering threads when requests go over the socket exchange, else on worker tasks;
        after a failure none starts another request, those in flight finish, and the first
        failure is raised (nothing is sent after the call)."""
        fan = Fanout(flows)
        width = min(GATHER_CONCURRENCY, len(flows))
        pool = self._client()
        threads = pool.gathering() if pool is not None else None
        if pool is None or threads is None:
            await asyncio.gather(*(self._work(fan) for _ in range(width)), return_exceptions=True)
            return fan.outcome()
        loop = asyncio.get_running_loop()

        def start() -> asyncio.Future[None]:
            return loop.run_in_executor(threads, self._work_here, fan, pool, loop)

        try:
            await asyncio.gather(*(start() for _ in range(width)))
        except (
            asyncio.CancelledError
        ) as cancelled:  # returns now; the flows stop at their next effect
            fan.failed.append(cancelled)
            raise
        return fan.outcome()

    async def _work(self, fan: Fanout) -> None:
        """A worker task of a ``Gather``: its flows run on the event loop."""
        while (taken := fan.take()) is not None:
            index, flow = taken
            try:
                fan.results[index] = await self._drive(flow)
            except Abandoned:
                return
            except BaseException as exc:
                fan.failed.append(exc)
                raise

    def _work_here(self, fan: Fanout, pool: AsyncPool, loop: asyncio.AbstractEventLoop) -> None:
        """A worker of a ``Gather`` on a gathering thread: it drives its flows itself, carrying
        their requests out on this thread and one nested ``Gather``'s flows one after another;
        sleeps, hooks and the token lock are the event loop's (``_carry_out``, as for any
        flow)."""

        def carry_out(effect: Effect) -> Any:
            if isinstance(effect, Send):
                return pool.send_here(effect.request)
            if isinstance(effect, Gather):
                return [drive(flow, carry_out) for flow in effect.flows]
            return _on_loop(self._carry_out(effect), loop)

        fan.work(lambda flow: drive(flow, carry_out))

    def _client(self) -> AsyncPool | None:
        """The connection pool (``None`` once closed), rebuilt for a new event loop (a second
        ``asyncio.run``) or in a forked child: connections, the lock and the semaphore belong to
        one loop of one process."""
        loop = asyncio.get_running_loop()
        if self._http is not None and (self._loop is not loop or self._pid != os.getpid()):
            if self._loop is not None:  # the old pool's loop is gone or not ours: drop it
                self._http = async_client(
                    self.config.base_url, self.config.timeout, self._transport
                )
            self._loop, self._pid = loop, os.getpid()
            self._lock = self._sending = None
        return self._http
