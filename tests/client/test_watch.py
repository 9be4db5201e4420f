"""``watch()`` through both shells against the in-process simulator on a shared ``FakeClock``:
what is yielded (and only once), what each poll costs, and what happens when polls fail."""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import httpx
import pytest

from imdsclient import (
    AsyncIMDSClient,
    EndpointDisabledError,
    IMDSClient,
    IMDSDisabledError,
    InstanceEvent,
    RebalanceRecommendation,
    ScheduledEvent,
    SpotInstanceAction,
    WatchStatus,
    _watch,
)
from imdsclient._api.events import EVENTS_PATH, REBALANCE_PATH, SPOT_PATH
from imdsclient._api.lifecycle import TARGET_LIFECYCLE_PATH
from imdsclient.testing import FakeClock, SimulatorState, Timeline
from tests.conftest import AsyncAsSync, MakeClient

PATHS = [SPOT_PATH, REBALANCE_PATH, EVENTS_PATH, TARGET_LIFECYCLE_PATH]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # FakeClock's default wall time


@pytest.fixture
def sim(clock: FakeClock) -> SimulatorState:
    """A quiet instance (no Auto Scaling group either) on the test's clock."""
    state = SimulatorState(clock=clock)
    state.delete(TARGET_LIFECYCLE_PATH)
    return state


@pytest.fixture
def client(make_client: MakeClient, sim: SimulatorState) -> Any:
    """A client of either shell that talks to ``sim`` in-process."""
    return make_client(transport=httpx.MockTransport(sim.handle_httpx), num_attempts=1)


def take(client: Any, **options: Any) -> list[InstanceEvent]:
    """Every event of a bounded watch (``max_polls``), through either shell."""
    stream = client.watch(**options)
    if isinstance(client, AsyncAsSync):

        async def collect() -> list[InstanceEvent]:
            return [event async for event in stream]

        return client.loop.run_until_complete(collect())
    return list(stream)


def on_polls(steps: dict[int, Callable[[], object]]) -> Callable[[WatchStatus], None]:
    """An ``on_poll`` hook that changes the simulator after the given polls."""

    def hook(status: WatchStatus) -> None:
        step = steps.get(status.polls)
        if step is not None:
            step()

    return hook


def kinds_of(events: list[InstanceEvent]) -> list[str]:
    return [event.kind for event in events]


def test_the_first_poll_reports_everything_pending(client: Any, sim: SimulatorState) -> None:
    """Spot notice, rebalance, a scheduled event and the lifecycle state, in that order, once."""
    sim.schedule_spot_interruption("stop")
    sim.recommend_rebalance()
    event_id = sim.add_scheduled_event("instance-retirement")
    sim.set(TARGET_LIFECYCLE_PATH, "InService")
    events = take(client, max_polls=3)
    assert kinds_of(events) == list(_watch.KINDS)
    spot, rebalance, scheduled, lifecycle = (e.detail for e in events)
    assert isinstance(spot, SpotInstanceAction)
    assert spot.action == "stop"
    assert spot.time == START + timedelta(minutes=2)
    assert isinstance(rebalance, RebalanceRecommendation)
    assert isinstance(scheduled, ScheduledEvent)
    assert scheduled.event_id == event_id
    assert lifecycle == "InService"
    assert {e.seen_at for e in events} == {START}


def test_a_quiet_minute_costs_one_get_per_source_per_poll(
    client: Any, sim: SimulatorState, clock: FakeClock
) -> None:
    """Twelve polls at the default 5 s: 48 GETs, one token PUT, eleven 5 s sleeps, no events."""
    assert take(client, max_polls=12) == []
    assert sim.count("GET") == 48
    assert sim.count("PUT") == 1
    for path in PATHS:
        assert sim.count("GET", path) == 12
    assert clock.sleeps == [5.0] * 11


def test_kinds_limits_the_sources_polled(client: Any, sim: SimulatorState) -> None:
    """``kinds=`` polls only those sources; a single string is one kind."""
    sim.recommend_rebalance()
    assert take(client, max_polls=3, kinds="spot-interruption") == []
    assert sim.count("GET") == sim.count("GET", SPOT_PATH) == 3
    events = take(client, max_polls=2, kinds=["rebalance-recommendation", "spot-interruption"])
    assert kinds_of(events) == ["rebalance-recommendation"]
    assert sim.count("GET") == 3 + 4


