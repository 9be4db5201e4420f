"""Instance notices the simulator publishes on demand: spot interruption, rebalance, events.

These documents are not static data: tests switch them on and off while a client runs, and their
bodies carry times from the simulator clock. :class:`Notices` keeps that state and renders the
leaves; ``SimulatorState`` owns it, calls it under its lock (it is not thread-safe on its own) and
overlays what it renders on the tree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from imdsclient.testing import _tree
from imdsclient.testing._wire import SimulatorClock

__all__ = ["Notices"]

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
            scheduled = md + "events/maintenance/scheduled"
            out[scheduled] = lambda: json.dumps(self._events, indent=2).encode()
        return out
