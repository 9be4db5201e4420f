"""Watching the instance's lifecycle: one flow that polls, de-duplicates and emits events.

``watch()`` on both clients is :func:`watch` driven by the shell's ``_stream``: every ``interval``
seconds it reads each source with one :class:`~imdsclient._flow.Gather` of the typed operations
(one GET each once the token is warm), compares what it read with what the last successful read
of that source showed (:class:`Tracker`), and yields an :class:`~imdsclient._flow.Emit` for each
new or changed event, then a :class:`~imdsclient._flow.Sleep` until the next poll is due.

Failures are values here: a source that cannot be read (after the client's own retries) is logged
and read again at the next poll; a source left unread for longer than ``blind_after`` seconds is
reported once with a WARNING and in :attr:`WatchStatus.blind`.  Only a first poll that can read
no source at all raises, so a watcher started off EC2, or with IMDS disabled, fails at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from imdsclient._api.events import (
    RebalanceRecommendation,
    ScheduledEvent,
    SpotInstanceAction,
    rebalance_recommendation,
    scheduled_events,
    spot_instance_action,
)
from imdsclient._api.lifecycle import autoscaling_target_lifecycle_state
from imdsclient._flow import Emit, Flow, Sleep, gather
from imdsclient._session import Session
from imdsclient.errors import IMDSError

__all__ = [
    "DEFAULT_BLIND_AFTER",
    "DEFAULT_INTERVAL",
    "KINDS",
    "InstanceEvent",
    "Kind",
    "Tracker",
    "WatchStatus",
    "is_ended",
    "watch",
]

logger = logging.getLogger("imdsclient")

Kind = Literal[
    "spot-interruption", "rebalance-recommendation", "scheduled-event", "lifecycle-state"
]
#: Every kind, in the order a poll reads the sources and yields what it found.
KINDS: tuple[Kind, ...] = (
    "spot-interruption",
    "rebalance-recommendation",
    "scheduled-event",
    "lifecycle-state",
)
#: Seconds between polls (aws-node-termination-handler polls every 2 s; 5 s is 48 GETs a minute).
DEFAULT_INTERVAL = 5.0
#: A source unread for longer than this is reported: a quarter of a Spot notice's two minutes.
DEFAULT_BLIND_AFTER = 30.0

#: The source of each kind: a typed operation, so paths, parsing and 404 handling are theirs.
_SOURCES: dict[Kind, Callable[[Session], Flow[Any]]] = {
    "spot-interruption": spot_instance_action,
    "rebalance-recommendation": rebalance_recommendation,
    "scheduled-event": scheduled_events,
    "lifecycle-state": autoscaling_target_lifecycle_state,
}

_ENDED_STATES = frozenset({"completed", "canceled"})
_ENDED_PREFIXES = ("[Completed]", "[Canceled]")


@dataclass(frozen=True)
class InstanceEvent:
    """Something about the instance's future, as one poll of ``watch()`` found it.

    ``detail`` is a :class:`SpotInstanceAction` (``spot-interruption``), a
    :class:`RebalanceRecommendation` (``rebalance-recommendation``), a :class:`ScheduledEvent`
    (``scheduled-event``) or the target lifecycle state as a string, e.g. ``"Terminated"``
    (``lifecycle-state``).  ``seen_at`` is when that poll started (UTC).
    """

    kind: Kind
    detail: SpotInstanceAction | RebalanceRecommendation | ScheduledEvent | str
    seen_at: datetime


@dataclass(frozen=True)
class WatchStatus:
    """What one poll of ``watch()`` did; passed to its ``on_poll`` callback after each poll."""

    #: Polls so far, this one included.
    polls: int
    #: When this poll started (UTC).
    seen_at: datetime
    #: Events this poll yielded.
    events: int
    #: Kinds whose source this poll could not read (they are read again at the next poll).
    failed: tuple[Kind, ...]
    #: Kinds unread for longer than ``blind_after``: events there may be seen late.
    blind: tuple[Kind, ...]
    #: Seconds since a source this poll could not read was last read (0.0 if all were read).
    unread_for: float


def is_ended(event: ScheduledEvent) -> bool:
    """A completed or canceled maintenance event: not news.

    aws-node-termination-handler treats these as cancellations, never as interruptions; IMDS
    moves them to ``events/maintenance/history`` with a ``[Completed]`` or ``[Canceled]``
    description prefix, which counts too.
    """
    return event.state.lower() in _ENDED_STATES or event.description.startswith(_ENDED_PREFIXES)


class Tracker:
    """What each source showed at its last successful read, and what in a new read is news.

    A value is news when it differs from the last read of its source: a Spot notice, a
    rebalance recommendation or a lifecycle state that appears or changes, a scheduled event
    (keyed by ``EventId``) that appears or changes, unless it has ended (:func:`is_ended`).
    Nothing there (``None``) is remembered too, so a notice withdrawn and published again is
    news again.  Pure: the watch flow feeds it, and so does the CLI's one-shot ``events``.
    """

    def __init__(self) -> None:
        self._last: dict[Kind, Any] = {}

    def update(self, kind: Kind, value: Any, seen_at: datetime) -> list[InstanceEvent]:
        """Remember ``value`` as the latest read of ``kind``'s source; the events that are news."""
        if kind == "scheduled-event":
            current = {e.event_id: e for e in value if not is_ended(e)}
            before: dict[str, ScheduledEvent] = self._last.get(kind, {})
            self._last[kind] = current
            return [
                InstanceEvent(kind, e, seen_at) for i, e in current.items() if before.get(i) != e
            ]
        previous = self._last.get(kind)
        self._last[kind] = value
        if value is None or value == previous:
            return []
        return [InstanceEvent(kind, value, seen_at)]


