"""Session-token state: which token to use, when to refresh, when IMDSv1 is in force.

Pure decisions against times passed in; the shells hold the lock that makes refreshes single
flight.  A *generation* number changes on every store, drop or fallback, so a caller that saw a
token fail can tell whether someone else has already replaced it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["FALLBACK_RECHECK_SECONDS", "Grant", "Plan", "TokenState", "refresh_margin"]

#: How long a decision to use IMDSv1 stands before the token endpoint is probed again.
FALLBACK_RECHECK_SECONDS = 300.0


def refresh_margin(ttl: int) -> float:
    """Refresh this long before expiry: 10 % of the lifetime, at most two minutes."""
    return min(120.0, ttl * 0.1)


class Plan(enum.Enum):
    """What a request needs before it can be sent."""

    USE = "use the current token, or none in IMDSv1 mode"
    FETCH = "fetch a token first"


@dataclass(frozen=True)
class Grant:
    """What a request may use: a token, or ``None`` for IMDSv1, and the state it came from."""

    token: str | None
    generation: int


class TokenState:
    """The token a client holds, or its remembered decision to use IMDSv1."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._refresh_at = 0.0
        self._v1_until = 0.0
        self.fallback_reason = ""
        self.generation = 0

    def plan(self, now: float, *, stale: int | None = None) -> tuple[Plan, Grant]:
        """Decide whether a token fetch is needed.

        ``stale`` is the generation a caller saw fail (401): if nothing changed since, fetch;
        if someone else already replaced it, use what is there now.
        """
        grant = Grant(self._token, self.generation)
        if stale is not None and stale == self.generation:
            return Plan.FETCH, grant
        if self._token is not None and now < self._refresh_at:
            return Plan.USE, grant
        if self._token is None and now < self._v1_until:
            return Plan.USE, grant
        return Plan.FETCH, grant

    def store(self, token: str, ttl: int, now: float) -> Grant:
        """Keep a fresh token; IMDSv2 works, so any IMDSv1 decision is over."""
        self._token = token
        self._refresh_at = now + ttl - refresh_margin(ttl)
        self._v1_until = 0.0
        self.fallback_reason = ""
        self.generation += 1
        return Grant(token, self.generation)

    def fall_back(self, reason: str, now: float) -> Grant:
        """Use IMDSv1 for a while; ``reason`` is a HINTS key saying why."""
        self._token = None
        self._v1_until = now + FALLBACK_RECHECK_SECONDS
        self.fallback_reason = reason
        self.generation += 1
        return Grant(None, self.generation)

    def clear(self) -> None:
        """Forget the token and any IMDSv1 decision (after a fork, for instance)."""
        self._token = None
        self._refresh_at = self._v1_until = 0.0
        self.fallback_reason = ""
        self.generation += 1
