"""One generator flow per operation: every decision, no I/O.

A flow yields *effects* (send this request, give me a token, run these flows) and receives their
results; the sync and async clients only carry effects out.  So the logic of each operation
exists once, and a test can drive a flow with scripted answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from imdsclient._protocol import (
    META_DATA,
    TOKEN_PATH,
    Action,
    Request,
    Response,
    Result,
    classify,
    get_request,
    normalize_path,
    parse_listing,
    token_request,
    token_ttl_from,
)
from imdsclient._session import Session
from imdsclient._token import Grant
from imdsclient.errors import (
    HINTS,
    IMDSDisabledError,
    IMDSError,
    IMDSTimeoutError,
    MetadataNotFoundError,
    UnauthorizedError,
)

__all__ = [
    "Effect",
    "Flow",
    "Gather",
    "NeedToken",
    "Send",
    "fetch",
    "get_bytes",
    "get_json",
    "get_text",
    "is_available",
    "listing",
    "token_flow",
]

logger = logging.getLogger("imdsclient")
T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Send this request (retrying what is retryable); the result comes back."""

    request: Request
    single_attempt: bool = False


@dataclass(frozen=True)
class NeedToken:
    """Give me a :class:`Grant`, fetching a token first if needed (single flight).

    ``stale`` is the generation of a grant that IMDS just refused.
    """

    stale: int | None = None
    single_attempt: bool = False


@dataclass(frozen=True)
class Gather:
    """Run these flows (concurrently where the shell can) and return their results in order."""

    flows: Sequence[Flow[Any]]


Effect = Union[Send, NeedToken, Gather]
Flow = Generator[Effect, Any, T]


def send(request: Request, *, single_attempt: bool = False) -> Flow[Result]:
    """Typed wrapper around the :class:`Send` effect."""
    result: Result = yield Send(request, single_attempt)
    return result


def need_token(*, stale: int | None = None, single_attempt: bool = False) -> Flow[Grant]:
    """Typed wrapper around the :class:`NeedToken` effect."""
    grant: Grant = yield NeedToken(stale, single_attempt)
    return grant


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
    result = yield from send(token_request(session.config.token_ttl), single_attempt=single_attempt)
    outcome = classify(result, path=TOKEN_PATH, endpoint_seen=session.endpoint_seen)
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
    """GET one path with the token lifecycle of DESIGN §1; the body's exact bytes."""
    full = normalize_path(path)
    if session.config.disabled:
        raise IMDSDisabledError(f"IMDS access is disabled; not requesting {full}", path=full)
    grant = yield from need_token(single_attempt=single_attempt)
    refreshed = False
    while True:
        result = yield from send(get_request(full, grant.token), single_attempt=single_attempt)
        outcome = classify(result, path=full, endpoint_seen=session.endpoint_seen)
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
            refreshed = True
            sent_token = grant.token is not None
            grant = yield from need_token(stale=grant.generation, single_attempt=single_attempt)
            if grant.token is None and not sent_token:
                raise _v1_refused(session, full)
            continue  # with the new token, or once without one if IMDS stopped issuing them
        assert outcome.error is not None
        raise outcome.error


def _v1_refused(session: Session, path: str) -> UnauthorizedError:
    why = session.tokens.fallback_reason
    return UnauthorizedError(
        f"IMDS refused {path} without a session token (401), and none could be obtained",
        status=401,
        path=path,
        hint=HINTS["hop_limit" if why == "hop_limit" else "v1_refused"],
    )


def get_bytes(session: Session, path: str) -> Flow[bytes]:
    """The exact bytes served at ``path``."""
    return (yield from fetch(session, path))


def get_text(session: Session, path: str) -> Flow[str]:
    """The value at ``path`` as text."""
    body = yield from fetch(session, path)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise IMDSError(
            f"The value at {normalize_path(path)} is not UTF-8 text",
            path=normalize_path(path),
            hint="Read it with get_bytes() instead.",
        ) from None


def get_json(session: Session, path: str) -> Flow[Any]:
    """The value at ``path`` parsed as JSON."""
    body = yield from fetch(session, path)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurd nesting, which IMDS never sends
        raise IMDSError(
            f"The value at {normalize_path(path)} is not valid JSON", path=normalize_path(path)
        ) from None


def listing(session: Session, path: str = "") -> Flow[list[str]]:
    """The entries of a folder (names ending in '/' are folders)."""
    folder = path if path.endswith("/") or path == "" else path + "/"
    body = yield from fetch(session, folder or META_DATA)
    return parse_listing(body)


def is_available(session: Session) -> Flow[bool]:
    """Whether IMDS answers at all; one attempt, never raises an ``IMDSError``."""
    try:
        yield from fetch(session, "instance-id", single_attempt=True)
    except MetadataNotFoundError:
        return True  # it answered
    except IMDSError:
        return False
    return True
