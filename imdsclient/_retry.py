"""Retries as a flow: one request sent until its answer is final; the only tenacity importer.

:func:`exchange` sends, classifies each answer **once** (:func:`~imdsclient._protocol.classify`),
and when the outcome is RETRY yields a :class:`~imdsclient._flow.Sleep` whose length comes from
the rules here: full jitter from the client's ``rng``, ``Retry-After`` clamped to the cap, the
client-wide throttle gate, the attempt budgets.  tenacity sequences those rules without owning
the loop: its ``BaseRetrying.iter()`` answers ``DoAttempt`` / ``DoSleep`` / the final value, the
shape of an effect, and the flow drives it.  The first attempt runs before tenacity is even
imported, so the happy path pays nothing for the machinery it does not need.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from imdsclient._flow import Flow, Hook, Send, Sleep
from imdsclient._protocol import (
    IMDS_URLS,
    Action,
    Failure,
    FailureKind,
    Outcome,
    Request,
    Response,
    Result,
    classify,
    describe,
    is_dropped_syn,
    is_throttle,
)

if TYPE_CHECKING:
    import tenacity

    from imdsclient._session import Session

__all__ = [
    "FIRST_CONTACT_ATTEMPTS",
    "RetryEvent",
    "RetryHook",
    "RetryPolicy",
    "ThrottleGate",
    "exchange",
    "full_jitter",
    "instant_retries",
    "log_retry",
]

logger = logging.getLogger("imdsclient")


#: Attempts for a connect timeout before the endpoint has ever answered.  The first attempt
#: sends two SYNs (Linux resends one after 1 s, inside ``timeout`` + ``SYN_RESEND_SLACK``); the
#: second, started at once, sends a third and waits for it half the timeout (IMDS answers in
#: well under a millisecond): off EC2 a silent drop fails after ~1.65 s with the defaults.
FIRST_CONTACT_ATTEMPTS = 2


@dataclass(frozen=True)
class RetryPolicy:
    """How to back off.  The attempt count itself is a setting (``num_attempts``), so that the
    client, its ``config``, the CLI and ``doctor`` can never disagree about it.

    Throttling (429/503) gets at least ``throttle_attempts``: waiting is the cure for it, and
    IMDS's window is a whole second.
    Ten, not six: measured without the client-wide :class:`ThrottleGate`, six left ~2 % of a
    32-thread burst over the limit failing (``benchmarks/throttle_burst.py``); with the gate
    both budgets leave none, and ten keeps a margin.  Ten attempts wait ~5.8 s on average and
    at most 11.1 s before ``ThrottledError``; 18 s when every answer says ``Retry-After`` of
    ``cap`` or more (docs/retries.md, "How long a call can take").

    Every wait is at least :attr:`floor`, whatever ``Retry-After`` says: a server cannot cancel
    the backoff.
    """

    throttle_attempts: int = 10
    base: float = 0.1
    cap: float = 2.0
    honour_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.throttle_attempts < 1 or not self.base >= 0 or not self.cap >= 0:
            raise ValueError(f"{self!r}: attempts must be at least 1, base and cap at least 0")

    @property
    def floor(self) -> float:
        """The shortest wait before any retry: half of ``base`` (never more than ``cap``)."""
        return min(self.base, self.cap) / 2

    def budget(
        self,
        result: Result,
        attempts: int,
        *,
        endpoint_seen: bool = True,
        others_answered: bool = False,
    ) -> int:
        """Attempts allowed for a failure like ``result`` when ``attempts`` is the setting.

        A connect timeout is throttling too once the endpoint has answered: IMDS limits
        packets, and a dropped SYN is one of them.  Before that it gets one more attempt only
        (:data:`FIRST_CONTACT_ATTEMPTS`), so that off EC2 the first call still fails fast.
        A read timeout is throttling when the endpoint answered other requests meanwhile
        (``others_answered``): the service works, this answer's packets were dropped.  Alone,
        it keeps ``attempts``, so a hung IMDS still fails in about ``attempts * timeout``.
        """
        if is_dropped_syn(result) and not endpoint_seen:
            return FIRST_CONTACT_ATTEMPTS
        if is_packet_throttled(
            result, endpoint_seen=endpoint_seen, others_answered=others_answered
        ):
            return max(attempts, self.throttle_attempts)
        return attempts


@dataclass(frozen=True)
class RetryEvent:
    """Passed to ``on_retry`` hooks before each backoff sleep."""

    method: str
    path: str
    attempt: int
    wait: float
    cause: str
    throttled: bool


#: Something told about each retry (metrics, logs); takes a :class:`RetryEvent`.
RetryHook = Callable[[RetryEvent], None]


def is_packet_throttled(result: Result, *, endpoint_seen: bool, others_answered: bool) -> bool:
    """True for what IMDS's limits do to a request: a 429/503, a dropped SYN once the endpoint
    has answered, or an answer that never came while other requests got theirs."""
    if is_throttle(result):
        return True
    if not endpoint_seen or not isinstance(result, Failure):
        return False
    return result.kind is FailureKind.CONNECT_TIMEOUT or (
        result.kind is FailureKind.READ_TIMEOUT and others_answered
    )


def log_retry(event: RetryEvent) -> None:
    """The default hook: one log record per retry, with structured extras."""
    logger.info(
        "retrying %s %s after %s (attempt %d, waiting %.3fs)",
        event.method,
        event.path,
        event.cause,
        event.attempt,
        event.wait,
        extra={"imds_path": event.path, "imds_attempt": event.attempt, "imds_wait": event.wait},
    )


def full_jitter(
    attempt: int, base: float, cap: float, rng: random.Random, floor: float = 0.0
) -> float:
    """A delay drawn uniformly from [floor, min(cap, base * 2**(attempt-1))] (the floor itself
    when the bound is lower); safe for huge attempts."""
    exponent = min(max(attempt - 1, 0), 64)
    top = min(cap, base * 2.0**exponent)
    return rng.uniform(min(floor, top), top)


# --- the testing switch (imdsclient.testing.instant_retries) ---------------------------------

_override_lock = threading.Lock()
_override: list[int | None] = []  # a stack of active overrides; None = keep the attempt counts


@contextlib.contextmanager
def instant_retries(attempts: int | None = None) -> Iterator[None]:
    """Make every retry loop started inside this block skip its sleeps.

    ``attempts`` optionally replaces the attempt budget.  Meant for users' test suites.
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    with _override_lock:
        _override.append(attempts)
    try:
        yield
    finally:
        with _override_lock:
            _override.pop()


