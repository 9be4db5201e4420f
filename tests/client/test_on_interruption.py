"""``on_interruption`` / ``async_on_interruption``: the callback once, with the deadline, when the
instance is about to go away; stoppable; failures reported, never raised into a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import imdsclient
from imdsclient import (
    AsyncIMDSClient,
    IMDSClient,
    IMDSConnectionError,
    Interruption,
    InterruptionWatcher,
)
from imdsclient._api.lifecycle import TARGET_LIFECYCLE_PATH
from imdsclient.testing import FakeClock, IMDSSimulator, SimulatorState, Timeline

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
WAIT = 30.0  # a guard against a hang, never a measurement


class PolledSimulator(IMDSSimulator):
    """An ``IMDSSimulator`` that says when it has answered ``after`` requests."""

    after = 3  # the token PUT and the two GETs of the first poll

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.polled = threading.Event()

    def handle(self, method: str, target: str, headers: Any) -> Any:
        reply = super().handle(method, target, headers)
        if self.count() >= self.after:
            self.polled.set()
        return reply


def in_process(clock: FakeClock, timeline: Timeline) -> tuple[SimulatorState, httpx.MockTransport]:
    sim = SimulatorState(clock=clock, timeline=timeline)
    sim.delete(TARGET_LIFECYCLE_PATH)
    return sim, httpx.MockTransport(sim.handle_httpx)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[PolledSimulator]:
    """A quiet simulator on 127.0.0.1 that a client built from the environment talks to."""
    sim = PolledSimulator()
    with sim:
        sim.delete(TARGET_LIFECYCLE_PATH)
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", sim.url)
        yield sim


def test_a_spot_notice_calls_back_once_with_its_deadline(clock: FakeClock) -> None:
    """The notice arriving at +60 s: ``interrupted`` set, the callback called once with the
    notice's time as the deadline, and the watcher ends."""
    sim, transport = in_process(clock, Timeline().spot_interruption(at=60))
    calls: list[Interruption] = []
    with IMDSClient(clock=clock, transport=transport) as imds:
        watcher = imdsclient.on_interruption(calls.append, client=imds)
        found = watcher.wait(WAIT)
        watcher.stop(WAIT)
    assert found is not None
    assert calls == [found]
    assert watcher.interrupted.is_set()
    assert found.reason == "spot-interruption"
    assert found.deadline == START + timedelta(seconds=180)
    assert found.event.seen_at == START + timedelta(seconds=60)
    assert not watcher.running
    assert watcher.error is None
    assert set(r.path for r in sim.requests if r.method == "GET") == {
        "/latest/meta-data/spot/instance-action",
        TARGET_LIFECYCLE_PATH,
    }


def test_a_scale_in_gives_the_poll_time_plus_the_grace(clock: FakeClock) -> None:
    """Auto Scaling's ``Terminated``: deadline = when it was seen + ``lifecycle_grace``."""
    _, transport = in_process(clock, Timeline().autoscaling(terminated_at=600))
    imds = IMDSClient(clock=clock, transport=transport)
    with imds, imdsclient.on_interruption(client=imds, lifecycle_grace=900) as watcher:
        found = watcher.wait(WAIT)
    assert found is not None
    assert found.reason == "lifecycle-state"
    assert found.deadline == START + timedelta(seconds=600 + 900)


