"""Placement details that exist only on some instances: ``None`` where IMDS has nothing (404)."""

from __future__ import annotations

from imdsclient._api._common import optional_text
from imdsclient._flow import Flow, operation
from imdsclient._protocol import META_DATA
from imdsclient._session import Session
from imdsclient.errors import HINTS, IMDSError

__all__ = ["GROUP_NAME_PATH", "HOST_ID_PATH", "PARTITION_PATH", "host_id", "partition_number"]

GROUP_NAME_PATH = META_DATA + "placement/group-name"
PARTITION_PATH = META_DATA + "placement/partition-number"
HOST_ID_PATH = META_DATA + "placement/host-id"


@operation()
def placement_group_name(session: Session) -> Flow[str | None]:
    """The placement group's name, or ``None`` when the instance is in none."""
    return (yield from optional_text(session, GROUP_NAME_PATH))


@operation()
def partition_number(session: Session) -> Flow[int | None]:
    """The partition of a partition placement group (1 to 7), or ``None`` when not in one."""
    value = yield from optional_text(session, PARTITION_PATH)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 3:
        raise IMDSError(
            f"Unusable partition number from IMDS at {PARTITION_PATH}: not a small integer",
            path=PARTITION_PATH,
            hint=HINTS["bad_response"],
        )
    return int(value)


@operation()
def host_id(session: Session) -> Flow[str | None]:
    """The Dedicated Host's id (``h-…``), or ``None`` when the instance is not on one."""
    return (yield from optional_text(session, HOST_ID_PATH))
