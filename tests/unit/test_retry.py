"""Backoff math and the retry loop, with scripted results and a fake clock."""

from __future__ import annotations

import random
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imdsclient._config import IMDSConfig
from imdsclient._flow import Hook, Run, Send, Sleep
from imdsclient._protocol import Failure, FailureKind, Request, Response, Result
from imdsclient._retry import (
    FIRST_CONTACT_ATTEMPTS,
    RetryEvent,
    RetryPolicy,
    ThrottleGate,
    exchange,
    full_jitter,
    instant_retries,
)
from imdsclient._session import Session
from imdsclient.errors import IMDSError
from imdsclient.testing import FakeClock

REQ = Request("GET", "/latest/meta-data/instance-id")


@given(
    attempt=st.integers(min_value=1, max_value=100_000),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.001, max_value=60),
    seed=st.integers(),
)
def test_full_jitter_stays_within_bounds(attempt: int, base: float, cap: float, seed: int) -> None:
    """Never negative, never above the cap or the doubling bound, even at attempt 100 000."""
    delay = full_jitter(attempt, base, cap, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt - 1, 64))


def run(
    script: list[Result],
    clock: FakeClock,
    *,
    attempts: int = 3,
    policy: RetryPolicy | None = None,
    seen: bool = True,
    events: list[RetryEvent] | None = None,
    gate: ThrottleGate | None = None,
    others_answer: bool = False,
    meanwhile: Callable[[float], None] | None = None,
    pauses: list[float] | None = None,
) -> tuple[Result, int]:
    """Drive the exchange flow with scripted results, sleeping on the fake clock; returns the
    last result (final, or the one that exhausted the budget) and the send count.
    ``others_answer``: the client's other requests get an answer during each attempt.
    ``meanwhile(seconds)`` runs before each sleep (what other requests do during it);
    ``pauses`` collects the seconds slept before each send."""
    session = Session(IMDSConfig(num_attempts=attempts), clock=clock, rng=random.Random(1))
    session.on_retry = events.append if events is not None else lambda e: None
    session.retry_policy = policy or RetryPolicy()
    session.gate = gate or ThrottleGate()
    session.endpoint_seen = seen
    sent: list[Result] = []
    paused = 0.0
    steps = Run(exchange(session, REQ))
    try:
        while (effect := steps.effect()) is not None:
            if isinstance(effect, Send):
                if pauses is not None:
                    pauses.append(paused)
                paused = 0.0
                sent.append(script[min(len(sent), len(script) - 1)])
                session.answers += others_answer
                steps.answer(sent[-1])
            elif isinstance(effect, Hook):
                effect.function(effect.value)
                steps.answer(None)
            else:
                assert isinstance(effect, Sleep)
                if meanwhile is not None:
                    meanwhile(effect.seconds)
                paused += effect.seconds
                clock.sleep(effect.seconds)
                steps.answer(None)
    except IMDSError:
        return sent[-1], len(sent)
    return steps.result[0], len(sent)


def test_success_costs_one_send_and_no_sleep(clock: FakeClock) -> None:
    """The happy path never sleeps."""
    ok = Response(200, {}, b"x")
    assert run([ok], clock) == (ok, 1)
    assert clock.sleeps == []


def test_backoff_doubles_within_full_jitter(clock: FakeClock) -> None:
    """Sleeps are drawn from [0, base·2^(n-1)], capped."""
    fail = Response(500, {}, b"")
    policy = RetryPolicy(base=1.0, cap=5.0)
    _, sent = run([fail], clock, attempts=6, policy=policy)
    assert sent == 6
    bounds = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert all(0 <= s <= b for s, b in zip(clock.sleeps, bounds))
    assert len(clock.sleeps) == 5


def test_throttling_gets_its_own_larger_budget(clock: FakeClock) -> None:
    """429 is retried up to throttle_attempts (10 by default) even when attempts is 1."""
    _, sent = run([Response(429, {}, b"")], clock, attempts=1)
    assert sent == 10


