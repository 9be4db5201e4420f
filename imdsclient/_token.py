"""Session-token state: which token to use, when to refresh, when IMDSv1 is in force.

Pure decisions against times passed in; the shells hold the lock that makes refreshes single
flight.  A *generation* number changes on every store, drop or fallback, so a caller that saw a
token fail can tell whether someone else has already replaced it.  A *ticket* (the count of
finished fetches) taken before waiting on the lock tells a waiter whether the fetch it waited
for failed: then it shares that error instead of repeating the fetch.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass

from imdsclient.errors import IMDSError

__all__ = [
    "FALLBACK_RECHECK_SECONDS",
    "HOP_LIMIT_RECHECK_SECONDS",
    "Grant",
    "Plan",
    "TokenState",
    "refresh_margin",
]

#: How long a decision to use IMDSv1 stands before the token endpoint is probed again, when
#: the token request was answered 404/405 (a probe costs one quick round trip).
FALLBACK_RECHECK_SECONDS = 300.0
#: The same when the token request got no answer (the hop limit): each probe stalls its caller
#: for the whole timeout, so a long-lived client in a container probes once an hour.
HOP_LIMIT_RECHECK_SECONDS = 3600.0


def refresh_margin(ttl: int) -> float:
    """Refresh this long before expiry: 10 % of the lifetime, at most two minutes."""
    return min(120.0, ttl * 0.1)


class Plan(enum.Enum):
    """What a request needs before it can be sent."""

    USE = "use the current token, or none in IMDSv1 mode"
    FETCH = "fetch a token first"


@dataclass(frozen=True)
class Grant:
    """What a request may use: a token, or ``None`` for IMDSv1, and the state it came from.

    Its ``repr`` masks the token (grants sit in the locals of every frame that sends).
    """

    token: str | None
    generation: int

    def __repr__(self) -> str:
        shown = None if self.token is None else "**********"
        return f"Grant(token={shown!r}, generation={self.generation!r})"


class TokenState:
    """The token a client holds, or its remembered decision to use IMDSv1."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._refresh_at = 0.0
        self._v1_until = 0.0
        self.fallback_reason = ""
        self.generation = 0
        self._fetches = 0  # fetches finished, successful or not
        self._failure: IMDSError | None = None  # the error of the last one, if it failed

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

    def ticket(self) -> int:
        """Taken before waiting for the lock; see :meth:`failure_since`."""
        return self._fetches

    def failure_since(self, ticket: int) -> IMDSError | None:
        """A copy of the error of the last fetch, if one finished since ``ticket`` and failed.

        Whoever waited while a fetch failed shares its error (single flight for failures too):
        off EC2, a thousand waiters must not each wait out a connect timeout in turn.
        """
        if self._fetches == ticket or self._failure is None:
            return None
        return copy.copy(self._failure)

    def recheck(self, ticket: int, now: float, *, stale: int | None = None) -> Grant | None:
        """After waiting for the lock: the grant to use, ``None`` to fetch, or the shared error.

        Raises a copy of the error of a fetch that failed while this caller waited.
        """
        failed = self.failure_since(ticket)
        if failed is not None:
            raise failed
        plan, grant = self.plan(now, stale=stale)
        return grant if plan is Plan.USE else None

    def fail(self, error: IMDSError) -> None:
        """A fetch failed with ``error``; the token and any IMDSv1 decision stay as they were."""
        self._failure = error
        self._fetches += 1

    def _finished(self) -> None:
        self._failure = None
        self._fetches += 1

    def store(self, token: str, ttl: int, now: float) -> Grant:
        """Keep a fresh token; IMDSv2 works, so any IMDSv1 decision is over."""
        self._token = token
        self._refresh_at = now + ttl - refresh_margin(ttl)
        self._v1_until = 0.0
        self.fallback_reason = ""
        self.generation += 1
        self._finished()
        return Grant(token, self.generation)

    def fall_back(self, reason: str, now: float) -> Grant:
        """Use IMDSv1 for a while; ``reason`` is a HINTS key saying why."""
        self._token = None
        wait = HOP_LIMIT_RECHECK_SECONDS if reason == "hop_limit" else FALLBACK_RECHECK_SECONDS
        self._v1_until = now + wait
        self.fallback_reason = reason
        self.generation += 1
        self._finished()
        return Grant(None, self.generation)
