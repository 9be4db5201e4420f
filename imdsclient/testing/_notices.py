"""Instance notices the simulator publishes on demand: spot interruption, rebalance, events.

These documents are not static data: tests switch them on and off while a client runs, and their
bodies carry times from the simulator clock. :class:`Notices` keeps that state and renders the
leaves; ``SimulatorState`` owns it, calls it under its lock (it is not thread-safe on its own) and
overlays what it renders on the tree.

Scheduled events live where IMDS keeps them: ``active`` ones in ``events/maintenance/scheduled``;
``completed`` and ``canceled`` ones in ``events/maintenance/history``, their ``Description``
prefixed with ``[Completed]`` or ``[Canceled]``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from imdsclient.testing import _tree
from imdsclient.testing._wire import SimulatorClock

__all__ = ["EVENT_STATES", "NoticeMethods", "Notices"]

EVENT_STATES = ("active", "completed", "canceled")
_PAST = {"completed": "[Completed] ", "canceled": "[Canceled] "}

_SPOT_LEAD = 120
_EVENT_LEAD = 7 * 86400
_EVENT_WINDOW = 2 * 3600
_EVENT_DEADLINE = 7 * 86400  # after the start


def _timestamp(moment: datetime | None, default: float) -> float:
    return moment.timestamp() if moment else default


class Notices:
    """The spot notice, the rebalance recommendation and the scheduled events list.

    The public ``SimulatorState`` methods (``schedule_spot_interruption`` and friends) document
    the behaviour and delegate here.
    """

    def __init__(self, clock: SimulatorClock) -> None:
        self._clock = clock
        self._spot: tuple[str, float] | None = None
        self._rebalance: float | None = None
        self._events: list[dict[str, str]] = []
        self._events_touched = False  # until then the tree's own scheduled list (if any) is served
        self._event_serial = 0

    def schedule_spot(self, action: str, at: datetime | None) -> None:
        if action not in ("terminate", "stop", "hibernate"):
            raise ValueError(f"unknown spot action {action!r}")
        self._spot = (action, _timestamp(at, self._clock.time() + _SPOT_LEAD))

    def cancel_spot(self) -> None:
        self._spot = None

    def recommend_rebalance(self, at: datetime | None) -> None:
        self._rebalance = _timestamp(at, self._clock.time())

    def clear_rebalance(self) -> None:
        self._rebalance = None

    def add_event(
        self,
        code: str,
        not_before: datetime | None,
        not_after: datetime | None,
        not_before_deadline: datetime | None,
        description: str | None,
        state: str,
        event_id: str | None,
    ) -> str:
        if state not in EVENT_STATES:
            raise ValueError(f"state must be one of {EVENT_STATES}, not {state!r}")
        start = _timestamp(not_before, self._clock.time() + _EVENT_LEAD)
        end = _timestamp(not_after, start + _EVENT_WINDOW)
        deadline = _timestamp(not_before_deadline, start + _EVENT_DEADLINE)
        self._events_touched = True
        self._event_serial += 1
        ident = event_id or f"instance-event-{self._event_serial:017x}"
        self._events.append(
            {
                "NotBefore": _tree.format_event_time(start),
                "Code": code,
                "Description": description or f"The instance is scheduled for {code}",
                "EventId": ident,
                "NotAfter": _tree.format_event_time(end),
                "NotBeforeDeadline": _tree.format_event_time(deadline),
                "State": state,
            }
        )
        return ident

    def end_event(self, event_id: str, state: str) -> None:
        """Mark an event ``completed`` or ``canceled``: it moves to the history."""
        for event in self._events:
            if event["EventId"] == event_id:
                if event["State"] != "active":
                    raise ValueError(f"event {event_id!r} is already {event['State']}")
                event["State"] = state
                return
        raise ValueError(f"no scheduled event {event_id!r}")

    def clear_events(self) -> None:
        self._events_touched = True
        self._events.clear()

    def overlay(self) -> dict[str, Callable[[], bytes]]:
        """The leaves to publish now, path → body maker; they win over the static tree."""
        md = _tree.META_DATA
        out: dict[str, Callable[[], bytes]] = {}
        if self._spot is not None:
            action, when = self._spot
            notice = {"action": action, "time": _tree.format_iso(when)}
            out[md + "spot/instance-action"] = lambda: json.dumps(notice).encode()
            if action == "terminate":
                out[md + "spot/termination-time"] = lambda: _tree.format_iso(when).encode()
        if self._rebalance is not None:
            notice_time = {"noticeTime": _tree.format_iso(self._rebalance)}
            out[md + "events/recommendations/rebalance"] = lambda: json.dumps(notice_time).encode()
        if self._events_touched:
            active = [e for e in self._events if e["State"] not in _PAST]
            past = [
                {**e, "Description": _PAST[e["State"]] + e["Description"]}
                for e in self._events
                if e["State"] in _PAST
            ]
            out[md + "events/maintenance/scheduled"] = lambda: json.dumps(active, indent=2).encode()
            out[md + "events/maintenance/history"] = lambda: json.dumps(past, indent=2).encode()
        return out


class NoticeMethods:
    """The public notice and event methods of ``SimulatorState``, each under the core's lock."""

    _lock: threading.RLock
    _notices: Notices

    def schedule_spot_interruption(
        self,
        action: Literal["terminate", "stop", "hibernate"] = "terminate",
        *,
        at: datetime | None = None,
    ) -> None:
        """Publish a spot interruption notice (``spot/instance-action``), by default 2 min ahead.

        ``terminate`` also publishes the older ``spot/termination-time``.
        """
        with self._lock:
            self._notices.schedule_spot(action, at)

    def cancel_spot_interruption(self) -> None:
        """Withdraw the spot notice: ``spot/instance-action`` answers 404 again."""
        with self._lock:
            self._notices.cancel_spot()

    def recommend_rebalance(self, *, at: datetime | None = None) -> None:
        """Publish ``events/recommendations/rebalance`` with ``noticeTime`` (default: now)."""
        with self._lock:
            self._notices.recommend_rebalance(at)

    def clear_rebalance_recommendation(self) -> None:
        """Withdraw the rebalance recommendation (404 again)."""
        with self._lock:
            self._notices.clear_rebalance()

    def add_scheduled_event(
        self,
        code: str = "system-reboot",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        not_before_deadline: datetime | None = None,
        description: str | None = None,
        state: str = "active",
        event_id: str | None = None,
    ) -> str:
        """Add an entry to ``events/maintenance/scheduled`` and return its ``EventId``.

        Defaults: starts in 7 days, a 2-hour window, deadline 14 days out. ``state`` is
        ``active``, or ``completed`` / ``canceled`` for an event that goes straight to
        ``events/maintenance/history``.
        """
        with self._lock:
            return self._notices.add_event(
                code, not_before, not_after, not_before_deadline, description, state, event_id
            )

    def complete_scheduled_event(self, event_id: str) -> None:
        """The event took place: it moves to ``events/maintenance/history`` as ``[Completed]``."""
        with self._lock:
            self._notices.end_event(event_id, "completed")

    def cancel_scheduled_event(self, event_id: str) -> None:
        """AWS canceled the event: it moves to ``events/maintenance/history`` as ``[Canceled]``."""
        with self._lock:
            self._notices.end_event(event_id, "canceled")

    def clear_scheduled_events(self) -> None:
        """Empty the scheduled events and their history: ``[]`` (also on a custom tree)."""
        with self._lock:
            self._notices.clear_events()
