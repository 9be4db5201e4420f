"""Graceful shutdown: call a function, and set an event, when the instance is about to go away.

:func:`on_interruption` runs ``IMDSClient.watch()`` in a background thread and
:func:`async_on_interruption` runs ``AsyncIMDSClient.watch()`` in a task; both watch two sources
(the Spot notice and the Auto Scaling target lifecycle state, two GETs a poll) and stop at the
first :class:`Interruption`, which :func:`interruption_from` decides (pure, shared by both).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Literal

from imdsclient._clock import SystemClock
from imdsclient._watch import DEFAULT_INTERVAL, InstanceEvent, WatchStatus
from imdsclient.errors import IMDSError

if TYPE_CHECKING:
    from imdsclient._async_client import AsyncIMDSClient
    from imdsclient._client import IMDSClient

__all__ = [
    "DEFAULT_LIFECYCLE_GRACE",
    "AsyncInterruptionWatcher",
    "Interruption",
    "InterruptionWatcher",
    "async_on_interruption",
    "interruption_from",
    "on_interruption",
]

logger = logging.getLogger("imdsclient")

#: Seconds assumed between Auto Scaling's ``Terminated`` target state and the end: IMDS gives no
#: time, and without a termination lifecycle hook the instance goes at once.  Two minutes, as for
#: Spot; pass your hook's heartbeat timeout (``lifecycle_grace=``) if you have one.
DEFAULT_LIFECYCLE_GRACE = 120.0

#: The sources an interruption can come from: two GETs per poll.
_KINDS = ("spot-interruption", "lifecycle-state")


@dataclass(frozen=True)
class Interruption:
    """The instance is about to go away: why, by when, and the event that said so."""

    #: ``"spot-interruption"`` (any action: terminate, stop, hibernate) or ``"lifecycle-state"``
    #: (Auto Scaling's target lifecycle state became ``Terminated``).
    reason: Literal["spot-interruption", "lifecycle-state"]
    #: When the instance goes (UTC): the Spot notice's ``time``, or for Auto Scaling the poll's
    #: time plus ``lifecycle_grace``.
    deadline: datetime
    #: The event from ``watch()`` that announced it.
    event: InstanceEvent

    def seconds_left(self, now: datetime | None = None) -> float:
        """Seconds from ``now`` (default: the system clock) until ``deadline``; never negative."""
        moment = now if now is not None else datetime.now(timezone.utc)
        return max(0.0, (self.deadline - moment).total_seconds())


def interruption_from(event: InstanceEvent, lifecycle_grace: float) -> Interruption | None:
    """The interruption ``event`` announces, if it announces one."""
    if event.kind == "spot-interruption":
        return Interruption("spot-interruption", event.detail.time, event)  # type: ignore[union-attr]
    if event.kind == "lifecycle-state" and event.detail == "Terminated":
        deadline = event.seen_at + timedelta(seconds=lifecycle_grace)
        return Interruption("lifecycle-state", deadline, event)
    return None


class _Stopped(Exception):
    """Raised inside the watch to end it: ``stop()`` was called."""


class _StoppableClock(SystemClock):
    """The system clock, but a sleep ends (raising :class:`_Stopped`) as soon as stop is asked."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping

    def sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Stopped


class InterruptionWatcher:
    """A background thread watching for the instance going away; made by :func:`on_interruption`.

    ``interrupted`` is set, and then the callback called once, when an :class:`Interruption`
    arrives; the thread then ends.  ``error`` holds what ended it otherwise (the first poll
    could read nothing, or the callback raised).  ``status`` is the last poll's
    :class:`WatchStatus` (``status.blind`` lists the sources it cannot read).  Use it as a
    context manager, or call :meth:`stop`.
    """

    def __init__(
        self,
        callback: Callable[[Interruption], object] | None,
        client: IMDSClient | None,
        interval: float,
        lifecycle_grace: float,
    ) -> None:
        self.interrupted = threading.Event()
        self.interruption: Interruption | None = None
        self.error: Exception | None = None
        self.status: WatchStatus | None = None
        self._callback = callback
        self._grace = lifecycle_grace
        self._stopping = threading.Event()
        self._settled = threading.Condition()
        self._over = False  # interrupted, or the thread has ended: wait() returns
        self._owns_client = client is None
        if client is None:
            from imdsclient._client import IMDSClient

            client = IMDSClient(clock=_StoppableClock(self._stopping))
        self._client = client
        try:  # checked now, in the caller's thread: a bad interval is a ValueError here
            self._events = client.watch(interval=interval, kinds=_KINDS, on_poll=self._polled)
        except ValueError:
            if self._owns_client:
                client.close()
            raise
        self._thread = threading.Thread(target=self._main, name="imdsclient-on-interruption")
        self._thread.daemon = True
        self._thread.start()

    def _polled(self, status: WatchStatus) -> None:
        self.status = status
        if self._stopping.is_set():
            raise _Stopped

    def _main(self) -> None:
        try:
            found = self._watch()
        finally:
            self._events.close()  # type: ignore[attr-defined]  # no request after this
            if self._owns_client:
                self._client.close()
            self._settle()
        if found is not None and self._callback is not None:
            try:
                self._callback(found)
            except Exception as exc:
                self.error = exc
                logger.exception("on_interruption: the callback raised")

    def _watch(self) -> Interruption | None:
        try:
            for event in self._events:
                found = interruption_from(event, self._grace)
                if found is not None:
                    self.interruption = found
                    self.interrupted.set()
                    return found
        except _Stopped:
            pass
        except IMDSError as exc:  # the first poll could read nothing
            self.error = exc
            logger.error("on_interruption: watching stopped: %s", exc)
        except Exception as exc:  # e.g. your client was closed
            self.error = exc
            logger.exception("on_interruption: watching stopped")
        return None

    def _settle(self) -> None:
        with self._settled:
            self._over = True
            self._settled.notify_all()

    def wait(self, timeout: float | None = None) -> Interruption | None:
        """Block until the interruption arrives, the watcher ends without one, or ``timeout``
        seconds pass; the interruption, or ``None``."""
        with self._settled:
            self._settled.wait_for(lambda: self._over, timeout)
        return self.interruption

    @property
    def running(self) -> bool:
        """Whether the thread is still watching (or running the callback)."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching and wait for the thread to end (at most ``timeout`` seconds).

        With a client of its own the thread ends at once; with yours, at its next poll.
        Called from the callback itself, it only asks.
        """
        self._stopping.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self) -> InterruptionWatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def on_interruption(
    callback: Callable[[Interruption], object] | None = None,
    *,
    client: IMDSClient | None = None,
    interval: float = DEFAULT_INTERVAL,
    lifecycle_grace: float = DEFAULT_LIFECYCLE_GRACE,
) -> InterruptionWatcher:
    """Call ``callback`` (from a background thread) once, when the instance is about to go away.

    Watches the Spot notice and the Auto Scaling target lifecycle state every ``interval``
    seconds with ``client`` (default: a new ``IMDSClient()`` from the environment, closed when
    done).  A Spot interruption (terminate, stop or hibernate) gives the notice's ``time`` as the
    deadline; a ``Terminated`` lifecycle state gives the poll's time plus ``lifecycle_grace``
    seconds (default 120; set it to your termination lifecycle hook's heartbeat timeout).  The
    watcher's ``interrupted`` event is set before the callback runs.
    """
    return InterruptionWatcher(callback, client, interval, _grace(lifecycle_grace))


