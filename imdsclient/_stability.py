"""Static stability for role credentials: what to hand out when IMDS gives nothing new.

Pure decisions against wall-clock times passed in (``Clock.time()``) and an injected
``random.Random``; :mod:`imdsclient._refresh` keeps one :class:`StaticStability` per drop-in and
does the I/O and the logging.  The rules, also in ``docs/boto.md``:

* Credentials with at least a minute left (:data:`EXPIRED_MARGIN`) are served **unchanged**:
  an unexpired expiry is never moved (botocore moves it forward even for valid credentials),
  whether IMDS answered or failed.
* Credentials that have expired, or have less than a minute left, are served with the expiry
  **extended** to now plus a random 5-15 minutes (:data:`EXTENSION`).  That happens when a
  refresh fails after they expired, and when IMDS itself serves them expired (a mock such as
  amazon-ec2-metadata-mock, a wrong clock, an IMDS that stopped rotating).  While IMDS fails it
  is not asked again until the extension runs out; while it answers (expired credentials) it is
  asked every 30-90 s, and the extension is renewed only when it runs out.
* Extensions are **bounded**: none reaches past ``max_stale`` (1 h) after the later of the real
  expiry and the moment IMDS first served the credentials already expired; from then on the
  failure is reported.  Fresh credentials from IMDS end the episode.
* After an answer that brought nothing fresh (a failure, or credentials IMDS has not rotated yet
  although they are inside the refresh window), IMDS is asked again after a random 30-90 s at
  the earliest, so a busy process cannot hammer IMDS while botocore wants a refresh on every call.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["EXPIRED_MARGIN", "EXTENSION", "MAX_STALE", "RECHECK", "Serve", "StaticStability"]

#: An extension lasts a random number of seconds in this range.
EXTENSION = (5 * 60.0, 15 * 60.0)
#: No extension reaches further than this past the credentials' real expiry.
MAX_STALE = 60 * 60.0
#: After an answer with nothing fresh, wait this long (random, seconds) before asking again.
RECHECK = (30.0, 90.0)
#: Credentials with less than this left (seconds) are treated as expired: handing them to an SDK
#: would have it find them expired as it checks them (botocore then raises ``RuntimeError``).
EXPIRED_MARGIN = 60.0


@dataclass(frozen=True)
class Serve:
    """Serve the credentials with this expiry (epoch seconds).

    ``extended``: the expiry is an extension, not the real one; ``first``: the first extension
    of this episode (the one to warn about).
    """

    expires_at: float
    extended: bool
    first: bool = False


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
        self._expires_at: float | None = None  # real expiry of the last credentials
        self._served_until: float | None = None  # the expiry last handed out
        self._extended_until: float | None = None  # the current extension, if any
        self._episode_start: float | None = None  # when IMDS first served them expired
        self._hold_until = -math.inf  # IMDS is not asked before this
        #: Extensions granted since the last fresh credentials.
        self.extensions = 0

    @property
    def expires_at(self) -> float | None:
        """The real expiry of the last credentials, if any."""
        return self._expires_at

    def _limit(self, real: float) -> float:
        """No extension reaches past this (``max_stale`` after the episode's reference time)."""
        start = self._episode_start
        return max(real, real if start is None else start) + self.max_stale

    def _extend(self, now: float, limit: float, *, recheck: bool) -> Serve:
        """Serve the current extension, or a new one if it has (almost) run out."""
        first = self.extensions == 0
        until = self._extended_until
        if until is None or until - now < EXPIRED_MARGIN:
            until = min(now + self._rng.uniform(*self.extension), limit)
            self.extensions += 1
        self._extended_until = self._served_until = until
        self._hold_until = min(now + self._rng.uniform(*self.recheck), until) if recheck else until
        return Serve(until, extended=True, first=first)

    def _give_up(self, real: float) -> None:
        self._served_until, self._extended_until, self._hold_until = real, None, -math.inf

    def succeeded(self, now: float, expires_at: float, refresh_window: float) -> Serve | None:
        """IMDS answered with credentials expiring at ``expires_at``: what to serve.

        Valid ones end the episode and are served as they are; if they are already inside the
        refresh window, IMDS has not rotated them yet, and asking again at once would bring the
        same ones, so the next question waits for a recheck delay.  Expired ones (IMDS did not
        rotate them in time, or its clock and ours disagree) get an extension, or ``None``
        once the episode has lasted ``max_stale``.
        """
        self._expires_at = expires_at
        if expires_at - now >= EXPIRED_MARGIN:
            self._served_until = expires_at
            self._extended_until = self._episode_start = None
            self.extensions = 0
            if expires_at - now < refresh_window:
                recheck = now + self._rng.uniform(*self.recheck)
                self._hold_until = min(recheck, expires_at - EXPIRED_MARGIN)
            else:
                self._hold_until = -math.inf
            return Serve(expires_at, extended=False)
        if self._episode_start is None:
            self._episode_start = now
        limit = self._limit(expires_at)
        if now >= limit:
            self._give_up(expires_at)
            return None
        return self._extend(now, limit, recheck=True)

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
        if now < real - EXPIRED_MARGIN:  # still valid: serve as they are, ask again later
            self._served_until = real
            self._hold_until = min(now + self._rng.uniform(*self.recheck), real - EXPIRED_MARGIN)
            return Serve(real, extended=False)
        limit = self._limit(real)
        if now >= limit:
            self._give_up(real)
            return None
        return self._extend(now, limit, recheck=False)