def test_an_event_is_yielded_by_the_next_poll(make_client: MakeClient, clock: FakeClock) -> None:
    """A notice appearing between polls is yielded at most one interval later, once."""
    sim = SimulatorState(clock=clock, timeline=Timeline().spot_interruption(at=62.5))
    client = make_client(transport=httpx.MockTransport(sim.handle_httpx))
    events = take(client, max_polls=30, kinds=["spot-interruption"])
    assert len(events) == 1
    appeared = START + timedelta(seconds=62.5)
    assert timedelta(0) < events[0].seen_at - appeared <= timedelta(seconds=5)
    notice_time = appeared.replace(microsecond=0) + timedelta(minutes=2)  # IMDS: whole seconds
    assert events[0].detail.time == notice_time  # type: ignore[union-attr]


def test_a_changed_event_is_yielded_again_and_an_unchanged_one_is_not(
    client: Any, sim: SimulatorState
) -> None:
    """Scheduled events are keyed by EventId: new content is news, the same content is not."""
    sim.add_scheduled_event("system-reboot", event_id="ev-1")

    def reschedule() -> None:
        sim.clear_scheduled_events()
        sim.add_scheduled_event("system-reboot", event_id="ev-1", not_before=START + timedelta(9))
        sim.add_scheduled_event("instance-stop", event_id="ev-2")

    events = take(client, max_polls=6, on_poll=on_polls({3: reschedule}))
    ids = [(e.detail.event_id, e.seen_at) for e in events]  # type: ignore[union-attr]
    step = timedelta(seconds=5)
    assert ids == [("ev-1", START), ("ev-1", START + 3 * step), ("ev-2", START + 3 * step)]


def test_completed_and_canceled_maintenance_events_are_ignored(
    client: Any, sim: SimulatorState
) -> None:
    """Like aws-node-termination-handler: an ended event is never an event, even one seen
    active before."""
    sim.add_scheduled_event(event_id="done", state="completed")
    sim.add_scheduled_event(event_id="off", state="canceled")
    sim.add_scheduled_event(event_id="past", description="[Completed] The instance was rebooted")
    sim.add_scheduled_event(event_id="live")

    def complete_live() -> None:
        sim.clear_scheduled_events()
        sim.add_scheduled_event(event_id="live", state="completed")

    events = take(client, max_polls=4, on_poll=on_polls({2: complete_live}))
    assert [e.detail.event_id for e in events] == ["live"]  # type: ignore[union-attr]


def test_a_notice_withdrawn_and_published_again_is_news_again(
    client: Any, sim: SimulatorState
) -> None:
    """Nothing there is remembered too: spot, withdrawn, spot again gives two events."""
    sim.schedule_spot_interruption()
    events = take(
        client,
        max_polls=5,
        on_poll=on_polls({2: sim.cancel_spot_interruption, 3: sim.schedule_spot_interruption}),
    )
    assert [e.seen_at for e in events] == [START, START + timedelta(seconds=15)]


