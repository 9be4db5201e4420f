"""A lifecycle played in time: changes to a simulator at set moments on its clock.

A :class:`Timeline` is a schedule of steps, each "so many seconds after the start, change this".
``SimulatorState.play(timeline)`` (or ``timeline=`` on the constructor) starts it; from then on,
whenever the simulator handles a request it first applies every step whose moment has come, in
order.  Nothing runs in the background: under a ``FakeClock`` the lifecycle advances exactly as
the client's sleeps move the clock, so hours of an instance's life take no real time.

Steps change the simulator through its public knobs (``schedule_spot_interruption``,
``recommend_rebalance``, ``set``).  Times inside documents are the step's own moment, not the
moment of the request that applied it: a Spot notice due at +60 s says ``time`` = start + 180 s
even if the next request comes at +63 s, as on a real instance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from imdsclient.testing import _tree

if TYPE_CHECKING:
    from imdsclient.testing._state import SimulatorState
    from imdsclient.testing._wire import SimulatorClock

__all__ = ["Step", "Timeline"]

#: A step's change: the simulator, and the wall time (epoch seconds) at which the step was due.
Change = Callable[["SimulatorState", float], None]

_SCHEDULED = "events/maintenance/scheduled"
_HISTORY = "events/maintenance/history"
_LIFECYCLE = "autoscaling/target-lifecycle-state"
_DEADLINE = 7 * 86400  # NotBeforeDeadline after NotBefore, as add_scheduled_event's default


@dataclass(frozen=True)
class Step:
    """One change of a :class:`Timeline`: when (seconds after the start), what, and how."""

    at: float
    what: str
    change: Change


def _utc(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, tz=timezone.utc)


class Timeline:
    """Changes to a simulator at set moments; build it with the methods, then ``play`` it.

    Each method returns the timeline, so they chain::

        timeline = (
            Timeline()
            .autoscaling(terminated_at=3600)       # InService from the start, Terminated at 1 h
            .rebalance_recommendation(at=600)
            .maintenance(at=900)                  # appears; completed (to history) 7 min later
            .spot_interruption(at=1800)           # notice with time = +1800 s + 2 min
        )
        sim = SimulatorState(clock=clock, timeline=timeline)

    A timeline plays on one simulator, once; steps cannot be added after it started.
    """

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._start: tuple[float, float] | None = None  # (monotonic, wall) when it started
        self._done = 0
        self._active: dict[str, dict[str, str]] = {}  # maintenance events, by EventId
        self._history: list[dict[str, str]] = []
        self._serial = 0
        #: ``(at, what)`` of every step applied so far, in order.
        self.applied: list[tuple[float, str]] = []

    # ---------------------------------------------------------------- building

    def at(self, seconds: float, what: str, change: Change) -> Timeline:
        """Add a step: ``change(state, due)`` runs once ``seconds`` have passed since the start
        (``due`` is the wall time the step was due, in epoch seconds)."""
        if self._start is not None:
            raise RuntimeError("this timeline is already playing; add steps before play()")
        number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
        if not number or not 0 <= seconds < math.inf:
            raise ValueError(f"a step's time must be a number of seconds >= 0, not {seconds!r}")
        self._steps.append(Step(float(seconds), what, change))
        self._steps.sort(key=lambda step: step.at)  # stable: same-time steps keep their order
        return self

    def spot_interruption(
        self,
        at: float,
        action: Literal["terminate", "stop", "hibernate"] = "terminate",
        *,
        notice: float = 120.0,
    ) -> Timeline:
        """At ``at``, the Spot interruption notice appears, ``notice`` seconds (two minutes)
        before its ``time``."""

        def change(state: SimulatorState, due: float) -> None:
            state.schedule_spot_interruption(action, at=_utc(due + notice))

        return self.at(at, f"spot interruption ({action} {notice:g} s later)", change)

    def rebalance_recommendation(self, at: float) -> Timeline:
        """At ``at``, the rebalance recommendation appears (``noticeTime`` = that moment)."""

        def change(state: SimulatorState, due: float) -> None:
            state.recommend_rebalance(at=_utc(due))

        return self.at(at, "rebalance recommendation", change)

    def maintenance(
        self,
        at: float,
        *,
        code: str = "system-reboot",
        starts_after: float = 300.0,
        lasts: float = 120.0,
        event_id: str | None = None,
    ) -> Timeline:
        """At ``at``, a scheduled event appears in ``events/maintenance/scheduled``, its window
        ``starts_after`` seconds later and ``lasts`` seconds long; when the window ends it is
        completed: it leaves ``scheduled`` for ``events/maintenance/history``, with State
        ``completed`` and its Description prefixed ``[Completed]``.

        The timeline publishes both lists itself (with ``set``); while it plays they replace
        what ``add_scheduled_event`` would show.
        """
        if not (0 <= starts_after < math.inf and 0 <= lasts < math.inf):
            raise ValueError(f"starts_after and lasts must be >= 0: {starts_after!r}, {lasts!r}")
        self._serial += 1
        ident = event_id or f"instance-event-{self._serial:017x}"

        def appear(state: SimulatorState, due: float) -> None:
            start = due + starts_after
            self._active[ident] = {
                "NotBefore": _tree.format_event_time(start),
                "Code": code,
                "Description": f"The instance is scheduled for {code}",
                "EventId": ident,
                "NotAfter": _tree.format_event_time(start + lasts),
                "NotBeforeDeadline": _tree.format_event_time(start + _DEADLINE),
                "State": "active",
            }
            self._publish(state)

        def complete(state: SimulatorState, due: float) -> None:
            event = self._active.pop(ident)
            description = "[Completed] " + event["Description"]
            self._history.append({**event, "Description": description, "State": "completed"})
            self._publish(state)

        self.at(at, f"maintenance {ident} ({code}) scheduled", appear)
        return self.at(at + starts_after + lasts, f"maintenance {ident} completed", complete)

    def autoscaling(self, *, terminated_at: float, in_service_at: float = 0.0) -> Timeline:
        """Auto Scaling's target lifecycle state: ``InService`` at ``in_service_at`` (default:
        from the start), ``Terminated`` at ``terminated_at`` (a scale-in)."""
        if terminated_at < in_service_at:
            raise ValueError("terminated_at must not come before in_service_at")

        def state_to(value: str) -> Change:
            return lambda state, due: state.set(_LIFECYCLE, value)

        self.at(in_service_at, "lifecycle InService", state_to("InService"))
        return self.at(terminated_at, "lifecycle Terminated", state_to("Terminated"))

    @classmethod
    def from_seconds(
        cls,
        *,
        spot_interruption: float | None = None,
        rebalance: float | None = None,
        maintenance: float | None = None,
        autoscaling_terminate: float | None = None,
    ) -> Timeline | None:
        """The timeline of ``serve``'s flags (each a step's time), or ``None`` if none is set."""
        timeline = cls()
        if spot_interruption is not None:
            timeline.spot_interruption(spot_interruption)
        if rebalance is not None:
            timeline.rebalance_recommendation(rebalance)
        if maintenance is not None:
            timeline.maintenance(maintenance)
        if autoscaling_terminate is not None:
            timeline.autoscaling(terminated_at=autoscaling_terminate)
        return timeline if timeline.steps else None

    @property
    def steps(self) -> list[Step]:
        """Every step, in the order they apply."""
        return list(self._steps)

    # ---------------------------------------------------------------- playing

    def start(self, clock: SimulatorClock) -> None:
        """Count from now on ``clock``; ``SimulatorState.play`` calls this."""
        if self._start is not None:
            raise RuntimeError("a timeline plays once, on one simulator; build another")
        self._start = (clock.monotonic(), clock.time())

    def advance(self, state: SimulatorState, clock: SimulatorClock) -> None:
        """Apply every step whose moment has come (the simulator calls this, under its lock)."""
        if self._start is None:
            raise RuntimeError("the timeline has not started; use SimulatorState.play()")
        started, wall = self._start
        elapsed = clock.monotonic() - started
        while self._done < len(self._steps) and self._steps[self._done].at <= elapsed:
            step = self._steps[self._done]
            self._done += 1
            step.change(state, wall + step.at)
            self.applied.append((step.at, step.what))

    def _publish(self, state: SimulatorState) -> None:
        state.set(_SCHEDULED, json.dumps(list(self._active.values()), indent=2))
        state.set(_HISTORY, json.dumps(self._history, indent=2))
        state.set("events/maintenance/", "history\nscheduled")
