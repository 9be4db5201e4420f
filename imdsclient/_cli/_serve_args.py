"""The flags of ``imdsclient serve``: one for every ``IMDSSimulator`` knob, and back to knobs.

``FLAGS`` maps each keyword of ``IMDSSimulator`` to the flag that sets it (tested against the
constructor's signature, so a new knob cannot be forgotten here). This module only defines
arguments; the simulator is imported by the command when it runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["FLAGS", "PYTHON_ONLY", "add_serve_arguments", "knobs_from"]

#: IMDSSimulator keyword → the ``serve`` flag that sets it.
FLAGS: dict[str, str] = {
    "host": "--host",
    "port": "--port",
    "tree": "--tree",
    "keep_alive": "--keep-alive",
    "http_version": "--http-version",
    "max_connections": "--max-connections",
    "idle_timeout": "--idle-timeout",
    "latency": "--latency",
    "put_response_hop_limit": "--put-response-hop-limit",
    "request_log": "--log-requests",
    "log_limit": "--log-limit",
    "http_tokens": "--http-tokens",
    "endpoint_enabled": "--disabled",
    "legacy": "--legacy",
    "hop_limit_drop": "--hop-limit-drop",
    "throttle_rps": "--throttle-rps",
    "throttle_status": "--throttle-status",
    "throttle_retry_after": "--retry-after",
    "tags_enabled": "--tags",
    "iam_role": "--role",
    "identity_credentials": "--no-identity-credentials",
    "credential_lifetime": "--credential-lifetime",
    "credential_refresh_margin": "--credential-refresh-margin",
    "credentials_expired": "--credentials-expired",
    "instance_life_cycle": "--instance-life-cycle",
    "placement_group": "--placement-group",
    "partition_number": "--partition-number",
    "host_id": "--host-id",
    "autoscaling_lifecycle_state": "--autoscaling-lifecycle-state",
    "elastic_inference": "--elastic-inference",
    "spot_interruption": "--spot-interruption",
    "rebalance_recommendation": "--rebalance-recommendation",
    "scheduled_events": "--scheduled-event",
    "fault_rate": "--fault-rate",
    "fault_kinds": "--fault-kinds",
    "fault_seed": "--fault-seed",
}

PYTHON_ONLY = frozenset({"clock", "timeline"})
"""Knobs a command line cannot express as one flag (objects): a ``Timeline`` is built from the
``--spot-interruption-in``, ``--rebalance-in``, ``--maintenance-in`` and ``--asg-terminate-in``
flags instead."""

_LIFE_CYCLES = ("on-demand", "spot", "scheduled", "capacity-block")
_AUTOSCALING = (
    "Detached",
    "InService",
    "Standby",
    "Terminated",
    "Warmed:Hibernated",
    "Warmed:Running",
    "Warmed:Stopped",
    "Warmed:Terminated",
)
_FAULTS = ("error", "reset", "hang", "empty", "bad_json", "credentials_error")
_EVENT_STATES = ("active", "completed", "canceled")


def _int_in(low: int, high: int | None) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r} is not in {span}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number in 0..65535")
    return value


def _number_of_seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def _latency(text: str) -> float:
    value = _number_of_seconds(text)
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 to 60 seconds")
    return value


def _seconds(text: str) -> float:
    value = _number_of_seconds(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate within 0..1")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in _FAULTS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give fault kinds separated by commas, from {', '.join(_FAULTS)}"
        )
    return kinds


def _event(text: str) -> dict[str, str]:
    code, _, state = text.partition(":")
    state = state or "active"
    if not code or state not in _EVENT_STATES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give CODE or CODE:STATE, STATE one of {', '.join(_EVENT_STATES)}"
        )
    return {"code": code, "state": state}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Every knob of the simulator as a flag, grouped as docs/testing.md groups them."""
    net = parser.add_argument_group("server and connections")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on")
    net.add_argument("--port", type=_port, default=1338, help="port; 0 picks a free one")
    net.add_argument(
        "--keep-alive",
        action="store_true",
        help="keep HTTP/1.1 connections open (real IMDS closes after every answer)",
    )
    net.add_argument(
        "--http-version",
        choices=("1.0", "1.1"),
        default="1.1",
        help="HTTP version of the status lines (some IMDS captures show 1.0)",
    )
    net.add_argument(
        "--max-connections",
        metavar="N",
        type=_int_in(1, None),
        default=256,
        help="connections served at once; more wait to be accepted (default 256)",
    )
    net.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=60.0,
        help="close a connection that sends no request for this long (default 60)",
    )
    net.add_argument(
        "--latency",
        metavar="SECONDS",
        type=_latency,
        default=0.0,
        help="hold every answer back this long, 0-60 (a slower link than loopback; default 0)",
    )
    net.add_argument(
        "--put-response-hop-limit",
        metavar="N",
        type=_int_in(1, 64),
        default=None,
        help="PUT answers leave with IP TTL / IPv6 hop limit N, all else with 64",
    )
    net.add_argument(
        "--log-requests", action="store_true", help="one line per request on stderr (as -v)"
    )
    net.add_argument(
        "--log-limit",
        metavar="N",
        type=_int_in(1, None),
        default=10_000,
        help="requests kept in memory (default 10000)",
    )

    imds = parser.add_argument_group("IMDS behaviour")
    imds.add_argument(
        "--http-tokens",
        choices=("optional", "required"),
        default="optional",
        help="'required': GETs without a token get 401 (IMDSv1 off)",
    )
    imds.add_argument("--disabled", action="store_true", help="answer everything with 403")
    imds.add_argument(
        "--legacy",
        type=int,
        choices=(404, 405),
        default=None,
        help="answer the token PUT with 404 or 405 (IMDSv1-only)",
    )
    imds.add_argument(
        "--hop-limit-drop",
        action="store_true",
        help="never answer the token PUT (hop limit too low), on loopback too",
    )
    imds.add_argument(
        "--throttle-rps",
        metavar="N",
        type=_int_in(1, None),
        default=None,
        help="serve at most N requests per second, throttle the rest",
    )
    imds.add_argument(
        "--throttle-status",
        type=int,
        choices=(429, 503),
        default=429,
        help="status of throttled answers (default 429)",
    )
    imds.add_argument(
        "--retry-after",
        metavar="SECONDS",
        type=_int_in(0, None),
        default=None,
        help="throttled answers carry Retry-After: SECONDS",
    )

    data = parser.add_argument_group("instance data")
    data.add_argument(
        "--tree",
        metavar="FILE",
        default=None,
        help="serve this JSON file (path -> body) instead of the default instance",
    )
    data.add_argument(
        "--tags", action="store_true", help="serve tags/ (InstanceMetadataTags=enabled)"
    )
    role = data.add_mutually_exclusive_group()
    role.add_argument("--role", metavar="NAME", default=None, help="instance profile role name")
    role.add_argument(
        "--no-role", action="store_true", help="no instance profile (iam/ answers 404)"
    )
    data.add_argument(
        "--no-identity-credentials",
        action="store_true",
        help="leave out identity-credentials/ec2/ (the instance identity role)",
    )
    data.add_argument(
        "--credential-lifetime",
        metavar="SECONDS",
        type=_seconds,
        default=6 * 3600,
        help="validity of generated credentials (default 21600)",
    )
    data.add_argument(
        "--credential-refresh-margin",
        metavar="SECONDS",
        type=_seconds,
        default=15 * 60,
        help="new credentials when less than this is left (default 900, at least 300)",
    )
    data.add_argument(
        "--credentials-expired",
        action="store_true",
        help="serve credentials whose Expiration has passed (IMDS during an outage)",
    )
    data.add_argument(
        "--instance-life-cycle",
        choices=_LIFE_CYCLES,
        default=None,
        help="instance-life-cycle, the purchasing option (default on-demand)",
    )
    data.add_argument(
        "--placement-group", metavar="NAME", default=None, help="serve placement/group-name"
    )
    data.add_argument(
        "--partition-number",
        metavar="N",
        type=_int_in(1, 7),
        default=None,
        help="serve placement/partition-number (1-7)",
    )
    data.add_argument(
        "--host-id", metavar="ID", default=None, help="serve placement/host-id (Dedicated Host)"
    )
    data.add_argument(
        "--autoscaling-lifecycle-state",
        metavar="STATE",
        choices=_AUTOSCALING,
        default=None,
        help=f"serve autoscaling/target-lifecycle-state ({', '.join(_AUTOSCALING)})",
    )
    data.add_argument(
        "--elastic-inference",
        metavar="ID",
        default=None,
        help="serve elastic-inference/associations/ID (an attached accelerator)",
    )

    events = parser.add_argument_group("events, at start")
    events.add_argument(
        "--spot-interruption",
        choices=("terminate", "stop", "hibernate"),
        default=None,
        help="publish a spot interruption notice, 2 minutes ahead",
    )
    events.add_argument(
        "--rebalance-recommendation",
        action="store_true",
        help="publish a rebalance recommendation",
    )
    events.add_argument(
        "--scheduled-event",
        metavar="CODE[:STATE]",
        type=_event,
        action="append",
        default=[],
        help="add a maintenance event (repeatable); completed/canceled go to the history",
    )

    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--fault-rate",
        metavar="RATE",
        type=_rate,
        default=0.0,
        help="fail this share (0..1) of requests at random",
    )
    faults.add_argument(
        "--fault-kinds",
        metavar="KINDS",
        type=_kinds,
        default=("error", "reset"),
        help=f"what a fault does, comma-separated ({', '.join(_FAULTS)}; default error,reset)",
    )
    faults.add_argument(
        "--fault-seed", metavar="N", type=int, default=None, help="seed of the fault dice"
    )


