"""The pure part of watching: what counts as news (``Tracker``), and ended maintenance events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from imdsclient import InstanceEvent, ScheduledEvent, SpotInstanceAction
from imdsclient._watch import Tracker, is_ended

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def scheduled(event_id: str, state: str = "active", description: str = "reboot") -> ScheduledEvent:
    return ScheduledEvent.model_validate(
        {
            "Code": "system-reboot",
            "Description": description,
            "EventId": event_id,
            "NotBefore": "21 Jan 2026 09:00:00 GMT",
            "State": state,
        }
    )


def spot(minute: int, action: str = "terminate") -> SpotInstanceAction:
    return SpotInstanceAction(action=action, time=T0 + timedelta(minutes=minute))


def test_a_value_is_news_once_and_again_only_when_it_changes() -> None:
    """Same value twice: one event; a different value: another."""
    tracker = Tracker()
    assert [e.detail for e in tracker.update("spot-interruption", spot(2), T0)] == [spot(2)]
    assert tracker.update("spot-interruption", spot(2), T0) == []
    assert [e.detail for e in tracker.update("spot-interruption", spot(3), T0)] == [spot(3)]


def test_nothing_there_is_never_news_but_is_remembered() -> None:
    """``None`` yields nothing, and the same notice after it is news again."""
    tracker = Tracker()
    assert tracker.update("rebalance-recommendation", None, T0) == []
    assert len(tracker.update("spot-interruption", spot(2), T0)) == 1
    assert tracker.update("spot-interruption", None, T0) == []
    assert len(tracker.update("spot-interruption", spot(2), T0)) == 1


def test_the_first_lifecycle_state_is_news() -> None:
    """The first value seen is reported, and each change after it."""
    tracker = Tracker()
    states = ["InService", "InService", "Terminated"]
    news = [e.detail for s in states for e in tracker.update("lifecycle-state", s, T0)]
    assert news == ["InService", "Terminated"]


def test_events_carry_kind_and_poll_time() -> None:
    """Each event names its kind and the time of the poll that found it."""
    later = T0 + timedelta(seconds=5)
    (event,) = Tracker().update("lifecycle-state", "Terminated", later)
    assert event == InstanceEvent("lifecycle-state", "Terminated", later)


def test_scheduled_events_are_keyed_by_event_id() -> None:
    """A new id is news; a changed event is news; a vanished one is forgotten."""
    tracker = Tracker()
    first = tracker.update("scheduled-event", [scheduled("a"), scheduled("b")], T0)
    assert [e.detail.event_id for e in first] == ["a", "b"]  # type: ignore[union-attr]
    changed = tracker.update(
        "scheduled-event", [scheduled("a"), scheduled("b", description="x")], T0
    )
    assert [e.detail.event_id for e in changed] == ["b"]  # type: ignore[union-attr]
    assert tracker.update("scheduled-event", [], T0) == []
    again = tracker.update("scheduled-event", [scheduled("a")], T0)
    assert [e.detail.event_id for e in again] == ["a"]  # type: ignore[union-attr]


def test_ended_maintenance_events_are_never_news() -> None:
    """completed / canceled (any case), or a [Completed] / [Canceled] description."""
    ended = [
        scheduled("1", "completed"),
        scheduled("2", "Canceled"),
        scheduled("3", description="[Completed] The instance was rebooted"),
        scheduled("4", description="[Canceled] Not needed after all"),
    ]
    assert all(is_ended(e) for e in ended)
    assert not is_ended(scheduled("5"))
    tracker = Tracker()
    assert tracker.update("scheduled-event", ended, T0) == []
    assert len(tracker.update("scheduled-event", [scheduled("5")], T0)) == 1
    assert tracker.update("scheduled-event", [scheduled("5", "completed")], T0) == []


@given(st.lists(st.sampled_from([None, "InService", "Terminated", "Standby"]), max_size=30))
def test_news_is_exactly_the_changes_to_a_value(reads: list[str | None]) -> None:
    """For any sequence of reads, the events are the reads that differ from the one before."""
    tracker = Tracker()
    news = [e.detail for r in reads for e in tracker.update("lifecycle-state", r, T0)]
    expected = [r for i, r in enumerate(reads) if r is not None and (i == 0 or reads[i - 1] != r)]
    assert news == expected


@given(st.lists(st.sets(st.sampled_from("abcd")), max_size=20))
def test_each_event_id_is_news_when_it_appears(polls: list[set[str]]) -> None:
    """An id is yielded at each poll where it is present and was absent at the poll before."""
    tracker = Tracker()
    previous: set[str] = set()
    for ids in polls:
        reads = [scheduled(i) for i in sorted(ids)]
        news = {e.detail.event_id for e in tracker.update("scheduled-event", reads, T0)}  # type: ignore[union-attr]
        assert news == ids - previous
        previous = ids