def test_connection_failures_are_not_retried_before_first_contact(clock: FakeClock) -> None:
    """A refused connection on first contact is returned at once."""
    refused = Failure(FailureKind.CONNECT)
    assert run([refused], clock, seen=False) == (refused, 1)
    assert run([refused], clock, seen=True)[1] == 3


def test_a_connect_timeout_on_first_contact_gets_one_more_attempt(clock: FakeClock) -> None:
    """Off EC2 nothing answers: two attempts, the second at once, whatever num_attempts says."""
    silence = Failure(FailureKind.CONNECT_TIMEOUT)
    assert run([silence], clock, seen=False, attempts=5) == (silence, FIRST_CONTACT_ATTEMPTS)
    assert FIRST_CONTACT_ATTEMPTS == 2
    assert clock.sleeps == [0.0]
    ok = Response(200, {}, b"x")
    assert run([silence, ok], clock, seen=False, attempts=1) == (ok, 2)


def test_connect_timeouts_after_contact_get_the_throttling_budget(clock: FakeClock) -> None:
    """Packet throttling drops SYNs: once IMDS has answered, a connect timeout is retried like
    a 429 (at least ten attempts), not like a reset (num_attempts)."""
    dropped_syn = Failure(FailureKind.CONNECT_TIMEOUT)
    assert run([dropped_syn], clock, attempts=3)[1] == 10
    assert run([Failure(FailureKind.DROPPED)], clock, attempts=3)[1] == 3
    ok = Response(200, {}, b"x")
    assert run([dropped_syn] * 6 + [ok], clock, attempts=3) == (ok, 7)


def test_a_lost_answer_alone_keeps_num_attempts(clock: FakeClock) -> None:
    """A read timeout with no other answer in sight is a hung or broken IMDS: three attempts,
    so it still fails in about 3 x timeout."""
    lost = Failure(FailureKind.READ_TIMEOUT)
    assert run([lost], clock, attempts=3) == (lost, 3)


def test_a_lost_answer_among_answers_gets_the_throttling_budget(clock: FakeClock) -> None:
    """Packet throttling drops answers too: while the client's other requests are answered, a
    read timeout is retried like a 429 (ten attempts) and pauses the others like one."""
    lost = Failure(FailureKind.READ_TIMEOUT)
    events: list[RetryEvent] = []
    assert run([lost], clock, attempts=3, others_answer=True, events=events) == (lost, 10)
    assert all(e.throttled for e in events)
    ok = Response(200, {}, b"x")
    assert run([lost] * 5 + [ok], clock, attempts=3, others_answer=True) == (ok, 6)
    dropped = Failure(FailureKind.DROPPED)
    assert run([dropped], clock, attempts=3, others_answer=True)[1] == 3


def test_a_dropped_syn_closes_the_gate_like_a_429(clock: FakeClock) -> None:
    """A connect timeout after contact pauses the client's other requests for its backoff."""
    gate = ThrottleGate()
    events: list[RetryEvent] = []
    ok = Response(200, {}, b"")
    run([Failure(FailureKind.CONNECT_TIMEOUT), ok], clock, gate=gate, events=events)
    assert [e.throttled for e in events] == [True]
    assert gate.remaining(clock.monotonic() - clock.sleeps[0]) == pytest.approx(clock.sleeps[0])


def test_retry_events_describe_each_wait(clock: FakeClock) -> None:
    """Each retry produces one event with the wait actually slept."""
    events: list[RetryEvent] = []
    run([Failure(FailureKind.DROPPED), Response(200, {}, b"")], clock, events=events)
    assert len(events) == 1
    assert events[0].cause == "connection dropped"
    assert events[0].wait == clock.sleeps[0]
    assert events[0].throttled is False


def test_instant_retries_nests_and_restores(clock: FakeClock) -> None:
    """The override stacks, and leaving the block restores real backoff."""
    fail = Response(503, {}, b"")
    with instant_retries(attempts=2):
        with instant_retries(attempts=3):
            assert run([fail], clock)[1] == 3
        assert run([fail], clock)[1] == 2
    assert clock.sleeps == [0.0, 0.0, 0.0]
    run([fail, Response(200, {}, b"")], clock)
    assert clock.sleeps[-1] > 0