@dataclass(frozen=True)
class _Plan:
    kinds: tuple[Kind, ...]
    interval: float
    blind_after: float
    max_polls: int | None
    on_poll: Callable[[WatchStatus], object] | None


def watch(
    session: Session,
    *,
    interval: float = DEFAULT_INTERVAL,
    kinds: Iterable[str] | None = None,
    blind_after: float = DEFAULT_BLIND_AFTER,
    max_polls: int | None = None,
    on_poll: Callable[[WatchStatus], object] | None = None,
) -> Flow[None]:
    """The watch flow; its arguments are checked now (``ValueError``), not at the first poll."""
    plan = _Plan(
        _kinds(kinds),
        _seconds("interval", interval),
        _seconds("blind_after", blind_after),
        _polls(max_polls),
        on_poll,
    )
    return _watching(session, plan)


def _watching(session: Session, plan: _Plan) -> Flow[None]:
    clock = session.clock
    tracker = Tracker()
    last_read = dict.fromkeys(plan.kinds, clock.monotonic())
    last_error: dict[Kind, IMDSError] = {}
    reported_blind = False
    polls = 0
    while plan.max_polls is None or polls < plan.max_polls:
        began = clock.monotonic()
        seen_at = datetime.fromtimestamp(clock.time(), tz=timezone.utc)
        results = yield from gather([_read(session, kind) for kind in plan.kinds])
        polls += 1
        failed = tuple(k for k, r in zip(plan.kinds, results) if isinstance(r, IMDSError))
        if polls == 1 and len(failed) == len(plan.kinds):
            raise results[0]  # nothing could be read at all: fail as a plain call would
        emitted = 0
        for kind, result in zip(plan.kinds, results):
            if isinstance(result, IMDSError):
                last_error[kind] = result
                logger.info("watch: could not read %s, trying again next poll: %s", kind, result)
                continue
            last_read[kind] = began
            for event in tracker.update(kind, result, seen_at):
                emitted += 1
                yield Emit(event)
        now = clock.monotonic()
        unread = {k: now - last_read[k] for k in failed}  # a source read just now is not blind
        blind = tuple(k for k in failed if unread[k] > plan.blind_after)
        unread_for = max(unread.values(), default=0.0)
        if blind and not reported_blind:
            _log_blind(blind, unread_for, plan.blind_after, [last_error[k] for k in blind])
        elif reported_blind and not blind:
            logger.warning("watch: every source read again; nothing is being missed now")
        reported_blind = bool(blind)
        if plan.on_poll is not None:
            plan.on_poll(WatchStatus(polls, seen_at, emitted, failed, blind, unread_for))
        if plan.max_polls is not None and polls >= plan.max_polls:
            return
        wait = began + plan.interval - clock.monotonic()
        if wait > 0:
            yield Sleep(wait)


def _read(session: Session, kind: Kind) -> Flow[Any]:
    """One source's current value, or the error that kept it from being read."""
    try:
        return (yield from _SOURCES[kind](session))
    except IMDSError as exc:
        return exc


def _log_blind(
    blind: Sequence[Kind], unread_for: float, limit: float, errors: Sequence[IMDSError]
) -> None:
    logger.warning(
        "watch: %s not read for %.1f s (more than %g s): events there may be seen late; "
        "last error: %s",
        ", ".join(blind),
        unread_for,
        limit,
        errors[-1],
        extra={"imds_blind": list(blind), "imds_unread_for": unread_for},
    )


def _kinds(kinds: Iterable[str] | None) -> tuple[Kind, ...]:
    if kinds is None:
        return KINDS
    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    unknown = wanted.difference(KINDS)
    if unknown:
        raise ValueError(f"unknown event kinds {sorted(unknown)}; the kinds are {list(KINDS)}")
    if not wanted:
        raise ValueError(f"kinds is empty; give at least one of {list(KINDS)}, or None for all")
    return tuple(k for k in KINDS if k in wanted)


def _seconds(name: str, value: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if isinstance(value, bool) or not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(f"{name} must be a number of seconds greater than 0, not {value!r}")
    return seconds


def _polls(max_polls: int | None) -> int | None:
    if max_polls is not None and (
        isinstance(max_polls, bool) or not isinstance(max_polls, int) or max_polls < 1
    ):
        raise ValueError(
            f"max_polls must be None or a whole number of at least 1, not {max_polls!r}"
        )
    return max_polls
