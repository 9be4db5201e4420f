"""The typed flows driven directly by a scripted interpreter: arbitrary answers never escape as
anything but an ``IMDSError``, and dump's crawl is breadth first with one ``Gather`` per level."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imdsclient._api import operations
from imdsclient._flow import Flow, Gather, Hook, Locked, Send, Sleep
from imdsclient._protocol import Request, Response
from imdsclient._session import Session
from imdsclient.errors import IMDSError
from imdsclient.testing._tree import DEFAULT_ROLE, default_tree

T = TypeVar("T")
MD = "/latest/meta-data/"
CREDS = MD + "iam/security-credentials/"
MACS = MD + "network/interfaces/macs/"
MAC = "0e:49:61:0f:c3:11"


def run(flow: Flow[T], answer: Callable[[Request], Response], log: list[Any]) -> T:
    """Carry out a flow's effects in order, like the sync shell, recording each effect."""
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            result: T = stop.value
            return result
        log.append(effect)
        try:
            if isinstance(effect, Send):
                value = answer(effect.request)
            elif isinstance(effect, Locked):
                value = run(effect.flow, answer, log)
            elif isinstance(effect, Sleep):
                value = None
            elif isinstance(effect, Hook):
                effect.function(effect.value)
                value = None
            elif isinstance(effect, Gather):
                value = [run(sub, answer, log) for sub in effect.flows]
            else:  # Emit: only watch() yields it, and no flow here does
                raise TypeError(f"unexpected effect {effect!r}")
            error = None
        except Exception as exc:  # handed to the flow, as the shells do
            value, error = None, exc


def baseline() -> dict[str, bytes]:
    """The simulator's default tree plus an instance profile, as path -> bytes."""
    tree = {(k if k.startswith("/") else MD + k): v.encode() for k, v in default_tree().items()}
    document = {
        "Code": "Success",
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "s3cr3t",
        "Token": "t0k3n",
        "Expiration": "2030-01-01T00:00:00Z",
    }
    tree[CREDS] = DEFAULT_ROLE.encode()
    tree[CREDS + DEFAULT_ROLE] = json.dumps(document).encode()
    tree[MD + "iam/info"] = b'{"InstanceProfileArn": "arn", "InstanceProfileId": "AIPA"}'
    tree[MD + "spot/instance-action"] = b'{"action": "terminate", "time": "2030-01-01T00:02:00Z"}'
    tree[MD + "events/recommendations/rebalance"] = b'{"noticeTime": "2030-01-01T00:00:00Z"}'
    tree[MD + "instance-life-cycle"] = b"spot"
    tree[MD + "placement/group-name"] = b"my-group"
    tree[MD + "placement/partition-number"] = b"3"
    tree[MD + "placement/host-id"] = b"h-0123456789abcdef0"
    tree[MD + "autoscaling/target-lifecycle-state"] = b"InService"
    return tree


BASELINE = baseline()

#: (method, the path whose answer is replaced): every body a typed method reads.
TARGETS: list[tuple[str, str]] = [
    ("instance_identity", "/latest/dynamic/instance-identity/document"),
    ("instance_id", MD + "instance-id"),
    ("region", MD + "placement/region"),
    ("availability_zone", MD + "placement/availability-zone"),
    ("account_id", "/latest/dynamic/instance-identity/document"),
    ("iam_info", MD + "iam/info"),
    ("iam_credentials", CREDS),
    ("iam_credentials", CREDS + DEFAULT_ROLE),
    ("user_data", "/latest/user-data"),
    ("tags", MD + "tags/instance/"),
    ("tags", MD + "tags/instance/Name"),
    ("spot_instance_action", MD + "spot/instance-action"),
    ("rebalance_recommendation", MD + "events/recommendations/rebalance"),
    ("scheduled_events", MD + "events/maintenance/scheduled"),
    ("network_interfaces", MACS),
    ("network_interfaces", MACS + MAC + "/"),
    ("network_interfaces", MACS + MAC + "/device-number"),
    ("network_interfaces", MACS + MAC + "/ipv4-associations/"),
    ("public_keys", MD + "public-keys/"),
    ("public_keys", MD + "public-keys/0/openssh-key"),
    ("block_device_mapping", MD + "block-device-mapping/"),
    ("block_device_mapping", MD + "block-device-mapping/ami"),
    ("instance_life_cycle", MD + "instance-life-cycle"),
    ("placement_group_name", MD + "placement/group-name"),
    ("partition_number", MD + "placement/partition-number"),
    ("host_id", MD + "placement/host-id"),
    ("autoscaling_target_lifecycle_state", MD + "autoscaling/target-lifecycle-state"),
    ("dump", MD),
    ("dump", MD + "placement/"),
    ("dump", MD + "public-keys/"),
]


#: Every typed flow by method name (the operations the clients' methods are generated from).
FLOWS = {name: flow for _, name, flow in operations()}


def serve(tree: Mapping[str, bytes]) -> Callable[[Request], Response]:
    def answer(request: Request) -> Response:
        if request.method == "PUT":
            return Response(200, {}, b"tok")
        body = tree.get(request.path)
        return Response(404, {}, b"") if body is None else Response(200, {}, body)

    return answer


def session() -> Session:
    return Session.create(None, clock=None, rng=None, on_retry=None, endpoint="http://imds.test")


def call(name: str, tree: Mapping[str, bytes]) -> Any:
    flow = FLOWS[name](session())
    return run(flow, serve(tree), [])


@pytest.mark.parametrize("name", sorted({name for name, _ in TARGETS}))
def test_every_method_reads_the_baseline_tree(name: str) -> None:
    """Against the simulator's default data every typed flow returns a value."""
    assert call(name, BASELINE) is not None


LISTING_TRICKS = [b"..", b"a/../b", b"x y", b"%2e%2e", b"a//b", b"\xff/", b"./", b"0=\n=x", b"/"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(TARGETS),
    body=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(LISTING_TRICKS),
        st.text(alphabet="ab0=/.-_:\n{}[]\"'", max_size=40).map(str.encode),
    ),
)
@example(target=("network_interfaces", MACS + MAC + "/"), body=b"model_config\n__class__")
@example(target=("iam_credentials", CREDS), body=b"role/\n")
@example(target=("dump", MD), body=b"public-keys/\n0=x")
def test_arbitrary_bytes_give_a_value_or_an_imds_error(
    target: tuple[str, str], body: bytes
) -> None:
    """Whatever is served at a typed path, the method returns or raises an IMDSError."""
    name, path = target
    with contextlib.suppress(IMDSError):
        call(name, {**BASELINE, path: body})


def test_dump_gathers_one_level_at_a_time() -> None:
    """dump() issues a flat Gather per level (never nested), so the async bound holds overall."""
    log: list[Any] = []
    run(FLOWS["dump"](session(), "network/"), serve(BASELINE), log)
    gathers = [effect for effect in log if isinstance(effect, Gather)]
    assert gathers
    # network/ -> interfaces/ -> macs/ -> <mac>/ -> ipv4-associations/: a few levels, no more
    assert len(gathers) <= 2 * 5
    sizes = [len(g.flows) for g in gathers]
    assert max(sizes) >= 10  # the interface's leaves are read together


def test_credentials_listing_entry_is_never_requested_when_unusable() -> None:
    """A role name with path characters stops before a request is built from it."""
    log: list[Any] = []
    tree = {**BASELINE, CREDS: b"../../user-data"}
    with pytest.raises(IMDSError):
        run(FLOWS["iam_credentials"](session()), serve(tree), log)
    gets = [e.request.path for e in log if isinstance(e, Send) and e.request.method == "GET"]
    assert gets == [CREDS]
