"""GET one path with the token lifecycle of docs/design.md ("The protocol"): the flow every
operation is built on, and the token fetch with its single flight.

Everything here is a decision; the I/O is the effects of :mod:`imdsclient._flow`, and the
retries are :func:`imdsclient._retry.exchange`.
"""

from __future__ import annotations

import logging

from imdsclient._flow import Flow, locked
from imdsclient._protocol import (
    TOKEN_PATH,
    Action,
    Response,
    get_request,
    normalize_path,
    token_request,
    token_ttl_from,
)
from imdsclient._retry import exchange
from imdsclient._session import Session
from imdsclient._token import Grant, Plan
from imdsclient.errors import (
    HINTS,
    IMDSDisabledError,
    IMDSError,
    IMDSTimeoutError,
    UnauthorizedError,
)

__all__ = ["fetch", "need_token", "token_flow"]

logger = logging.getLogger("imdsclient")


def need_token(
    session: Session, *, stale: int | None = None, single_attempt: bool = False
) -> Flow[Grant]:
    """The :class:`Grant` a request may use, fetching a token first if needed.

    ``stale`` is the generation of a grant IMDS just refused.  Fetches are single flight: the
    fetch runs under the client's token lock, and whoever waited there finds the fresh token
    (or shares the error of the fetch it waited for) instead of fetching again.
    """
    tokens = session.tokens
    plan, grant = tokens.plan(session.clock.monotonic(), stale=stale)
    if plan is Plan.USE:
        return grant
    ticket = tokens.ticket()
    return (yield from locked(_fetch_unless_done(session, ticket, stale, single_attempt)))


def _fetch_unless_done(
    session: Session, ticket: int, stale: int | None, single_attempt: bool
) -> Flow[Grant]:
    grant = session.tokens.recheck(ticket, session.clock.monotonic(), stale=stale)
    if grant is not None:
        return grant
    return (yield from token_flow(session, single_attempt=single_attempt))


def token_flow(session: Session, *, single_attempt: bool = False) -> Flow[Grant]:
    """Fetch a token; the shell runs this under its lock, so one runs at a time.

    A failure is recorded for the callers waiting on the lock, who share it; not a failure of
    one quick attempt (``is_available``), which those callers would have retried.
    """
    try:
        return (yield from _fetch_token(session, single_attempt=single_attempt))
    except IMDSError as exc:
        if not single_attempt:
            session.tokens.fail(exc)
        raise


def _fetch_token(session: Session, *, single_attempt: bool) -> Flow[Grant]:
    request = token_request(session.config.token_ttl)
    result, outcome = yield from exchange(session, request, single_attempt=single_attempt)
    now = session.clock.monotonic()
    if outcome.action is Action.OK:
        assert isinstance(result, Response)
        token, ttl = token_ttl_from(result, session.config.token_ttl)
        return session.tokens.store(token, ttl, now)
    if outcome.action is Action.FALLBACK_V1:
        if not session.config.v1_fallback:
            raise _no_token(outcome.reason, status=getattr(result, "status", None))
        logger.info("no IMDSv2 token (%s); using IMDSv1 for now", outcome.reason)
        return session.tokens.fall_back(outcome.reason, now)
    assert outcome.error is not None
    raise outcome.error


def _no_token(reason: str, *, status: int | None) -> IMDSError:
    """The error when a token is required but cannot be had."""
    if reason == "hop_limit":
        return IMDSTimeoutError(
            "The token request got no answer and IMDSv1 fallback is disabled",
            path=TOKEN_PATH,
            hint=HINTS["hop_limit"],
        )
    return UnauthorizedError(
        f"IMDS does not issue session tokens (token request answered {status}) "
        "and IMDSv1 fallback is disabled",
        status=status,
        path=TOKEN_PATH,
        hint=HINTS["v1_disabled_no_token"],
    )


def fetch(session: Session, path: str, *, single_attempt: bool = False) -> Flow[bytes]:
    """GET one path with the token lifecycle of docs/design.md; the body's exact bytes."""
    full = normalize_path(path)
    if session.config.disabled:
        raise IMDSDisabledError(f"IMDS access is disabled; not requesting {full}", path=full)
    before = session.tokens.generation
    grant = yield from need_token(session, single_attempt=single_attempt)
    refreshed = False
    while True:
        request = get_request(full, grant.token)
        result, outcome = yield from exchange(session, request, single_attempt=single_attempt)
        if outcome.action is Action.OK:
            assert isinstance(result, Response)
            return result.body
        if outcome.action is Action.REFRESH_TOKEN:
            if refreshed and grant.token is None:
                raise _v1_refused(session, full)
            if refreshed:
                raise UnauthorizedError(
                    f"IMDS answered 401 for {full} even with a fresh token", status=401, path=full
                )
            if grant.token is None and _just_dropped(session, grant, before):
                raise _v1_refused(session, full)  # its PUT was dropped moments ago: not again
            refreshed = True
            sent_token = grant.token is not None
            grant = yield from need_token(
                session, stale=grant.generation, single_attempt=single_attempt
            )
            if grant.token is None and not sent_token:
                raise _v1_refused(session, full)
            continue  # with the new token, or once without one if IMDS stopped issuing them
        assert outcome.error is not None
        raise outcome.error


def _just_dropped(session: Session, grant: Grant, before: int) -> bool:
    """Whether ``grant`` is a hop-limit fallback decided during this call (by it, or by the
    fetch it waited for): a token request that got no answer a moment ago would get none now
    either, so a 401 without a token ends the call instead of waiting for a second PUT."""
    tokens = session.tokens
    fresh = grant.generation != before and grant.generation == tokens.generation
    return fresh and tokens.fallback_reason == "hop_limit"


def _v1_refused(session: Session, path: str) -> UnauthorizedError:
    why = session.tokens.fallback_reason
    return UnauthorizedError(
        f"IMDS refused {path} without a session token (401), and none could be obtained",
        status=401,
        path=path,
        hint=HINTS["hop_limit" if why == "hop_limit" else "v1_refused"],
    )