def test_the_lifecycle_state_is_reported_on_every_change(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """InService (the first value) and then Terminated, each once."""
    timeline = Timeline().autoscaling(in_service_at=0, terminated_at=40)
    sim = SimulatorState(clock=clock, timeline=timeline)
    client = make_client(transport=httpx.MockTransport(sim.handle_httpx))
    events = take(client, max_polls=20, kinds=["lifecycle-state"])
    assert [(e.detail, e.seen_at) for e in events] == [
        ("InService", START),
        ("Terminated", START + timedelta(seconds=40)),
    ]


def test_failed_reads_are_logged_and_retried_at_the_next_poll(
    client: Any, sim: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    """Three failed polls of one source: no exception; the notice published meanwhile arrives."""
    caplog.set_level(logging.INFO, logger="imdsclient")
    statuses: list[WatchStatus] = []

    def fail_and_publish(status: WatchStatus) -> None:
        statuses.append(status)
        if status.polls == 1:
            sim.inject("error", count=3, path=SPOT_PATH)
            sim.schedule_spot_interruption()

    events = take(client, max_polls=6, on_poll=fail_and_publish)
    assert [(e.kind, e.seen_at) for e in events] == [
        ("spot-interruption", START + timedelta(seconds=20))
    ]
    assert [s.failed for s in statuses] == [(), *[("spot-interruption",)] * 3, (), ()]
    failures = [r for r in caplog.records if "could not read spot-interruption" in r.message]
    assert len(failures) == 3
    assert all(r.levelno == logging.INFO for r in failures)


def test_blindness_is_reported_once_and_so_is_recovery(
    client: Any, sim: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    """A source unread for more than ``blind_after``: one WARNING, ``status.blind``, then one
    WARNING when it is read again."""
    caplog.set_level(logging.INFO, logger="imdsclient")
    sim.inject("error", count=8, path=EVENTS_PATH)  # polls 1-8, t = 0..35 s
    statuses: list[WatchStatus] = []
    take(client, max_polls=12, on_poll=statuses.append)
    blind = [(s.polls, s.unread_for) for s in statuses if s.blind]
    assert blind == [(8, 35.0)]  # polls 1-8 fail (t = 0..35 s); 30 s is not *more* than 30 s
    assert [s.blind for s in statuses if s.blind] == [("scheduled-event",)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("watch: scheduled-event not read for 35.0 s (more than 30 s)")
    assert "500" in warnings[0]  # the last error says why
    assert warnings[1] == "watch: every source read again; nothing is being missed now"


def test_polls_keep_to_the_interval_when_a_poll_retries(
    make_client: MakeClient, sim: SimulatorState, clock: FakeClock
) -> None:
    """A poll that backs off (a 500, retried) shortens the next wait: polls stay 5 s apart."""
    transport = httpx.MockTransport(sim.handle_httpx)
    client = make_client(transport=transport, num_attempts=3, rng=random.Random(7))
    statuses: list[WatchStatus] = []

    def fail_once(status: WatchStatus) -> None:
        statuses.append(status)
        if status.polls == 2:
            sim.inject("error", count=2, path=REBALANCE_PATH)

    take(client, max_polls=5, on_poll=fail_once)
    starts = [s.seen_at for s in statuses]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([5.0] * 4)
    backoff = clock.sleeps[2:4]  # poll 3: two retry sleeps, then the shortened wait
    assert min(backoff) > 0
    assert clock.sleeps[4] == pytest.approx(5 - sum(backoff))
    assert [s.failed for s in statuses] == [()] * 5


def test_an_expired_token_is_refreshed_without_a_hiccup(client: Any, sim: SimulatorState) -> None:
    """IMDS forgetting the token between polls (401) costs one PUT and no event."""
    sim.recommend_rebalance()
    events = take(client, max_polls=4, on_poll=on_polls({2: sim.invalidate_tokens}))
    assert kinds_of(events) == ["rebalance-recommendation"]
    assert sim.count("PUT") == 2
    assert sim.count("GET", status=401) == 1


def test_throttling_is_absorbed(make_client: MakeClient, sim: SimulatorState) -> None:
    """A throttled stretch slows polls down (retries) but raises nothing and loses nothing."""
    client = make_client(transport=httpx.MockTransport(sim.handle_httpx))
    sim.set(TARGET_LIFECYCLE_PATH, "InService")

    def throttle() -> None:
        sim.throttle_next(25)
        sim.set(TARGET_LIFECYCLE_PATH, "Terminated")

    events = take(client, max_polls=5, kinds=["lifecycle-state"], on_poll=on_polls({1: throttle}))
    assert [e.detail for e in events] == ["InService", "Terminated"]
    assert sim.count("GET", status=429) == 25


def test_a_first_poll_that_reads_nothing_raises(make_client: MakeClient) -> None:
    """Endpoint switched off (403): the first poll raises what a plain call raises."""
    sim = SimulatorState(endpoint_enabled=False)
    client = make_client(transport=httpx.MockTransport(sim.handle_httpx))
    with pytest.raises(EndpointDisabledError):
        take(client, max_polls=3)  # bounded, should the first-poll rule break
    assert sim.count("PUT") == 4  # each source asked for a token once, and was refused
    assert sim.count("GET") == 0


def test_disabled_imds_raises_at_once(make_client: MakeClient) -> None:
    """``disabled=True``: the first poll raises IMDSDisabledError and sends nothing."""
    sim = SimulatorState()
    client = make_client(transport=httpx.MockTransport(sim.handle_httpx), disabled=True)
    with pytest.raises(IMDSDisabledError):
        take(client, max_polls=3)  # bounded, should the first-poll rule break
    assert sim.count() == 0


def test_a_first_poll_that_reads_something_does_not_raise(client: Any, sim: SimulatorState) -> None:
    """One source failing at the first poll is absorbed like any later failure."""
    sim.inject("error", count=1, path=SPOT_PATH)
    sim.recommend_rebalance()
    assert kinds_of(take(client, max_polls=1)) == ["rebalance-recommendation"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval": 0}, "interval must be a number of seconds greater than 0"),
        ({"interval": -5}, "greater than 0"),
        ({"interval": float("nan")}, "greater than 0"),
        ({"interval": float("inf")}, "greater than 0"),
        ({"interval": "soon"}, "interval must be a number of seconds"),
        ({"interval": True}, "greater than 0"),
        ({"blind_after": 0}, "blind_after must be"),
        ({"max_polls": 0}, "max_polls must be None or a whole number of at least 1"),
        ({"max_polls": 2.5}, "max_polls must be"),
        ({"kinds": ["spot"]}, r"unknown event kinds \['spot'\]"),
        ({"kinds": []}, "kinds is empty"),
    ],
)
def test_bad_arguments_raise_before_anything_is_sent(
    client: Any, sim: SimulatorState, options: dict[str, Any], message: str
) -> None:
    """A ValueError naming the argument, at the call (not at the first ``next``)."""
    with pytest.raises(ValueError, match=message):
        client.watch(**options)
    assert sim.count() == 0


def test_stopping_early_sends_nothing_more(client: Any, sim: SimulatorState) -> None:
    """Leaving the loop after the first event ends the watch: only the first poll was sent."""
    sim.schedule_spot_interruption()
    stream = client.watch()
    if isinstance(client, AsyncAsSync):

        async def first_then_close() -> InstanceEvent:
            event: InstanceEvent = await stream.__anext__()
            await stream.aclose()
            return event

        event = client.loop.run_until_complete(first_then_close())
    else:
        event = next(stream)
        stream.close()
    assert event.kind == "spot-interruption"
    assert sim.count("GET") == 4


def test_an_exception_from_on_poll_ends_the_watch(client: Any) -> None:
    """``on_poll`` raising stops the iterator with that exception (the helpers rely on it)."""

    def stop(status: WatchStatus) -> None:
        raise KeyError("enough")

    with pytest.raises(KeyError, match="enough"):
        take(client, max_polls=3, on_poll=stop)


def test_both_shells_document_and_default_watch_alike() -> None:
    """Same docstring and defaults on both shells, and the defaults are ``_watch``'s."""
    assert IMDSClient.watch.__doc__ == AsyncIMDSClient.watch.__doc__
    for cls in (IMDSClient, AsyncIMDSClient):
        params = inspect.signature(cls.watch).parameters
        assert params["interval"].default == _watch.DEFAULT_INTERVAL
        assert params["blind_after"].default == _watch.DEFAULT_BLIND_AFTER
        assert params["kinds"].default is None


def test_a_sync_watch_is_a_plain_iterator(sim: SimulatorState, clock: FakeClock) -> None:
    """``IMDSClient.watch()`` works with ``next()`` and ``for``: nothing async about it."""
    sim.recommend_rebalance()
    with IMDSClient(clock=clock, transport=httpx.MockTransport(sim.handle_httpx)) as imds:
        stream: Iterator[InstanceEvent] = imds.watch(max_polls=2)
        assert next(stream).kind == "rebalance-recommendation"
        assert list(stream) == []