class ThrottleGate:
    """One client's shared pause: when IMDS throttles one request, the others wait it out too.

    Without it, the client's other threads keep sending into the throttled second and spend
    their attempts there; with it, a throttled burst costs each request about one attempt per
    backoff instead of one per send.  Waiters look again when their pause ends (``_attempt``),
    so a reopening gate lets one probe through, not a stampede: with 4 processes x 8 threads
    against one limit that cut the requests wasted on 429s by a quarter to a half
    (``benchmarks/throttle_processes.py``).
    """

    def __init__(self) -> None:
        self._until = 0.0  # monotonic time; a float store is atomic, and races only shorten waits

    def hold(self, until: float) -> None:
        """Ask every request to wait until ``until`` (monotonic seconds)."""
        if until > self._until:
            self._until = until

    def remaining(self, now: float) -> float:
        """Seconds left to wait; zero or less when the gate is open."""
        return self._until - now


def _active_override() -> tuple[bool, int | None]:
    with _override_lock:
        return (True, _override[-1]) if _override else (False, None)


# --- the loop, as a flow -----------------------------------------------------------------------


def exchange(
    session: Session, request: Request, *, single_attempt: bool = False
) -> Flow[tuple[Result, Outcome]]:
    """Send ``request`` until its answer is final: the last result and its outcome (never RETRY).

    A retryable failure that outlasts its budget raises its outcome's error.  ``single_attempt``
    (``is_available``) never retries.
    """
    answers = session.answers
    first = yield from _attempt(session, request, gate=not single_attempt)
    if first[1].action is not Action.RETRY:
        return first
    instant, attempts = _active_override()
    rules = _Rules(session, request, instant, 1 if single_attempt else attempts)
    rules.others_answered = session.answers > answers
    if rules.attempts == 1:
        return rules.give_up_on(first)

    import tenacity  # here: the happy path never needs it, and start-up stays lean

    retrying = tenacity.Retrying(
        stop=rules.stop,
        wait=rules.wait,
        retry=rules.retry,
        before_sleep=rules.before_sleep,
        retry_error_callback=rules.give_up,
    )
    retrying.begin()
    state = tenacity.RetryCallState(retrying, fn=None, args=(), kwargs=())
    state.set_result(first)
    last = first[0]
    waited = 0.0
    while True:
        action = retrying.iter(state)
        if isinstance(action, tenacity.DoAttempt):
            answers = session.answers
            answer = yield from _attempt(
                session, _next_request(session, request, last), waited=waited
            )
            rules.others_answered = session.answers > answers
            last = answer[0]
            state.set_result(answer)
        elif isinstance(action, tenacity.DoSleep):
            state.prepare_for_next_attempt()
            waited = float(action)
            if rules.event is not None:  # the hook runs where the caller's code does
                yield Hook(session.on_retry, rules.event)
            yield Sleep(waited)
        else:
            final: tuple[Result, Outcome] = action
            return final


def _next_request(session: Session, request: Request, last: Result) -> Request:
    """The request to send again: after a connect timeout on first contact, the same request
    waiting half the timeout for its connection (see :data:`FIRST_CONTACT_ATTEMPTS`)."""
    if is_dropped_syn(last) and not session.endpoint_seen:
        return dataclasses.replace(request, connect_timeout=session.config.timeout / 2)
    return request


