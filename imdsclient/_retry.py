"""Retries with exponential backoff and full jitter; the only module that imports tenacity.

The policy is a value; time and randomness are injected (a ``Clock`` and a ``random.Random``),
so tests count sleeps instead of taking them.  The first attempt runs outside tenacity: the
happy path pays nothing for the machinery it does not need.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from imdsclient._clock import Clock
from imdsclient._protocol import (
    Action,
    Failure,
    Request,
    Result,
    classify,
    is_throttle,
    retry_after,
)

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "RetryEvent",
    "RetryHook",
    "RetryPolicy",
    "ThrottleGate",
    "full_jitter",
    "instant_retries",
    "log_retry",
    "retry_async",
    "retry_sync",
]

logger = logging.getLogger("imdsclient")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    ``attempts`` bounds every retryable failure.  Throttling (429/503) gets at least
    ``throttle_attempts``: waiting is the cure for it, and IMDS's window is a whole second.
    Ten, not six: measured without the client-wide :class:`ThrottleGate`, six left ~2 % of a
    32-thread burst over the limit failing (``benchmarks/throttle_burst.py``); with the gate
    both budgets leave none, and ten keeps a margin.  Ten attempts wait ~5.5 s on average and
    at most ~11 s before ``ThrottledError``.
    """

    attempts: int = 3
    throttle_attempts: int = 10
    base: float = 0.1
    cap: float = 2.0
    honour_retry_after: bool = True

    def budget(self, result: Result) -> int:
        """Attempts allowed for a failure like ``result``."""
        return max(self.attempts, self.throttle_attempts) if is_throttle(result) else self.attempts


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


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**(attempt-1))]; safe for huge attempts."""
    exponent = min(max(attempt - 1, 0), 64)
    return rng.uniform(0.0, min(cap, base * 2.0**exponent))


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
    backoff instead of one per send.
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


# --- the loops -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loop:
    """Everything one retry loop needs, read once when the loop starts."""

    request: Request
    policy: RetryPolicy
    clock: Clock
    rng: random.Random
    hook: RetryHook
    gate: ThrottleGate
    endpoint_seen: Callable[[], bool]
    instant: bool
    attempts_override: int | None

    def retryable(self, result: Result) -> bool:
        outcome = classify(result, path=self.request.path, endpoint_seen=self.endpoint_seen())
        return outcome.action is Action.RETRY

    def retry(self, state: tenacity.RetryCallState) -> bool:
        return self.retryable(_result(state))

    def stop(self, state: tenacity.RetryCallState) -> bool:
        budget = self.attempts_override or self.policy.budget(_result(state))
        return state.attempt_number >= budget

    def wait(self, state: tenacity.RetryCallState) -> float:
        if self.instant:
            return 0.0
        result = _result(state)
        server_says = retry_after(result) if self.policy.honour_retry_after else None
        if server_says is not None:
            return min(server_says, self.policy.cap)
        return full_jitter(state.attempt_number, self.policy.base, self.policy.cap, self.rng)

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        result = _result(state)
        cause = f"HTTP {result.status}" if not isinstance(result, Failure) else result.kind.value
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if is_throttle(result):
            self.gate.hold(self.clock.monotonic() + wait)
        self.hook(
            RetryEvent(
                self.request.method,
                self.request.path,
                state.attempt_number,
                wait,
                cause,
                is_throttle(result),
            )
        )

    def options(self) -> dict[str, object]:
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": self.retry,
            "before_sleep": self.before_sleep,
            "retry_error_callback": _result,
        }


def _result(state: tenacity.RetryCallState) -> Result:
    assert state.outcome is not None
    result: Result = state.outcome.result()
    return result


def _loop(
    request: Request,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    hook: RetryHook,
    gate: ThrottleGate,
    endpoint_seen: Callable[[], bool],
    single_attempt: bool,
) -> _Loop:
    instant, attempts = _active_override()
    return _Loop(
        request,
        policy,
        clock,
        rng,
        hook,
        gate,
        endpoint_seen,
        instant=instant,
        attempts_override=1 if single_attempt else attempts,
    )


def _gate_wait(gate: ThrottleGate, clock: Clock, rng: random.Random, base: float) -> float:
    """How long to wait before sending: the gate's remaining time, jittered so that waiters
    do not all wake at once; 0 when the gate is open or instant retries are on."""
    remaining = gate.remaining(clock.monotonic())
    if remaining <= 0 or _active_override()[0]:
        return 0.0
    return remaining + rng.uniform(0.0, base)


def retry_sync(
    send: Callable[[], Result],
    request: Request,
    *,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    hook: RetryHook,
    gate: ThrottleGate,
    endpoint_seen: Callable[[], bool],
    single_attempt: bool = False,
) -> Result:
    """Send (after any throttle pause), and re-send while retryable and the budget lasts."""

    def gated() -> Result:
        pause = _gate_wait(gate, clock, rng, policy.base)
        if pause > 0:
            clock.sleep(pause)
        return send()

    first = gated()
    loop = _loop(request, policy, clock, rng, hook, gate, endpoint_seen, single_attempt)
    if not loop.retryable(first) or loop.attempts_override == 1:
        return first
    pending = [first]

    def attempt() -> Result:
        return pending.pop() if pending else gated()

    import tenacity  # here: the happy path never needs it, and start-up stays lean

    retrying = tenacity.Retrying(sleep=clock.sleep, **loop.options())  # type: ignore[arg-type]
    result: Result = retrying(attempt)
    return result


async def retry_async(
    send: Callable[[], Awaitable[Result]],
    request: Request,
    *,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    hook: RetryHook,
    gate: ThrottleGate,
    endpoint_seen: Callable[[], bool],
    single_attempt: bool = False,
) -> Result:
    """The async twin of :func:`retry_sync`, sleeping with ``clock.asleep``."""

    async def gated() -> Result:
        pause = _gate_wait(gate, clock, rng, policy.base)
        if pause > 0:
            await clock.asleep(pause)
        return await send()

    first = await gated()
    loop = _loop(request, policy, clock, rng, hook, gate, endpoint_seen, single_attempt)
    if not loop.retryable(first) or loop.attempts_override == 1:
        return first
    pending = [first]

    async def attempt() -> Result:
        return pending.pop() if pending else await gated()

    import tenacity

    retrying = tenacity.AsyncRetrying(sleep=clock.asleep, **loop.options())  # type: ignore[arg-type]
    result: Result = await retrying(attempt)
    return result
