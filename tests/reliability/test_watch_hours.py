"""Six simulated hours of ``watch()`` on a ``FakeClock``, through both shells: a whole lifecycle
played by a ``Timeline``, every event yielded once and within one interval, one GET per source
per poll, and the token refreshed ahead of expiry (never a 401)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from imdsclient import InstanceEvent
from imdsclient._api.lifecycle import TARGET_LIFECYCLE_PATH
from imdsclient.testing import FakeClock, SimulatorState, Timeline
from tests.client.test_watch import take
from tests.conftest import MakeClient

HOURS = 6
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

#: (seconds after the start, kind, detail key) of every event the timeline below produces.
EXPECTED = [
    (0.0, "lifecycle-state", "InService"),
    (3613.0, "rebalance-recommendation", None),
    (7207.0, "scheduled-event", "ev-reboot"),
    (10821.0, "scheduled-event", "ev-stop"),
    (18000.0, "lifecycle-state", "Terminated"),
    (19803.0, "spot-interruption", "terminate"),
]


def lifecycle() -> Timeline:
    """Rebalance at ~1 h, two maintenance events (each completed 7 min later), scale-in at 5 h,
    a Spot notice at 5.5 h; times off the poll grid on purpose."""
    return (
        Timeline()
        .autoscaling(terminated_at=18000)
        .rebalance_recommendation(at=3613)
        .maintenance(at=7207, event_id="ev-reboot")
        .maintenance(at=10821, code="instance-stop", event_id="ev-stop")
        .spot_interruption(at=19803)
    )


def key(event: InstanceEvent) -> tuple[str, Any]:
    detail: Any = event.detail
    if event.kind == "scheduled-event":
        return event.kind, detail.event_id
    if event.kind == "spot-interruption":
        return event.kind, detail.action
    return event.kind, detail if isinstance(detail, str) else None


def watch_hours(make_client: MakeClient, clock: FakeClock, sim: SimulatorState, **kw: Any) -> Any:
    interval = kw.pop("interval")
    client = make_client(transport=httpx.MockTransport(sim.handle_httpx), token_ttl=3600, **kw)
    polls = int(HOURS * 3600 / interval)
    return take(client, interval=interval, max_polls=polls), polls


def test_six_hours_every_event_once_within_one_interval(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """No event missed or repeated, each seen at most one interval after it appeared; 4 GETs a
    poll; seven token PUTs (one an hour, 2 min early) and not a single 401."""
    sim = SimulatorState(clock=clock, timeline=lifecycle(), log_limit=None)
    sim.delete(TARGET_LIFECYCLE_PATH)  # until the timeline says InService (at once)
    interval = 30.0
    events, polls = watch_hours(make_client, clock, sim, interval=interval)
    assert [key(e) for e in events] == [(kind, detail) for _, kind, detail in EXPECTED]
    for event, (at, _, _) in zip(events, EXPECTED):
        lag = event.seen_at - (START + timedelta(seconds=at))
        assert timedelta(0) <= lag <= timedelta(seconds=interval), (event, lag)
    assert sim.count("GET") == 4 * polls
    assert sim.count("PUT") == 7
    assert sim.count(status=401) == 0
    assert clock.sleeps == [interval] * (polls - 1)
    assert len(sim.requests) == 4 * polls + 7


def test_six_hours_under_random_faults_nothing_missed_or_repeated(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """With ~10 % of requests failing (500s and resets), the watch never raises and yields the
    same six events, once each."""
    sim = SimulatorState(clock=clock, timeline=lifecycle(), log_limit=None)
    sim.delete(TARGET_LIFECYCLE_PATH)
    sim.fault_rate(0.10, ("error", "reset"), seed=19)
    events, polls = watch_hours(make_client, clock, sim, interval=60.0, num_attempts=2)
    assert sorted(key(e) for e in events) == sorted((k, d) for _, k, d in EXPECTED)
    assert sim.count(status=500) > 0  # the faults did happen
    assert sim.count("GET") >= 4 * polls
