"""Notices about this instance's future: a Spot interruption, a rebalance recommendation,
scheduled maintenance.  Volatile: never cached."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from imdsclient._api._common import fetch_or_none
from imdsclient._api._model import (
    IMDSModel,
    UtcDatetime,
    bad_answer,
    decode,
    json_kind,
    load_json,
    load_object,
    validate,
)
from imdsclient._flow import Flow, operation
from imdsclient._protocol import META_DATA
from imdsclient._session import Session

__all__ = [
    "EVENTS_PATH",
    "REBALANCE_PATH",
    "SPOT_PATH",
    "RebalanceRecommendation",
    "ScheduledEvent",
    "SpotInstanceAction",
    "parse_rebalance",
    "parse_scheduled_events",
    "parse_spot_action",
    "rebalance_recommendation",
    "scheduled_events",
    "spot_instance_action",
]

SPOT_PATH = META_DATA + "spot/instance-action"
REBALANCE_PATH = META_DATA + "events/recommendations/rebalance"
EVENTS_PATH = META_DATA + "events/maintenance/scheduled"


class SpotInstanceAction(IMDSModel):
    """``/latest/meta-data/spot/instance-action``: this Spot Instance is about to be reclaimed."""

    action: str
    time: UtcDatetime


class RebalanceRecommendation(IMDSModel):
    """``/latest/meta-data/events/recommendations/rebalance``: elevated interruption risk."""

    notice_time: UtcDatetime = Field(alias="noticeTime")


class ScheduledEvent(IMDSModel):
    """One entry of ``/latest/meta-data/events/maintenance/scheduled``."""

    code: str = Field(alias="Code")
    description: str = Field(alias="Description")
    event_id: str = Field(alias="EventId")
    not_before: UtcDatetime = Field(alias="NotBefore")
    not_after: Optional[UtcDatetime] = Field(default=None, alias="NotAfter")
    not_before_deadline: Optional[UtcDatetime] = Field(default=None, alias="NotBeforeDeadline")
    state: str = Field(alias="State")


def parse_spot_action(body: bytes, *, path: str = SPOT_PATH) -> SpotInstanceAction:
    """Parse ``spot/instance-action``: ``{"action": "terminate", "time": "…Z"}``."""
    what = "Spot instance action"
    return validate(SpotInstanceAction, load_object(body, what, path), what, path)


def parse_rebalance(body: bytes, *, path: str = REBALANCE_PATH) -> RebalanceRecommendation:
    """Parse ``events/recommendations/rebalance``: ``{"noticeTime": "…Z"}``."""
    what = "rebalance recommendation"
    return validate(RebalanceRecommendation, load_object(body, what, path), what, path)


def parse_scheduled_events(body: bytes, *, path: str = EVENTS_PATH) -> list[ScheduledEvent]:
    """Parse ``events/maintenance/scheduled``, a JSON array; an empty body means no events."""
    what = "scheduled events"
    if not decode(body, what, path).strip():
        return []
    value = load_json(body, what, path)
    if not isinstance(value, list):
        raise bad_answer(what, f"{json_kind(value)} where a JSON array was expected", path)
    return [
        validate(ScheduledEvent, item, f"scheduled event #{index}", path)
        for index, item in enumerate(value)
    ]


@operation()
def spot_instance_action(session: Session) -> Flow[SpotInstanceAction | None]:
    """The pending Spot interruption, or ``None``."""
    body = yield from fetch_or_none(session, SPOT_PATH)
    if body is None:
        return None
    return parse_spot_action(body)


@operation()
def rebalance_recommendation(session: Session) -> Flow[RebalanceRecommendation | None]:
    """The rebalance recommendation, or ``None``."""
    body = yield from fetch_or_none(session, REBALANCE_PATH)
    if body is None:
        return None
    return parse_rebalance(body)


@operation()
def scheduled_events(session: Session) -> Flow[list[ScheduledEvent]]:
    """Scheduled maintenance events; ``[]`` when there are none."""
    body = yield from fetch_or_none(session, EVENTS_PATH)
    if body is None:
        return []
    return parse_scheduled_events(body)
