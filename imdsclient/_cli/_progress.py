"""A sign of life on stderr while retries run (a long ``dump`` under throttling can take a minute).

Only for a person at a terminal: ``_commands`` installs it as the client's ``on_retry`` hook when
stderr is a TTY and ``-v`` is off (``-v`` logs every retry already). Pipes and logs stay clean.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from imdsclient._retry import RetryEvent

__all__ = ["EVERY", "RetryProgress"]

#: Seconds between two progress lines (the first retry is shown at once).
EVERY = 5.0


class RetryProgress:
    """An ``on_retry`` hook: a line on the first retry, then at most one per ``every`` seconds."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        every: float = EVERY,
    ) -> None:
        self._write = write
        self._monotonic = monotonic
        self._every = every
        self._last: float | None = None
        self.retries = 0

    def __call__(self, event: RetryEvent) -> None:
        """Count the retry; say so if the last line is old enough."""
        self.retries += 1
        now = self._monotonic()
        if self._last is not None and now - self._last < self._every:
            return
        self._last = now
        why = f"IMDS is throttling ({event.cause})" if event.throttled else event.cause
        plural = "retry" if self.retries == 1 else "retries"
        self._write(f"imdsclient: {why}, retrying... ({self.retries} {plural} so far)")
