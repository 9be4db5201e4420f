"""How the instance was bought and where Auto Scaling means to take it."""

from __future__ import annotations

from imdsclient._api._common import optional_text
from imdsclient._api.immutable import immutable
from imdsclient._flow import Flow, operation
from imdsclient._protocol import META_DATA
from imdsclient._session import Session

__all__ = ["TARGET_LIFECYCLE_PATH", "autoscaling_target_lifecycle_state", "instance_life_cycle"]

TARGET_LIFECYCLE_PATH = META_DATA + "autoscaling/target-lifecycle-state"


@operation()
def instance_life_cycle(session: Session) -> Flow[str]:
    """How the instance was bought: ``on-demand``, ``spot``, ``capacity-block``… (an open
    string: AWS adds kinds); cached per client."""
    return (yield from immutable(session, "instance-life-cycle"))


@operation()
def autoscaling_target_lifecycle_state(session: Session) -> Flow[str | None]:
    """The Auto Scaling lifecycle state the instance is moving to (``InService``,
    ``Terminated``, ``Warmed:Stopped``…), or ``None`` outside an Auto Scaling group; never
    cached."""
    return (yield from optional_text(session, TARGET_LIFECYCLE_PATH))
