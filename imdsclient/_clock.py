"""The single seam for time: token expiry, backoff sleeps and credential expiry use it."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """What imdsclient needs from time; ``imdsclient.testing.FakeClock`` implements it for tests."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (token expiry, rate limits)."""

    def time(self) -> float:
        """Seconds since the epoch (credential expiry is wall-clock)."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread."""

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio  # here: sync programs never pay for importing asyncio

        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
