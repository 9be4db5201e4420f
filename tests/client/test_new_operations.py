"""The operations added in the one-module shape, through both shells (respx): value, absence
(``None``), caching and the GETs each costs."""

from __future__ import annotations

import json

import pytest

from imdsclient import IMDSError
from imdsclient._api._common import REDACTED
from tests.client.test_metadata import MD, FakeIMDS
from tests.client.test_metadata import imds as imds  # the fixture
from tests.conftest import MakeClient

OPTIONAL = [
    ("placement_group_name", "placement/group-name", b"my-group\n", "my-group"),
    ("partition_number", "placement/partition-number", b"3", 3),
    ("host_id", "placement/host-id", b"h-0123456789abcdef0", "h-0123456789abcdef0"),
    (
        "autoscaling_target_lifecycle_state",
        "autoscaling/target-lifecycle-state",
        b"Terminated",
        "Terminated",
    ),
]


@pytest.mark.parametrize(("method", "leaf", "body", "value"), OPTIONAL)
def test_optional_values_are_read_each_time(
    imds: FakeIMDS, make_client: MakeClient, method: str, leaf: str, body: bytes, value: object
) -> None:
    """Present: the parsed value, one GET per call (never cached)."""
    imds.tree[MD + leaf] = body
    client = make_client()
    assert getattr(client, method)() == value
    assert getattr(client, method)() == value
    assert imds.gets() == [MD + leaf] * 2


@pytest.mark.parametrize(("method", "leaf", "body", "value"), OPTIONAL)
def test_optional_values_are_none_when_absent(
    imds: FakeIMDS, make_client: MakeClient, method: str, leaf: str, body: bytes, value: object
) -> None:
    """Absent (404): ``None``, not an error."""
    assert getattr(make_client(), method)() is None
    assert imds.gets() == [MD + leaf]


@pytest.mark.parametrize("body", [b"three", b"-1", b"\xd9\xa3", b"12345"])
def test_a_partition_number_that_is_not_a_number_is_an_imds_error(
    imds: FakeIMDS, make_client: MakeClient, body: bytes
) -> None:
    """A malformed partition number is an IMDSError naming the path, not a ValueError."""
    imds.tree[MD + "placement/partition-number"] = body
    with pytest.raises(IMDSError, match="partition-number"):
        make_client().partition_number()


@pytest.mark.parametrize("kind", ["on-demand", "spot", "capacity-block", "scheduled"])
def test_instance_life_cycle_is_an_open_string_cached_per_client(
    imds: FakeIMDS, make_client: MakeClient, kind: str
) -> None:
    """Whatever IMDS says (AWS adds kinds); one GET per client, then cached."""
    imds.tree[MD + "instance-life-cycle"] = kind.encode() + b"\n"
    client = make_client()
    assert client.instance_life_cycle() == client.instance_life_cycle() == kind
    assert imds.gets() == [MD + "instance-life-cycle"]


def test_new_operations_appear_in_dump(imds: FakeIMDS, make_client: MakeClient) -> None:
    """dump() crawls what IMDS lists, so the new leaves are there with their values."""
    imds.tree.update(
        {
            MD: b"autoscaling/\ninstance-life-cycle\nplacement/",
            MD + "autoscaling/": b"target-lifecycle-state",
            MD + "autoscaling/target-lifecycle-state": b"InService",
            MD + "instance-life-cycle": b"spot",
            MD + "placement/": b"group-name\nhost-id\npartition-number",
            MD + "placement/group-name": b"g",
            MD + "placement/host-id": b"h-1",
            MD + "placement/partition-number": b"2",
        }
    )
    tree = make_client().dump()
    assert tree["autoscaling"] == {"target-lifecycle-state": "InService"}
    assert tree["instance-life-cycle"] == "spot"
    assert tree["placement"] == {"group-name": "g", "host-id": "h-1", "partition-number": "2"}


# -- the extended credentials folder (#16) ------------------------------------------------------

EXTENDED = MD + "iam/security-credentials-extended/"


def _extended_tree(imds: FakeIMDS) -> None:
    document = json.loads(imds.tree[MD + "iam/security-credentials/web"])
    imds.tree[EXTENDED] = b"web"
    imds.tree[EXTENDED + "web"] = json.dumps({**document, "AccountId": "123456789012"}).encode()


def test_extended_credentials_carry_the_account_id(imds: FakeIMDS, make_client: MakeClient) -> None:
    """extended_credentials=True reads the extended folder: AccountId is there; remembered."""
    _extended_tree(imds)
    client = make_client(extended_credentials=True)
    assert client.iam_credentials().account_id == "123456789012"
    assert client.iam_credentials().account_id == "123456789012"
    assert imds.gets() == [EXTENDED, EXTENDED + "web", EXTENDED + "web"]


def test_without_the_extended_folder_the_classic_one_is_used_and_remembered(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """Where IMDS has no extended folder (404), the classic one answers, from then on directly."""
    client = make_client(extended_credentials=True)
    assert client.iam_credentials().account_id is None
    client.iam_credentials()
    classic = MD + "iam/security-credentials/"
    assert imds.gets() == [EXTENDED, classic, classic + "web", classic + "web"]


def test_the_classic_folder_is_the_default(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Without the setting nothing asks for the extended folder."""
    _extended_tree(imds)
    assert make_client().iam_credentials().account_id is None
    assert not [path for path in imds.gets() if "extended" in path]


def test_an_instance_profile_name_skips_discovery(imds: FakeIMDS, make_client: MakeClient) -> None:
    """instance_profile_name= reads that role's credentials: one GET, no listing."""
    client = make_client(instance_profile_name="web")
    assert client.iam_credentials().role_name == "web"
    assert imds.gets() == [MD + "iam/security-credentials/web"]


def test_dump_masks_the_extended_folder_by_path(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Credential documents under the extended folder are masked like the classic ones."""
    _extended_tree(imds)
    imds.tree.update({MD: b"iam/", MD + "iam/": b"security-credentials-extended/"})
    tree = make_client().dump()
    assert tree["iam"]["security-credentials-extended"]["web"] == REDACTED
    assert not [path for path in imds.gets() if path.endswith("extended/web")]