def _attempt(
    session: Session, request: Request, *, waited: float = 0.0, gate: bool = True
) -> Flow[tuple[Result, Outcome]]:
    """One send (after any throttle pause, unless ``gate`` is false), classified once;
    ``waited`` is the backoff this request has just slept.

    After its pause a waiter looks at the gate again: when the first to wake was throttled
    meanwhile, the gate is shut anew and the others wait with it instead of all sending into
    the same throttled second (one probe per reopening, not one per waiter).
    """
    while gate:
        pause = _gate_wait(session, waited)
        if pause <= 0:
            break
        yield Sleep(pause)
        waited += pause
    result: Result = yield Send(request)
    if isinstance(result, Response):
        session.endpoint_seen = True  # from now on, connection failures are worth retrying
        session.answers += 1
        where = None
    else:
        where = _named_endpoint(session)
    outcome = classify(
        result, path=request.path, endpoint_seen=session.endpoint_seen, endpoint=where
    )
    logger.debug("%s %s -> %s", request.method, request.path, describe(result))
    return result, outcome


def _named_endpoint(session: Session) -> str | None:
    """The endpoint as connection errors name it, when it is not IMDS's own address."""
    config = session.config
    if config.endpoint is None or config.base_url in IMDS_URLS:
        return None
    source = config.sources.get("endpoint", "argument")
    return f"{config.base_url} (the endpoint setting, from {source})"


def _gate_wait(session: Session, waited: float = 0.0) -> float:
    """How long to wait before sending: the gate's remaining time, jittered so that waiters
    do not all wake at once; 0 when the gate is open or instant retries are on.

    With the backoff and gate pauses this request has just slept (``waited``), the pause before
    an attempt is at most ``cap + base`` in all: other requests shutting the gate again and
    again cannot stretch it.
    """
    policy = session.retry_policy
    remaining = min(session.gate.remaining(session.clock.monotonic()), policy.cap - waited)
    if remaining <= 0 or _active_override()[0]:
        return 0.0
    return remaining + session.rng.uniform(0.0, policy.base)


class _Rules:
    """The stop, wait and hook rules of one request's retries, as tenacity callbacks."""

    def __init__(
        self, session: Session, request: Request, instant: bool, attempts: int | None
    ) -> None:
        self.session, self.request, self.instant = session, request, instant
        self.policy = session.retry_policy
        self.attempts = attempts  # the instant_retries / single-attempt override, if any
        #: Whether other requests were answered during the last attempt (set by exchange()).
        self.others_answered = False
        #: The hook's event for the coming sleep (set by before_sleep, handed on by exchange()).
        self.event: RetryEvent | None = None

    def retry(self, state: tenacity.RetryCallState) -> bool:
        return _last(state)[1].action is Action.RETRY

    def stop(self, state: tenacity.RetryCallState) -> bool:
        result = _last(state)[0]
        budget = self.attempts or self.policy.budget(
            result,
            self.session.config.num_attempts,
            endpoint_seen=self.session.endpoint_seen,
            others_answered=self.others_answered,
        )
        return state.attempt_number >= budget

    def wait(self, state: tenacity.RetryCallState) -> float:
        """Full jitter above the floor; ``Retry-After`` (clamped to the cap) can lengthen the
        wait, never shorten it.  A wait the classifier chose itself for a failure with no
        answer (the immediate second try on first contact) is kept as it is: no server spoke."""
        if self.instant:
            return 0.0
        policy = self.policy
        result, outcome = _last(state)
        if isinstance(result, Failure) and outcome.retry_after is not None:
            return outcome.retry_after
        wait = full_jitter(state.attempt_number, policy.base, policy.cap, self.rng, policy.floor)
        server_says = outcome.retry_after if policy.honour_retry_after else None
        if server_says is not None:
            wait = max(wait, min(server_says, policy.cap))
        return wait

    @property
    def rng(self) -> random.Random:
        return self.session.rng

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        result = _last(state)[0]
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        # Packet throttling's dropped SYNs and lost answers are its 429: the others wait too.
        throttled = is_packet_throttled(
            result, endpoint_seen=self.session.endpoint_seen, others_answered=self.others_answered
        )
        if throttled:
            self.session.gate.hold(self.session.clock.monotonic() + wait)
        cause = f"HTTP {result.status}" if not isinstance(result, Failure) else result.kind.value
        self.event = RetryEvent(
            self.request.method, self.request.path, state.attempt_number, wait, cause, throttled
        )

    def give_up(self, state: tenacity.RetryCallState) -> tuple[Result, Outcome]:
        return self.give_up_on(_last(state))

    @staticmethod
    def give_up_on(last: tuple[Result, Outcome]) -> tuple[Result, Outcome]:
        """Out of attempts: the retryable failure becomes final."""
        assert last[1].error is not None
        raise last[1].error


def _last(state: tenacity.RetryCallState) -> tuple[Result, Outcome]:
    assert state.outcome is not None
    last: tuple[Result, Outcome] = state.outcome.result()
    return last