def _load_tree(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            tree = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--tree {path}: cannot read a JSON tree: {exc}") from None
    if not isinstance(tree, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tree.items()
    ):
        raise ValueError(f"--tree {path}: expected a JSON object of path -> text")
    return tree


def knobs_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ``IMDSSimulator`` keywords the parsed ``serve`` flags ask for."""
    from imdsclient.testing._state import AUTO

    return {
        "tree": None if args.tree is None else _load_tree(args.tree),
        "keep_alive": args.keep_alive,
        "http_version": args.http_version,
        "max_connections": args.max_connections,
        "idle_timeout": args.idle_timeout,
        "latency": args.latency,
        "put_response_hop_limit": args.put_response_hop_limit,
        "log_limit": args.log_limit,
        "http_tokens": args.http_tokens,
        "endpoint_enabled": not args.disabled,
        "legacy": args.legacy,
        "hop_limit_drop": args.hop_limit_drop,
        "throttle_rps": args.throttle_rps,
        "throttle_status": args.throttle_status,
        "throttle_retry_after": args.retry_after,
        "tags_enabled": args.tags,
        "iam_role": None if args.no_role else (args.role if args.role is not None else AUTO),
        "identity_credentials": False if args.no_identity_credentials else AUTO,
        "credential_lifetime": args.credential_lifetime,
        "credential_refresh_margin": args.credential_refresh_margin,
        "credentials_expired": args.credentials_expired,
        "instance_life_cycle": args.instance_life_cycle,
        "placement_group": args.placement_group,
        "partition_number": args.partition_number,
        "host_id": args.host_id,
        "autoscaling_lifecycle_state": args.autoscaling_lifecycle_state,
        "elastic_inference": args.elastic_inference,
        "spot_interruption": args.spot_interruption,
        "rebalance_recommendation": args.rebalance_recommendation,
        "scheduled_events": args.scheduled_event,
        "fault_rate": args.fault_rate,
        "fault_kinds": args.fault_kinds,
        "fault_seed": args.fault_seed,
    }
