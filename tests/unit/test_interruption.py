"""Which events mean the instance is about to go away, and by when (``interruption_from``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from imdsclient import InstanceEvent, Interruption
from imdsclient._shutdown import interruption_from
from tests.unit.test_watch_tracker import T0, scheduled, spot


def event(kind: Any, detail: Any) -> InstanceEvent:
    return InstanceEvent(kind, detail, T0)


def test_a_spot_notice_of_any_action_is_an_interruption_with_its_time() -> None:
    """terminate, stop and hibernate all mean going away; the deadline is the notice's time."""
    for action in ("terminate", "stop", "hibernate"):
        found = interruption_from(event("spot-interruption", spot(2, action)), 120)
        assert found == Interruption(
            "spot-interruption",
            T0 + timedelta(minutes=2),
            event("spot-interruption", spot(2, action)),
        )


def test_terminated_is_an_interruption_after_the_grace() -> None:
    """Auto Scaling's Terminated: the poll's time plus ``lifecycle_grace``."""
    found = interruption_from(event("lifecycle-state", "Terminated"), 900)
    assert found is not None
    assert found.reason == "lifecycle-state"
    assert found.deadline == T0 + timedelta(seconds=900)


def test_other_events_are_not_interruptions() -> None:
    """InService, Warmed:Stopped, a rebalance recommendation or maintenance: not going away."""
    for kind, detail in (
        ("lifecycle-state", "InService"),
        ("lifecycle-state", "Warmed:Stopped"),
        ("scheduled-event", scheduled("a")),
    ):
        assert interruption_from(event(kind, detail), 120) is None


def test_seconds_left_counts_down_and_stops_at_zero() -> None:
    """Seconds until the deadline from the given moment, never below zero."""
    found = interruption_from(event("spot-interruption", spot(2)), 120)
    assert found is not None
    assert found.seconds_left(T0) == 120.0
    assert found.seconds_left(T0 + timedelta(seconds=90)) == 30.0
    assert found.seconds_left(T0 + timedelta(hours=1)) == 0.0
