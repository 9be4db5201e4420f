"""A clock for tests: sleeping advances time instantly and is recorded."""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """Implements ``imdsclient._clock.Clock``; ``sleep`` and ``asleep`` advance time and return.

    ``sleeps`` lists every delay asked for, so tests assert backoff like ``clock.sleeps == [...]``.
    """

    def __init__(self, start: float = 1_000.0, wall: float = 1_767_225_600.0) -> None:
        self._lock = threading.Lock()
        self._monotonic = start
        self._offset = wall - start  # wall time moves with monotonic time
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._monotonic + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._monotonic += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._monotonic += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
