"""The typed metadata API against the simulator over real TCP (both shells), counting requests."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from imdsclient import CredentialsError, MetadataNotFoundError
from imdsclient._api._common import REDACTED
from imdsclient.errors import HINTS
from imdsclient.testing import IMDSSimulator
from imdsclient.testing._tree import DEFAULT_ROLE
from tests.conftest import MakeClient

MD = "/latest/meta-data/"
CREDS = MD + "iam/security-credentials/"
MAC = "0e:49:61:0f:c3:11"
UTC = timezone.utc


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator


def gets(sim: IMDSSimulator) -> list[str]:
    """Paths of the GETs the simulator saw, in order."""
    return [r.path for r in sim.requests if r.method == "GET"]


def test_identity_and_conveniences(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """The identity document matches the tree; the conveniences then cost no request."""
    client = make_client(endpoint=sim.url)
    doc = client.instance_identity()
    assert (doc.instance_id, doc.region, doc.account_id) == (
        "i-1234567890abcdef0",
        "us-east-1",
        "515336597381",
    )
    assert client.instance_id() == "i-1234567890abcdef0"
    assert (client.region(), client.availability_zone()) == ("us-east-1", "us-east-1a")
    assert client.account_id() == "515336597381"
    assert gets(sim) == ["/latest/dynamic/instance-identity/document"]
    assert sim.count("PUT") == 1


def test_conveniences_cost_one_get_each_and_cache_clear(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """A second instance_id() is free; after cache_clear() it costs one GET again."""
    client = make_client(endpoint=sim.url)
    assert client.instance_id() == client.instance_id()
    assert gets(sim) == [MD + "instance-id"]
    client.cache_clear()
    client.instance_id()
    assert gets(sim) == [MD + "instance-id"] * 2


def test_credentials_cost_one_get_once_the_role_is_known(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """Cold: the listing then the document; warm: exactly one GET, and never a cached value."""
    client = make_client(endpoint=sim.url)
    first = client.iam_credentials()
    assert first.role_name == DEFAULT_ROLE
    assert first.expiration > datetime.now(UTC)
    assert gets(sim) == [CREDS, CREDS + DEFAULT_ROLE]
    sim.clear_requests()
    sim.rotate_credentials()
    second = client.iam_credentials()
    assert second.access_key_id != first.access_key_id
    assert [(r.method, r.path) for r in sim.requests] == [("GET", CREDS + DEFAULT_ROLE)]


def test_changed_role_is_rediscovered(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """When the remembered role disappears, the role is listed again once."""
    client = make_client(endpoint=sim.url)
    client.iam_credentials()
    sim.iam_role = "replacement-role"
    sim.clear_requests()
    assert client.iam_credentials().role_name == "replacement-role"
    assert gets(sim) == [CREDS + DEFAULT_ROLE, CREDS, CREDS + "replacement-role"]


def test_no_instance_profile(make_client: MakeClient) -> None:
    """Without a role iam_info() is None and iam_credentials() names the fix."""
    with IMDSSimulator(iam_role=None) as sim:
        client = make_client(endpoint=sim.url)
        assert client.iam_info() is None
        with pytest.raises(CredentialsError) as caught:
            client.iam_credentials()
        assert caught.value.hint == HINTS["no_role"]


def test_iam_info(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """iam_info() describes the profile named after the role."""
    info = make_client(endpoint=sim.url).iam_info()
    assert info is not None
    assert info.instance_profile_arn == f"arn:aws:iam::515336597381:instance-profile/{DEFAULT_ROLE}"


def test_credentials_code_not_success(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """The simulator's credentials_error fault surfaces as CredentialsError with its Code."""
    sim.inject("credentials_error", code="AssumeRoleUnauthorizedAccess")
    with pytest.raises(CredentialsError) as caught:
        make_client(endpoint=sim.url).iam_credentials()
    assert caught.value.code == "AssumeRoleUnauthorizedAccess"


