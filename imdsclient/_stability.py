"""Static stability for role credentials: what to hand out when IMDS gives nothing new.

Pure decisions against wall-clock times passed in (``Clock.time()``) and an injected
``random.Random``; :mod:`imdsclient.boto` keeps one :class:`StaticStability` per fetcher and does
the I/O.  The rules, also in ``docs/boto.md``:

* A refresh that fails while the last credentials are still valid serves them **unchanged**:
  an unexpired expiry is never moved (botocore moves it forward even for unexpired credentials).
* A refresh that fails after they expired serves them with the expiry **extended** to now plus a
  random 5-15 minutes, and IMDS is not asked again until that extension runs out.
* Extensions are **bounded**: none reaches past ``max_stale`` (1 h) after the real expiry; from
  then on the failure is reported.  Fresh credentials from IMDS end the episode.
* After an answer that brought nothing fresh (a failure, or credentials IMDS has not rotated yet
  although they are inside the refresh window), IMDS is asked again after a random 30-90 s at
  the earliest, so a busy process cannot hammer IMDS while botocore wants a refresh on every call.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["EXTENSION", "MAX_STALE", "RECHECK", "Serve", "StaticStability"]

#: An extension lasts a random number of seconds in this range.
EXTENSION = (5 * 60.0, 15 * 60.0)
#: No extension reaches further than this past the credentials' real expiry.
MAX_STALE = 60 * 60.0
#: After an answer with nothing fresh, wait this long (random, seconds) before asking again.
RECHECK = (30.0, 90.0)


@dataclass(frozen=True)
class Serve:
    """After a failed refresh: serve the last credentials with this expiry (epoch seconds)."""

    expires_at: float
    extended: bool


def _check_range(name: str, bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high, not {bounds!r}")
    return low, high


class StaticStability:
    """The static-stability state of one credential source; not thread-safe on its own."""

    def __init__(
        self,
        rng: random.Random,
        *,
        extension: tuple[float, float] = EXTENSION,
        max_stale: float = MAX_STALE,
        recheck: tuple[float, float] = RECHECK,
    ) -> None:
        if not (math.isfinite(max_stale) and max_stale >= 0):
            raise ValueError(f"max_stale must be a finite number of seconds >= 0, not {max_stale}")
        self._rng = rng
        self.extension = _check_range("extension", extension)
        self.max_stale = max_stale
        self.recheck = _check_range("recheck", recheck)
        self._expires_at: float | None = None  # real expiry of the last good credentials
        self._served_until: float | None = None  # the expiry last handed out
        self._hold_until = -math.inf  # IMDS is not asked before this
        #: Extensions granted since the last fresh credentials.
        self.extensions = 0

    @property
    def expires_at(self) -> float | None:
        """The real expiry of the last good credentials, if any."""
        return self._expires_at

    def succeeded(self, now: float, expires_at: float, refresh_window: float) -> None:
        """IMDS answered with credentials expiring at ``expires_at``: the episode is over.

        If they are already inside the refresh window, IMDS has not rotated them yet; asking again
        at once would bring the same ones, so the next question waits for a recheck delay.
        """
        self._expires_at = self._served_until = expires_at
        self.extensions = 0
        if expires_at - now < refresh_window:
            self._hold_until = min(now + self._rng.uniform(*self.recheck), expires_at)
        else:
            self._hold_until = -math.inf

    def held(self, now: float) -> float | None:
        """While IMDS should not be asked: the expiry to serve the last credentials with."""
        if self._served_until is not None and now < self._hold_until:
            return self._served_until
        return None

    def failed(self, now: float) -> Serve | None:
        """A refresh failed: what to serve, or ``None`` when the failure must be reported."""
        real = self._expires_at
        if real is None:
            return None
        if now < real:  # still valid: serve as they are, ask again a little later
            self._served_until = real
            self._hold_until = min(now + self._rng.uniform(*self.recheck), real)
            return Serve(real, extended=False)
        limit = real + self.max_stale
        if now >= limit:
            self._served_until, self._hold_until = real, -math.inf
            return None
        until = min(now + self._rng.uniform(*self.extension), limit)
        self._served_until = self._hold_until = until
        self.extensions += 1
        return Serve(until, extended=True)
