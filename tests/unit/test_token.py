"""Token state decisions against explicit times."""

from __future__ import annotations

import pytest

from imdsclient import IMDSTimeoutError
from imdsclient._token import (
    FALLBACK_RECHECK_SECONDS,
    HOP_LIMIT_RECHECK_SECONDS,
    Plan,
    TokenState,
    refresh_margin,
)
from imdsclient.errors import IMDSConnectionError


def test_empty_state_needs_a_fetch() -> None:
    """A new client must fetch a token first."""
    plan, grant = TokenState().plan(0.0)
    assert plan is Plan.FETCH
    assert grant.token is None


def test_token_is_used_until_the_margin_then_refetched() -> None:
    """A stored token is used until ttl - margin, then a fetch is planned."""
    state = TokenState()
    state.store("t", 21600, now=0.0)
    assert state.plan(21600 - 121.0) == (Plan.USE, state.plan(0.0)[1])
    assert state.plan(21600 - 120.0)[0] is Plan.FETCH


def test_margin_is_ten_percent_capped_at_two_minutes() -> None:
    """Short tokens refresh at 90 % of their life, long ones two minutes early."""
    assert refresh_margin(21600) == 120.0
    assert refresh_margin(60) == 6.0


def test_stale_generation_forces_a_fetch_only_once() -> None:
    """A caller whose token was refused fetches; one arriving after a refresh reuses it."""
    state = TokenState()
    seen = state.store("old", 600, now=0.0)
    assert state.plan(1.0, stale=seen.generation)[0] is Plan.FETCH
    state.store("new", 600, now=1.0)
    plan, grant = state.plan(1.0, stale=seen.generation)
    assert (plan, grant.token) == (Plan.USE, "new")


def test_fallback_is_remembered_then_reprobed() -> None:
    """IMDSv1 is used for a bounded time, then the token endpoint is probed again."""
    state = TokenState()
    grant = state.fall_back("legacy", now=0.0)
    assert grant.token is None
    assert state.fallback_reason == "legacy"
    assert state.plan(FALLBACK_RECHECK_SECONDS - 1)[0] is Plan.USE
    assert state.plan(FALLBACK_RECHECK_SECONDS)[0] is Plan.FETCH


def test_a_hop_limit_fallback_stands_for_an_hour() -> None:
    """A dropped PUT (each probe waits the whole timeout) is probed again after an hour; a
    404/405 (a quick answer) after five minutes."""
    state = TokenState()
    state.fall_back("hop_limit", now=0.0)
    assert state.plan(FALLBACK_RECHECK_SECONDS)[0] is Plan.USE
    assert state.plan(HOP_LIMIT_RECHECK_SECONDS - 1)[0] is Plan.USE
    assert state.plan(HOP_LIMIT_RECHECK_SECONDS)[0] is Plan.FETCH
    assert HOP_LIMIT_RECHECK_SECONDS == 3600.0


def test_a_token_ends_the_fallback() -> None:
    """Storing a token clears the IMDSv1 decision and its reason."""
    state = TokenState()
    state.fall_back("hop_limit", now=0.0)
    state.store("t", 600, now=1.0)
    assert state.fallback_reason == ""
    assert state.plan(2.0)[1].token == "t"


def test_a_failed_fetch_is_shared_only_with_those_who_waited_for_it() -> None:
    """Tickets taken before a failure see (a copy of) it; later tickets and successes do not."""
    state = TokenState()
    waited = state.ticket()
    error = IMDSConnectionError("connection failed", path="/latest/api/token")
    state.fail(error)
    shared = state.failure_since(waited)
    assert isinstance(shared, IMDSConnectionError)
    assert shared is not error
    assert str(shared) == str(error)
    assert state.failure_since(state.ticket()) is None  # arrived after the failure: fetch again
    state.store("t", 21600, now=0.0)
    assert state.failure_since(waited) is None  # a success since then: use the token


def test_recheck_after_waiting_uses_shares_or_fetches() -> None:
    """After the lock: a fresh token is used, a failed fetch is shared, otherwise fetch."""
    state = TokenState()
    ticket = state.ticket()
    assert state.recheck(ticket, 0.0) is None  # nothing happened: fetch
    state.fail(IMDSTimeoutError("PUT timed out"))
    with pytest.raises(IMDSTimeoutError, match="PUT timed out"):
        state.recheck(ticket, 0.0)
    assert state.recheck(state.ticket(), 0.0) is None  # a later caller tries again
    state.store("t", 600, now=0.0)
    grant = state.recheck(state.ticket(), 1.0)
    assert grant is not None
    assert grant.token == "t"