def test_a_callback_that_raises_is_reported_not_lost(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The exception is kept in ``error`` and logged (with its traceback) as an ERROR."""
    _, transport = in_process(clock, Timeline().spot_interruption(at=0))

    def broken(found: Interruption) -> None:
        raise ZeroDivisionError("drain failed")

    with IMDSClient(clock=clock, transport=transport) as imds:
        watcher = imdsclient.on_interruption(broken, client=imds)
        watcher.stop(WAIT)  # from outside: waits for the thread, which ends by itself
    assert isinstance(watcher.error, ZeroDivisionError)
    assert watcher.interrupted.is_set()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None


def test_off_ec2_the_watcher_ends_with_the_error(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening (the test environment's 127.0.0.1:9): ``error`` is the connection
    error, ``wait()`` returns None at once, nothing is interrupted."""
    watcher = imdsclient.on_interruption()
    assert watcher.wait(WAIT) is None
    assert isinstance(watcher.error, IMDSConnectionError)
    assert not watcher.interrupted.is_set()
    watcher.stop(WAIT)
    assert not watcher.running
    assert any("watching stopped" in r.getMessage() for r in caplog.records)


def test_a_closed_client_ends_the_watcher_with_its_error(clock: FakeClock) -> None:
    """Your client closed under it: ``error`` is the RuntimeError saying so; nothing hangs."""
    imds = IMDSClient(clock=clock, transport=httpx.MockTransport(SimulatorState().handle_httpx))
    imds.close()
    watcher = imdsclient.on_interruption(client=imds)
    assert watcher.wait(WAIT) is None
    assert isinstance(watcher.error, RuntimeError)
    assert "closed" in str(watcher.error)


def test_stop_ends_a_watcher_with_its_own_client_during_its_sleep(
    endpoint: PolledSimulator,
) -> None:
    """After the first poll the thread sleeps an hour; ``stop()`` ends it at once."""
    watcher = imdsclient.on_interruption(interval=3600)
    assert endpoint.polled.wait(WAIT)
    watcher.stop(WAIT)
    assert not watcher.running
    assert watcher.error is None
    assert watcher.interruption is None
    assert endpoint.count("GET") == 2  # one poll, two sources


def test_bad_settings_are_a_value_error_at_the_call(clock: FakeClock) -> None:
    """A negative grace or a zero interval fails in the caller's thread, before any request."""
    with pytest.raises(ValueError, match="lifecycle_grace"):
        imdsclient.on_interruption(lifecycle_grace=-1)
    sim = SimulatorState(clock=clock)
    imds = IMDSClient(clock=clock, transport=httpx.MockTransport(sim.handle_httpx))
    with imds, pytest.raises(ValueError, match="interval"):
        imdsclient.on_interruption(client=imds, interval=0)
    assert sim.count() == 0


def test_the_watcher_type_is_exported() -> None:
    """``on_interruption`` returns the exported ``InterruptionWatcher``."""
    watcher = imdsclient.on_interruption()
    watcher.stop(WAIT)
    assert isinstance(watcher, InterruptionWatcher)


# -- asyncio ----------------------------------------------------------------------------------


def test_async_a_coroutine_callback_is_awaited(clock: FakeClock) -> None:
    """``async_on_interruption``: the coroutine callback runs once; ``wait()`` gives the same
    interruption; the task ends."""
    _, transport = in_process(clock, Timeline().spot_interruption(at=30))
    calls: list[Interruption] = []

    async def drain(found: Interruption) -> None:
        await asyncio.sleep(0)
        calls.append(found)

    async def main() -> tuple[Interruption | None, Any]:
        async with AsyncIMDSClient(clock=clock, transport=transport) as imds:
            async with imdsclient.async_on_interruption(drain, client=imds) as watcher:
                found = await asyncio.wait_for(watcher.wait(), WAIT)
            return found, watcher  # leaving the block waited for the callback to finish

    found, watcher = asyncio.run(main())
    assert found is not None
    assert calls == [found]
    assert found.deadline == START + timedelta(seconds=150)
    assert watcher.interrupted.is_set()
    assert not watcher.running


def test_async_stop_cancels_the_sleep_at_once(endpoint: PolledSimulator) -> None:
    """The task sleeps an hour after its first poll; ``await stop()`` ends it at once."""

    async def main() -> Any:
        watcher = imdsclient.async_on_interruption(interval=3600)
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, endpoint.polled.wait, WAIT)
        await asyncio.wait_for(watcher.stop(), WAIT)
        return watcher

    watcher = asyncio.run(main())
    assert not watcher.running
    assert watcher.error is None
    assert endpoint.count("GET") == 2


def test_async_off_ec2_wait_returns_none_with_the_error() -> None:
    """Off EC2 the task ends with the connection error, and ``wait()`` does not hang."""

    async def main() -> Any:
        watcher = imdsclient.async_on_interruption()
        assert await asyncio.wait_for(watcher.wait(), WAIT) is None
        return watcher

    watcher = asyncio.run(main())
    assert isinstance(watcher.error, IMDSConnectionError)


def test_async_needs_a_running_loop() -> None:
    """Called outside async code: a RuntimeError, before anything starts."""
    with pytest.raises(RuntimeError):
        imdsclient.async_on_interruption()