class AsyncInterruptionWatcher:
    """The asyncio twin of :class:`InterruptionWatcher`: a task, made by
    :func:`async_on_interruption`; ``interrupted`` is an ``asyncio.Event``."""

    def __init__(
        self,
        callback: Callable[[Interruption], Any] | None,
        client: AsyncIMDSClient | None,
        interval: float,
        lifecycle_grace: float,
    ) -> None:
        loop = asyncio.get_running_loop()  # RuntimeError outside async code, before any work
        self.interrupted = asyncio.Event()
        self.interruption: Interruption | None = None
        self.error: Exception | None = None
        self.status: WatchStatus | None = None
        self._callback = callback
        self._grace = lifecycle_grace
        self._owns_client = client is None
        if client is None:
            from imdsclient._async_client import AsyncIMDSClient

            client = AsyncIMDSClient()
        self._client = client
        self._events = client.watch(interval=interval, kinds=_KINDS, on_poll=self._polled)
        self._task = loop.create_task(self._main())

    def _polled(self, status: WatchStatus) -> None:
        self.status = status

    async def _main(self) -> None:
        try:
            found = await self._watch()
        finally:
            await self._events.aclose()  # type: ignore[attr-defined]  # no request after this
            if self._owns_client:
                await self._client.aclose()
        if found is not None and self._callback is not None:
            try:
                result = self._callback(found)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self.error = exc
                logger.exception("async_on_interruption: the callback raised")

    async def _watch(self) -> Interruption | None:
        try:
            async for event in self._events:
                found = interruption_from(event, self._grace)
                if found is not None:
                    self.interruption = found
                    self.interrupted.set()
                    return found
        except IMDSError as exc:  # the first poll could read nothing
            self.error = exc
            logger.error("async_on_interruption: watching stopped: %s", exc)
        except Exception as exc:  # e.g. your client was closed
            self.error = exc
            logger.exception("async_on_interruption: watching stopped")
        return None

    async def wait(self) -> Interruption | None:
        """Wait until the interruption arrives, or the watcher ends without one."""
        waiter = asyncio.ensure_future(self.interrupted.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return self.interruption

    @property
    def running(self) -> bool:
        """Whether the task is still watching (or running the callback)."""
        return not self._task.done()

    async def stop(self) -> None:
        """Stop watching (at once) and wait for the task to end; a callback already running
        is left to finish, as in the thread version."""
        if asyncio.current_task() is self._task:
            raise RuntimeError("stop() called from the callback: return from it instead")
        if not self.interrupted.is_set():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def __aenter__(self) -> AsyncInterruptionWatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def async_on_interruption(
    callback: Callable[[Interruption], Any] | None = None,
    *,
    client: AsyncIMDSClient | None = None,
    interval: float = DEFAULT_INTERVAL,
    lifecycle_grace: float = DEFAULT_LIFECYCLE_GRACE,
) -> AsyncInterruptionWatcher:
    """:func:`on_interruption` for asyncio: call from async code; the watch runs in a task.

    ``callback`` may be a plain function or a coroutine function (it is awaited).
    """
    return AsyncInterruptionWatcher(callback, client, interval, _grace(lifecycle_grace))


def _grace(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise ValueError(
            f"lifecycle_grace must be a number of seconds of at least 0, not {seconds!r}"
        )
    return float(seconds)
