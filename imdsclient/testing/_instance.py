"""Instance facts that real instances show only when they apply, as knobs of the simulator.

A placement group, a partition, a Dedicated Host, an Auto Scaling group, an Elastic Inference
accelerator: an ordinary on-demand instance has none of them, so the default tree has none, and
each is one keyword away. The purchasing option (``instance-life-cycle``) is always there; its
knob replaces the tree's value. ``SimulatorState`` mixes this in; the setters validate, and the
core renders the leaves on every request (so changes apply at once, as for every knob).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from imdsclient.testing import _tree

__all__ = ["AUTOSCALING_STATES", "LIFE_CYCLES", "InstanceKnobs"]

LIFE_CYCLES = ("on-demand", "spot", "scheduled", "capacity-block")
"""Values of ``instance-life-cycle`` (the instance's purchasing option)."""

AUTOSCALING_STATES = (
    "Detached",
    "InService",
    "Standby",
    "Terminated",
    "Warmed:Hibernated",
    "Warmed:Running",
    "Warmed:Stopped",
    "Warmed:Terminated",
)
"""Values of ``autoscaling/target-lifecycle-state``, as AWS documents them."""

_MD = _tree.META_DATA


def _name(knob: str, value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or "/" in value):
        raise ValueError(f"{knob} must be None or a non-empty name without '/', not {value!r}")
    if value is not None and any(c in value for c in "\r\n"):
        raise ValueError(f"{knob} must be one line, not {value!r}")
    return value


def _constant(body: bytes) -> Callable[[], bytes]:
    return lambda: body


class InstanceKnobs:
    """``instance_life_cycle``, ``placement_group``, ``partition_number``, ``host_id``,
    ``autoscaling_lifecycle_state`` and ``elastic_inference``: validated, thread-safe knobs.

    None means "not there" (404, not listed), except for ``instance_life_cycle``, where None serves
    whatever the tree says (``on-demand`` in the default tree).
    """

    _lock: threading.RLock

    def _init_instance_knobs(
        self,
        *,
        instance_life_cycle: str | None,
        placement_group: str | None,
        partition_number: int | None,
        host_id: str | None,
        autoscaling_lifecycle_state: str | None,
        elastic_inference: str | None,
    ) -> None:
        self.instance_life_cycle = instance_life_cycle
        self.placement_group = placement_group
        self.partition_number = partition_number
        self.host_id = host_id
        self.autoscaling_lifecycle_state = autoscaling_lifecycle_state
        self.elastic_inference = elastic_inference

    @property
    def instance_life_cycle(self) -> str | None:
        """``on-demand``, ``spot``, ``scheduled`` or ``capacity-block``; None: the tree's value."""
        return self._instance_life_cycle

    @instance_life_cycle.setter
    def instance_life_cycle(self, value: str | None) -> None:
        if value is not None and value not in LIFE_CYCLES:
            raise ValueError(
                f"instance_life_cycle must be None or one of {LIFE_CYCLES}, not {value!r}"
            )
        self._instance_life_cycle = value

    @property
    def placement_group(self) -> str | None:
        """``placement/group-name``: the placement group the instance runs in."""
        return self._placement_group

    @placement_group.setter
    def placement_group(self, value: str | None) -> None:
        self._placement_group = _name("placement_group", value)

    @property
    def partition_number(self) -> int | None:
        """``placement/partition-number`` (1-7): the partition of a partition placement group."""
        return self._partition_number

    @partition_number.setter
    def partition_number(self, value: int | None) -> None:
        valid = value is None or (isinstance(value, int) and not isinstance(value, bool))
        if not valid or (value is not None and not 1 <= value <= 7):
            raise ValueError(f"partition_number must be None or 1..7, not {value!r}")
        self._partition_number = value

    @property
    def host_id(self) -> str | None:
        """``placement/host-id``: the Dedicated Host the instance runs on (e.g. ``h-0123…``)."""
        return self._host_id

    @host_id.setter
    def host_id(self, value: str | None) -> None:
        self._host_id = _name("host_id", value)

    @property
    def autoscaling_lifecycle_state(self) -> str | None:
        """``autoscaling/target-lifecycle-state`` of an Auto Scaling instance (``InService``…)."""
        return self._autoscaling_lifecycle_state

    @autoscaling_lifecycle_state.setter
    def autoscaling_lifecycle_state(self, value: str | None) -> None:
        if value is not None and value not in AUTOSCALING_STATES:
            raise ValueError(
                f"autoscaling_lifecycle_state must be None or one of {AUTOSCALING_STATES}, "
                f"not {value!r}"
            )
        self._autoscaling_lifecycle_state = value

    @property
    def elastic_inference(self) -> str | None:
        """The id of an attached Elastic Inference accelerator (``elastic-inference/…``)."""
        return self._elastic_inference

    @elastic_inference.setter
    def elastic_inference(self, value: str | None) -> None:
        self._elastic_inference = _name("elastic_inference", value)

    def _instance_overlay(self) -> dict[str, Callable[[], bytes]]:
        """The leaves these knobs add (path → body maker); called under the core's lock."""
        out: dict[str, Callable[[], bytes]] = {}
        simple = {
            "instance-life-cycle": self._instance_life_cycle,
            "placement/group-name": self._placement_group,
            "placement/partition-number": (
                None if self._partition_number is None else str(self._partition_number)
            ),
            "placement/host-id": self._host_id,
            "autoscaling/target-lifecycle-state": self._autoscaling_lifecycle_state,
        }
        for path, value in simple.items():
            if value is not None:
                out[_MD + path] = _constant(value.encode("utf-8"))
        accelerator = self._elastic_inference
        if accelerator is not None:
            out[_MD + "elastic-inference/associations/" + accelerator] = lambda: (
                _tree.elastic_inference_document(accelerator)
            )
        return out
