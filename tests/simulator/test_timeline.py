"""``Timeline``: a lifecycle played on the simulator's clock, applied lazily as requests arrive."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from imdsclient.testing import FakeClock, IMDSSimulator, SimulatorState, Timeline

MD = "/latest/meta-data/"


def get(sim: SimulatorState, leaf: str) -> tuple[int, str]:
    reply = sim.handle("GET", MD + leaf, {})
    return reply.status, reply.body.decode()


def get_json(sim: SimulatorState, leaf: str) -> Any:
    status, body = get(sim, leaf)
    assert status == 200, (leaf, status, body)
    return json.loads(body)


def test_steps_apply_in_order_when_their_time_has_come() -> None:
    """Nothing before its time; everything due is applied by the next request, in order."""
    clock = FakeClock()
    sim = SimulatorState(clock=clock, timeline=Timeline().rebalance_recommendation(at=10))
    assert get(sim, "events/recommendations/rebalance")[0] == 404
    clock.advance(9.5)
    assert get(sim, "events/recommendations/rebalance")[0] == 404
    clock.advance(0.5)
    assert get_json(sim, "events/recommendations/rebalance") == {
        "noticeTime": "2026-01-01T00:00:10Z"
    }


def test_a_spot_notice_is_two_minutes_ahead_of_its_own_moment() -> None:
    """Due at +60 s, applied by a request at +63 s: ``time`` is still start + 180 s."""
    clock = FakeClock()
    sim = SimulatorState(clock=clock, timeline=Timeline().spot_interruption(at=60))
    clock.advance(63)
    assert get_json(sim, "spot/instance-action") == {
        "action": "terminate",
        "time": "2026-01-01T00:03:00Z",
    }
    assert get(sim, "spot/termination-time") == (200, "2026-01-01T00:03:00Z")


def test_a_maintenance_event_is_scheduled_then_completed_into_history() -> None:
    """Active in ``scheduled``; at the end of its window it moves to ``history`` as
    ``completed`` with a ``[Completed]`` description."""
    clock = FakeClock()
    timeline = Timeline().maintenance(at=30, starts_after=60, lasts=120, event_id="ev-9")
    sim = SimulatorState(clock=clock, timeline=timeline)
    clock.advance(30)
    (event,) = get_json(sim, "events/maintenance/scheduled")
    assert event == {
        "NotBefore": "1 Jan 2026 00:01:30 GMT",
        "Code": "system-reboot",
        "Description": "The instance is scheduled for system-reboot",
        "EventId": "ev-9",
        "NotAfter": "1 Jan 2026 00:03:30 GMT",
        "NotBeforeDeadline": "8 Jan 2026 00:01:30 GMT",
        "State": "active",
    }
    assert get_json(sim, "events/maintenance/history") == []
    clock.advance(180)
    assert get_json(sim, "events/maintenance/scheduled") == []
    (past,) = get_json(sim, "events/maintenance/history")
    assert past["State"] == "completed"
    assert past["Description"] == "[Completed] The instance is scheduled for system-reboot"
    assert get(sim, "events/maintenance/") == (200, "history\nscheduled")


def test_auto_scaling_goes_from_in_service_to_terminated() -> None:
    """``InService`` from the start, ``Terminated`` at the scale-in."""
    clock = FakeClock()
    sim = SimulatorState(clock=clock, timeline=Timeline().autoscaling(terminated_at=300))
    assert get(sim, "autoscaling/target-lifecycle-state") == (200, "InService")
    clock.advance(299)
    assert get(sim, "autoscaling/target-lifecycle-state") == (200, "InService")
    clock.advance(1)
    assert get(sim, "autoscaling/target-lifecycle-state") == (200, "Terminated")


def test_applied_lists_what_happened_and_steps_what_is_planned() -> None:
    """``steps`` are in time order whatever the order of building; ``applied`` grows as they run."""
    clock = FakeClock()
    timeline = Timeline().spot_interruption(at=50).rebalance_recommendation(at=20)
    assert [s.at for s in timeline.steps] == [20.0, 50.0]
    sim = SimulatorState(clock=clock)
    sim.play(timeline)
    clock.advance(30)
    get(sim, "instance-id")
    assert timeline.applied == [(20.0, "rebalance recommendation")]


def test_a_custom_step_gets_the_simulator_and_its_due_time() -> None:
    """``at(seconds, what, change)``: any knob, at any time, with the wall time it was due."""
    clock = FakeClock()
    seen: list[float] = []

    def retire(state: SimulatorState, due: float) -> None:
        seen.append(due)
        state.set("instance-type", "m7i.large")

    sim = SimulatorState(clock=clock, timeline=Timeline().at(5, "resize", retire))
    clock.advance(7)
    assert get(sim, "instance-type") == (200, "m7i.large")
    assert seen == [clock.time() - 2]


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "5", True])
def test_a_step_time_must_be_seconds_from_the_start(bad: Any) -> None:
    """Negative, NaN, infinite or non-numeric times are a ValueError."""
    with pytest.raises(ValueError, match="seconds >= 0"):
        Timeline().rebalance_recommendation(at=bad)


def test_a_timeline_plays_once_and_is_fixed_once_playing() -> None:
    """Adding steps after ``play`` or playing it twice is a RuntimeError."""
    timeline = Timeline().rebalance_recommendation(at=1)
    SimulatorState(clock=FakeClock(), timeline=timeline)
    with pytest.raises(RuntimeError, match="already playing"):
        timeline.spot_interruption(at=2)
    with pytest.raises(RuntimeError, match="plays once"):
        SimulatorState(clock=FakeClock(), timeline=timeline)


def test_bad_windows_are_refused() -> None:
    """A negative maintenance window, or Terminated before InService, is a ValueError."""
    with pytest.raises(ValueError, match="starts_after and lasts"):
        Timeline().maintenance(at=0, lasts=-1)
    with pytest.raises(ValueError, match="terminated_at"):
        Timeline().autoscaling(in_service_at=10, terminated_at=5)


def test_serve_flags_build_one_step_each_and_none_without_flags() -> None:
    """``from_seconds``: None when no flag is given; otherwise the steps of each."""
    assert Timeline.from_seconds() is None
    timeline = Timeline.from_seconds(
        spot_interruption=40, rebalance=10, maintenance=20, autoscaling_terminate=30
    )
    assert timeline is not None
    assert [(s.at, s.what.split(" (")[0]) for s in timeline.steps] == [
        (0.0, "lifecycle InService"),
        (10.0, "rebalance recommendation"),
        (20.0, "maintenance instance-event-00000000000000001"),
        (30.0, "lifecycle Terminated"),
        (40.0, "spot interruption"),
        (440.0, "maintenance instance-event-00000000000000001 completed"),
    ]


def test_the_tcp_simulator_plays_it_too() -> None:
    """``IMDSSimulator(timeline=...)`` on a FakeClock: the same lifecycle over a real socket."""
    clock = FakeClock()
    with IMDSSimulator(clock=clock, timeline=Timeline().spot_interruption(at=120)) as sim:
        url = sim.url + MD + "spot/instance-action"
        with httpx.Client(trust_env=False) as http:
            assert http.get(url).status_code == 404
            clock.advance(120)
            assert http.get(url).json()["time"] == "2026-01-01T00:04:00Z"
