"""Hostile servers over real sockets: every call ends, with a value or the documented IMDSError.

The behaviours are ``tests/reliability/_hostile.py``'s catalogue, played by a raw-socket server
on 127.0.0.1 at a fast pace (one drip every 30 ms) against a 0.2 s timeout, so the per-read
timeout never fires and only the attempt's total deadline can end a call.  Backoff sleeps go to
a ``FakeClock``; the only real waiting is the deadline itself.  ``within`` is a liveness guard
(30 s, far above any documented bound), not a timing threshold.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from imdsclient import AsyncIMDSClient, IMDSClient, IMDSError, RetryPolicy, ThrottledError
from imdsclient.testing import FakeClock
from tests.reliability._hostile import BEHAVIOURS, ID, TOKEN, Behaviour, by_name, respond, within
from tests.reliability._servers import RawServer, simple_answer

PACE = 0.03
TIMEOUT = 0.2
CLEAN = 5.0  # for tests that count requests: a loaded machine must not cause a retry
LIVENESS = 30.0


@pytest.fixture(params=["sync", "async"])
def shell(request: pytest.FixtureRequest) -> str:
    """Each test runs against both clients."""
    return str(request.param)


def attempt(shell: str, url: str, method: str, *args: Any, **options: Any) -> Any:
    """Call ``method`` on a fresh client of ``shell``: its value, or the IMDSError it raised
    (anything else propagates and fails the test)."""
    options = {"endpoint": url, "timeout": TIMEOUT, "clock": FakeClock(), **options}
    try:
        if shell == "sync":
            with IMDSClient(**options) as client:
                return getattr(client, method)(*args)

        async def run() -> Any:
            async with AsyncIMDSClient(**options) as client:
                return await getattr(client, method)(*args)

        return asyncio.run(run())
    except IMDSError as exc:
        return exc


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.name)
def test_get_ends_with_the_value_or_the_documented_error(behaviour: Behaviour, shell: str) -> None:
    """get() against each hostile behaviour returns the value or raises its IMDSError, and ends."""
    with RawServer(respond(behaviour, PACE)) as server:
        outcome = within(LIVENESS, lambda: attempt(shell, server.url, "get", "instance-id"))
    if behaviour.get_error is None:
        assert outcome == behaviour.value
    else:
        assert isinstance(outcome, behaviour.get_error), outcome
        assert str(outcome)


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.name)
def test_is_available_answers_whatever_the_server_does(behaviour: Behaviour, shell: str) -> None:
    """is_available() is True exactly when get() would have a value; it never raises or hangs."""
    with RawServer(respond(behaviour, PACE)) as server:
        answer = within(LIVENESS, lambda: attempt(shell, server.url, "is_available"))
    assert answer is (behaviour.get_error is None)


@pytest.mark.parametrize("name", ["drip-head", "drip-body", "interim-102", "chunked-drip"])
def test_a_drip_is_cut_off_by_the_attempt_deadline(name: str, shell: str) -> None:
    """A drip faster than the per-read timeout still ends each attempt: one GET per attempt,
    the configured number of attempts, then IMDSTimeoutError."""
    with RawServer(respond(by_name(name), PACE)) as server:
        outcome = within(LIVENESS, lambda: attempt(shell, server.url, "get", "instance-id"))
        gets = [method for _, method, _ in server.requests if method == "GET"]
    assert type(outcome).__name__ == "IMDSTimeoutError"
    assert len(gets) == 3  # num_attempts: each attempt ended, none was endless


def test_a_dripped_token_answer_falls_back_like_a_dropped_one(shell: str) -> None:
    """A token PUT whose answer drips past the deadline is treated as unanswered (hop limit):
    IMDSv1 fallback, and the GET answers."""
    with RawServer(respond(by_name("drip-put"), PACE)) as server:
        value = within(LIVENESS, lambda: attempt(shell, server.url, "get", "instance-id"))
        methods = [method for _, method, _ in server.requests]
    assert value == ID.decode()
    assert methods[0] == "PUT"
    assert set(methods[1:]) == {"GET"}  # no second PUT: the fallback stands


def test_extra_bytes_after_the_body_never_answer_the_next_request(shell: str) -> None:
    """A Content-Length shorter than what was sent: the connection is not reused, so the next
    request gets its own answer, never the smuggled one."""
    with RawServer(respond(by_name("short-content-length"), PACE)) as server:
        if shell == "sync":
            with IMDSClient(endpoint=server.url, timeout=CLEAN, clock=FakeClock()) as client:
                values = within(LIVENESS, lambda: [client.get("a"), client.get("b")])
        else:

            async def run() -> list[str]:
                options = {"endpoint": server.url, "timeout": CLEAN, "clock": FakeClock()}
                async with AsyncIMDSClient(**options) as client:  # type: ignore[arg-type]
                    return [await client.get("a"), await client.get("b")]

            values = within(LIVENESS, lambda: asyncio.run(run()))
        by_port = [(port, method) for port, method, _ in server.requests]
    assert values == ["i-", "i-"]
    first, second = server.connections
    assert by_port == [(first, "PUT"), (first, "GET"), (second, "GET")]


def test_clean_answers_keep_their_connection(shell: str) -> None:
    """Answers that end where they said keep the connection alive: one connection for all."""

    def imds(method: str, path: str) -> list[bytes]:
        del path
        if method == "PUT":
            return simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
        return simple_answer(200, ID)

    with RawServer(imds) as server:
        if shell == "sync":
            with IMDSClient(endpoint=server.url, clock=FakeClock()) as client:
                values = [client.get("instance-id") for _ in range(3)]
        else:

            async def run() -> list[str]:
                async with AsyncIMDSClient(endpoint=server.url, clock=FakeClock()) as client:
                    return [await client.get("instance-id") for _ in range(3)]

            values = asyncio.run(run())
    assert values == [ID.decode()] * 3
    assert len(server.connections) == 1
    assert len(server.requests) == 4


@pytest.mark.parametrize("value", ["1e9", "120", "2"])
def test_retry_after_at_or_over_the_cap_waits_the_cap_each_time(value: str, shell: str) -> None:
    """Retry-After >= cap: nine waits of exactly the cap (18 s by default), the documented
    worst case, then ThrottledError."""
    clock = FakeClock()

    def throttle(method: str, path: str) -> list[bytes]:
        del method, path
        return simple_answer(429, b"", f"Retry-After: {value}")

    with RawServer(throttle) as server:
        outcome = within(
            LIVENESS, lambda: attempt(shell, server.url, "get_bytes", "x", clock=clock)
        )
    assert isinstance(outcome, ThrottledError)
    assert clock.sleeps == [RetryPolicy().cap] * 9
    assert sum(clock.sleeps) == 18.0


@pytest.mark.parametrize("value", ["1e-320", "0", "0.0001"])
def test_a_tiny_retry_after_cannot_cancel_the_backoff(value: str, shell: str) -> None:
    """Retry-After near zero: every wait is still at least the floor (base / 2) and full jitter
    still grows, so ten throttled attempts cannot be spent in a burst."""
    clock = FakeClock()
    policy = RetryPolicy()

    def throttle(method: str, path: str) -> list[bytes]:
        del method, path
        return simple_answer(429, b"", f"Retry-After: {value}")

    with RawServer(throttle) as server:
        outcome = within(
            LIVENESS,
            lambda: attempt(shell, server.url, "get_bytes", "x", clock=clock, rng=random.Random(3)),
        )
    assert isinstance(outcome, ThrottledError)
    assert len(clock.sleeps) == 9
    assert min(clock.sleeps) >= policy.floor == 0.05
    bounds = [min(policy.cap, policy.base * 2**n) for n in range(9)]
    assert all(wait <= bound for wait, bound in zip(clock.sleeps, bounds))