def test_instant_retries_rejects_nonsense() -> None:
    """attempts below 1 is a usage error."""
    with pytest.raises(ValueError, match="at least 1"), instant_retries(attempts=0):
        pass


def test_a_throttled_answer_closes_the_gate_for_the_wait(clock: FakeClock) -> None:
    """After a 429 the gate stays shut until the retry's wait has passed."""
    gate = ThrottleGate()
    run([Response(429, {}, b""), Response(200, {}, b"")], clock, gate=gate)
    assert len(clock.sleeps) == 1
    assert gate.remaining(clock.monotonic()) <= 0  # the retry itself waited it out
    assert gate.remaining(clock.monotonic() - clock.sleeps[0]) == pytest.approx(clock.sleeps[0])


def test_other_requests_wait_while_the_gate_is_shut(clock: FakeClock) -> None:
    """A request sent while another's throttle pause runs waits it out first (plus jitter)."""
    gate = ThrottleGate()
    gate.hold(clock.monotonic() + 0.5)
    ok = Response(200, {}, b"")
    assert run([ok], clock, gate=gate) == (ok, 1)
    assert len(clock.sleeps) == 1
    assert 0.5 <= clock.sleeps[0] <= 0.5 + RetryPolicy().base


def test_a_waiter_looks_at_the_gate_again_when_its_pause_ends(clock: FakeClock) -> None:
    """When the first request to wake was throttled again meanwhile, the others wait on: a
    reopening gate lets one probe through, not every waiter at once."""
    gate = ThrottleGate()
    gate.hold(clock.monotonic() + 0.5)
    reshut: list[float] = []

    def probe_throttled(seconds: float) -> None:
        if not reshut:  # another waiter woke first and got a 429 with a 0.3 s backoff
            reshut.append(clock.monotonic() + seconds + 0.3)
            gate.hold(reshut[0])

    ok = Response(200, {}, b"")
    assert run([ok], clock, gate=gate, meanwhile=probe_throttled) == (ok, 1)
    assert len(clock.sleeps) == 2
    assert clock.monotonic() >= reshut[0]  # sent only once the gate was open again
    assert clock.monotonic() <= reshut[0] + RetryPolicy().base


@given(
    script=st.lists(st.sampled_from([429, 503, 500, 200]), min_size=1, max_size=12),
    shut_for=st.floats(min_value=0.01, max_value=1e6),
    cap=st.floats(min_value=0.0, max_value=5.0),
    base=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_gate_shut_again_and_again_delays_an_attempt_by_at_most_cap_plus_base(
    script: list[int], shut_for: float, cap: float, base: float
) -> None:
    """However often other requests shut the gate again, the pause before any attempt (this
    request's backoff and its gate waits together) stays within ``cap + base``: the bound of
    docs/retries.md, "How long a call can take"."""
    clock = FakeClock()
    gate = ThrottleGate()
    gate.hold(clock.monotonic() + shut_for)
    pauses: list[float] = []
    policy = RetryPolicy(base=base, cap=cap)
    run(
        [Response(status, {}, b"") for status in script],
        clock,
        policy=policy,
        gate=gate,
        meanwhile=lambda seconds: gate.hold(clock.monotonic() + seconds + shut_for),
        pauses=pauses,
    )
    assert pauses
    assert max(pauses) <= cap + base + 1e-9


def test_server_errors_do_not_close_the_gate(clock: FakeClock) -> None:
    """Only throttling pauses the other requests; a 500 is this request's own business."""
    gate = ThrottleGate()
    run([Response(500, {}, b""), Response(200, {}, b"")], clock, gate=gate)
    assert gate.remaining(clock.monotonic() - 10) <= 0


def test_instant_retries_ignore_the_gate(clock: FakeClock) -> None:
    """Under instant_retries a shut gate does not make anyone sleep."""
    gate = ThrottleGate()
    gate.hold(clock.monotonic() + 5)
    with instant_retries():
        run([Response(200, {}, b"")], clock, gate=gate)
    assert clock.sleeps == []