def test_bad_json_credentials(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """A truncated credentials document is a CredentialsError."""
    sim.inject("bad_json", path=CREDS + DEFAULT_ROLE)
    with pytest.raises(CredentialsError, match="not valid JSON"):
        make_client(endpoint=sim.url).iam_credentials()


def test_user_data(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """User data is the exact bytes (also gzip); none is None."""
    client = make_client(endpoint=sim.url)
    assert client.user_data() == b"1234,john,reboot,true\n"
    packed = gzip.compress(b"#cloud-config\nruncmd: [reboot]\n")
    sim.set("/latest/user-data", packed)
    assert client.user_data() == packed
    sim.delete("/latest/user-data")
    assert client.user_data() is None


def test_tags(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """Tags are read key by key once enabled; disabled tags (the default) read as {}."""
    sim.tags_enabled = True
    client = make_client(endpoint=sim.url)
    assert client.tags() == {"Name": "test-instance", "Test": "test-tag"}
    assert sim.count("GET") == 3
    sim.tags_enabled = False
    assert client.tags() == {}


def test_spot_interruption_knob(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """No notice is None; a scheduled interruption appears; a cancelled one disappears."""
    client = make_client(endpoint=sim.url)
    assert client.spot_instance_action() is None
    when = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    sim.schedule_spot_interruption("stop", at=when)
    notice = client.spot_instance_action()
    assert notice is not None
    assert (notice.action, notice.time) == ("stop", when)
    sim.cancel_spot_interruption()
    assert client.spot_instance_action() is None


def test_rebalance_knob(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """A rebalance recommendation appears and disappears with the knob."""
    client = make_client(endpoint=sim.url)
    assert client.rebalance_recommendation() is None
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    sim.recommend_rebalance(at=when)
    recommendation = client.rebalance_recommendation()
    assert recommendation is not None
    assert recommendation.notice_time == when
    sim.clear_rebalance_recommendation()
    assert client.rebalance_recommendation() is None


def test_scheduled_events_knob(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """Events added to the simulator are parsed with their times; cleared means []."""
    client = make_client(endpoint=sim.url)
    assert client.scheduled_events() == []
    start = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
    event_id = sim.add_scheduled_event("instance-stop", not_before=start)
    [event] = client.scheduled_events()
    assert (event.event_id, event.code, event.state) == (event_id, "instance-stop", "active")
    assert (event.not_before, event.not_after) == (start, start + timedelta(hours=2))
    sim.clear_scheduled_events()
    assert client.scheduled_events() == []


def test_network_interfaces(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """The one interface of the default tree, with every leaf read once."""
    [nic] = make_client(endpoint=sim.url).network_interfaces()
    assert (nic.mac, nic.interface_id, nic.device_number) == (MAC, "eni-0f95d3625f5c521cc", 0)
    assert nic.ipv4_associations == {"192.0.2.54": "172.16.34.43"}
    assert nic.vpc_ipv6_cidr_blocks == ["2001:db8:8::/56"]
    paths = gets(sim)
    assert len(paths) == len(set(paths)) == 23  # 3 listings + 19 leaves + 1 association


def test_public_keys(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """The key listing and each key: two GETs for one key."""
    [key] = make_client(endpoint=sim.url).public_keys()
    assert (key.index, key.name) == (0, "test")
    assert key.openssh_key is not None
    assert key.openssh_key.startswith("ssh-rsa ")
    assert gets(sim) == [MD + "public-keys/", MD + "public-keys/0/openssh-key"]


def test_block_device_mapping(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """Virtual names to devices, from the default tree."""
    mapping = make_client(endpoint=sim.url).block_device_mapping()
    assert mapping == {"ami": "/dev/xvda", "ebs1": "sdb", "root": "/dev/xvda"}


def test_dump(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """dump() mirrors the tree, reads every path once, and leaves credentials unread."""
    client = make_client(endpoint=sim.url)
    tree = client.dump()
    assert tree["placement"]["region"] == "us-east-1"
    assert tree["public-keys"]["0"]["openssh-key"].startswith("ssh-rsa ")
    assert tree["network"]["interfaces"]["macs"][MAC]["ipv4-associations"] == {
        "192.0.2.54": "172.16.34.43"
    }
    assert tree["iam"]["security-credentials"] == {DEFAULT_ROLE: REDACTED}
    identity = tree["identity-credentials"]["ec2"]
    assert identity["security-credentials"] == {"ec2-instance": REDACTED}
    assert json.loads(identity["info"])["AccountId"] == "515336597381"
    assert json.loads(json.dumps(tree)) == tree
    paths = gets(sim)
    assert len(paths) == len(set(paths))
    assert CREDS + DEFAULT_ROLE not in paths
    assert not [p for p in paths if p.endswith("/ec2-instance")]
    sim.clear_requests()
    with_secrets = client.dump(include_credentials=True)
    document = json.loads(with_secrets["iam"]["security-credentials"][DEFAULT_ROLE])
    assert document["Code"] == "Success"
    assert sim.count("GET") == len(paths) + 2  # the role's and the identity role's documents


def test_dump_dynamic_and_missing(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """An absolute folder can be dumped; a missing one is MetadataNotFoundError."""
    client = make_client(endpoint=sim.url)
    dynamic = client.dump("/latest/dynamic/")
    assert json.loads(dynamic["instance-identity"]["document"])["region"] == "us-east-1"
    assert dynamic["fws"] == {"instance-monitoring": "disabled"}
    with pytest.raises(MetadataNotFoundError):
        client.dump("no-such-folder/")


_PYDANTIC_PROBE = """
import sys
from imdsclient import IMDSClient
with IMDSClient(endpoint=sys.argv[1]) as client:
    client.get("instance-id"); client.instance_id(); client.user_data(); client.tags()
    before = "pydantic" in sys.modules
    client.instance_identity()
    print(before, "pydantic" in sys.modules)
"""


def test_pydantic_loads_only_for_models(sim: IMDSSimulator) -> None:
    """Plain values (get, instance_id, user_data, tags) never import pydantic; models do."""
    out = subprocess.run(
        [sys.executable, "-c", _PYDANTIC_PROBE, sim.url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split() == ["False", "True"]
