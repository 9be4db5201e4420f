"""The typed metadata API through both shells (respx): values, absences, caches, request counts."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import respx

from imdsclient import (
    AsyncIMDSClient,
    CredentialsError,
    IMDSError,
    InstanceIdentityDocument,
    MetadataNotFoundError,
)
from imdsclient._api._common import BASE64_PREFIX, REDACTED
from imdsclient._async_client import GATHER_CONCURRENCY
from imdsclient._protocol import TTL_HEADER
from imdsclient.errors import HINTS
from imdsclient.testing import FakeClock
from tests.conftest import ENDPOINT, MakeClient

MD = "/latest/meta-data/"
IDENTITY = "/latest/dynamic/instance-identity/document"
CREDS = MD + "iam/security-credentials/"
UTC = timezone.utc

IDENTITY_DOC = {
    "accountId": "123456789012",
    "availabilityZone": "eu-west-1b",
    "imageId": "ami-0abc",
    "instanceId": "i-0identity",
    "instanceType": "t3.micro",
    "region": "eu-west-1",
    "pendingTime": "2026-01-02T03:04:05Z",
}


def credentials(key: str = "ASIAKEY1", code: str = "Success") -> bytes:
    return json.dumps(
        {
            "Code": code,
            "LastUpdated": "2026-01-01T00:00:00Z",
            "Type": "AWS-HMAC",
            "AccessKeyId": key,
            "SecretAccessKey": "secret-" + key,
            "Token": "token-" + key,
            "Expiration": "2026-01-01T06:00:00Z",
        }
    ).encode()


def base_tree() -> dict[str, bytes]:
    return {
        MD + "instance-id": b"i-0leaf",
        MD + "placement/region": b"eu-west-1",
        MD + "placement/availability-zone": b"eu-west-1b",
        IDENTITY: json.dumps(IDENTITY_DOC).encode(),
        MD + "iam/info": json.dumps(
            {
                "Code": "Success",
                "LastUpdated": "2026-01-01T00:00:00Z",
                "InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/web",
                "InstanceProfileId": "AIPAEXAMPLE",
            }
        ).encode(),
        CREDS: b"web",
        CREDS + "web": credentials(),
    }


class FakeIMDS:
    """A path -> body table behind respx; anything missing answers 404. Counts the GETs."""

    def __init__(self, router: respx.Router) -> None:
        self.router = router
        self.tree = base_tree()
        #: Answers for paths not in the tree (None: 404).
        self.fallback: Callable[[str], bytes | None] = lambda path: None
        router.put("/latest/api/token").respond(200, text="tok", headers={TTL_HEADER: "21600"})
        router.get(url__startswith=ENDPOINT).mock(side_effect=self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = self.tree[path] if path in self.tree else self.fallback(path)
        return httpx.Response(404) if body is None else httpx.Response(200, content=body)

    def gets(self) -> list[str]:
        """Paths of every GET so far, in order."""
        return [c.request.url.path for c in self.router.calls if c.request.method == "GET"]

    def reset(self) -> None:
        self.router.reset()


@pytest.fixture
def imds() -> Iterator[FakeIMDS]:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        yield FakeIMDS(router)


# -- identity and immutable values ----------------------------------------------------------------


def test_instance_identity_is_parsed_and_cached(imds: FakeIMDS, make_client: MakeClient) -> None:
    """The identity document is a model; a second call, and the values in it, cost nothing."""
    client = make_client()
    doc = client.instance_identity()
    assert isinstance(doc, InstanceIdentityDocument)
    assert doc.pending_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert client.instance_identity() is doc
    assert (client.account_id(), client.instance_id()) == ("123456789012", "i-0identity")
    assert (client.region(), client.availability_zone()) == ("eu-west-1", "eu-west-1b")
    assert imds.gets() == [IDENTITY]


def test_conveniences_read_their_leaf_once(imds: FakeIMDS, make_client: MakeClient) -> None:
    """instance_id/region/availability_zone cost one GET each, then nothing until cache_clear."""
    client = make_client()
    values = [client.instance_id(), client.region(), client.availability_zone()]
    assert values == ["i-0leaf", "eu-west-1", "eu-west-1b"]
    assert [client.instance_id(), client.region(), client.availability_zone()] == values
    assert imds.gets() == [
        MD + "instance-id",
        MD + "placement/region",
        MD + "placement/availability-zone",
    ]
    client.cache_clear()
    imds.reset()
    assert client.instance_id() == "i-0leaf"
    assert imds.gets() == [MD + "instance-id"]


def test_account_id_comes_from_the_identity_document(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """account_id() reads the identity document once."""
    client = make_client()
    assert client.account_id() == client.account_id() == "123456789012"
    assert imds.gets() == [IDENTITY]


def test_region_falls_back_to_identity_document(imds: FakeIMDS, make_client: MakeClient) -> None:
    """An instance without placement/region still has a region (from the identity document)."""
    del imds.tree[MD + "placement/region"]
    assert make_client().region() == "eu-west-1"
    assert imds.gets() == [MD + "placement/region", IDENTITY]


def test_missing_identity_document_stays_not_found(imds: FakeIMDS, make_client: MakeClient) -> None:
    """An unexpected 404 is MetadataNotFoundError, not an empty value."""
    del imds.tree[IDENTITY]
    with pytest.raises(MetadataNotFoundError):
        make_client().instance_identity()


def test_empty_immutable_value_is_an_error_and_not_cached(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """An empty instance-id is not cached: the next call asks again."""
    imds.tree[MD + "instance-id"] = b""
    client = make_client()
    with pytest.raises(IMDSError, match="nothing"):
        client.instance_id()
    imds.tree[MD + "instance-id"] = b"i-0late\n"
    assert client.instance_id() == "i-0late"


# -- IAM ------------------------------------------------------------------------------------------


def test_iam_info(imds: FakeIMDS, make_client: MakeClient) -> None:
    """iam_info() parses the profile, and is not cached."""
    client = make_client()
    info = client.iam_info()
    assert info is not None
    assert info.instance_profile_arn.endswith("instance-profile/web")
    client.iam_info()
    assert imds.gets() == [MD + "iam/info"] * 2


def test_no_role_means_no_info_and_a_clear_credentials_error(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """Without an instance profile iam_info() is None and iam_credentials() says so."""
    for path in (MD + "iam/info", CREDS, CREDS + "web"):
        del imds.tree[path]
    client = make_client()
    assert client.iam_info() is None
    with pytest.raises(CredentialsError, match="No IAM instance profile") as caught:
        client.iam_credentials()
    assert caught.value.hint == HINTS["no_role"]
    assert caught.value.status == 404


def test_credentials_role_discovered_once_then_one_get(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """The first call lists the role; later calls cost exactly one GET."""
    client = make_client()
    creds = client.iam_credentials()
    assert (creds.role_name, creds.access_key_id) == ("web", "ASIAKEY1")
    assert creds.secret_access_key.get_secret_value() == "secret-ASIAKEY1"
    assert imds.gets() == [CREDS, CREDS + "web"]
    imds.reset()
    client.iam_credentials()
    assert imds.gets() == [CREDS + "web"]


def test_credentials_are_never_cached(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Rotated credentials show up on the next call."""
    client = make_client()
    assert client.iam_credentials().access_key_id == "ASIAKEY1"
    imds.tree[CREDS + "web"] = credentials("ASIAKEY2")
    assert client.iam_credentials().access_key_id == "ASIAKEY2"


def test_role_is_discovered_again_once_when_it_answers_404(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """A remembered role that answers 404 is replaced by listing again, once."""
    client = make_client()
    client.iam_credentials()
    del imds.tree[CREDS + "web"]
    imds.tree[CREDS] = b"admin"
    imds.tree[CREDS + "admin"] = credentials("ASIAADMIN")
    imds.reset()
    assert client.iam_credentials().role_name == "admin"
    assert imds.gets() == [CREDS + "web", CREDS, CREDS + "admin"]
    imds.reset()
    client.iam_credentials()
    assert imds.gets() == [CREDS + "admin"]


def test_rediscovery_happens_only_once(imds: FakeIMDS, make_client: MakeClient) -> None:
    """If the listed role still has no credentials, the call fails instead of looping."""
    client = make_client()
    client.iam_credentials()
    del imds.tree[CREDS + "web"]
    imds.reset()
    with pytest.raises(CredentialsError, match="no credentials for the IAM role 'web'"):
        client.iam_credentials()
    assert imds.gets() == [CREDS + "web", CREDS, CREDS + "web"]


def test_fresh_role_answering_404_is_not_rediscovered(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """A role just discovered and answering 404 fails at once (no second listing)."""
    del imds.tree[CREDS + "web"]
    with pytest.raises(CredentialsError):
        make_client().iam_credentials()
    assert imds.gets() == [CREDS, CREDS + "web"]


def test_cache_clear_forgets_the_role(imds: FakeIMDS, make_client: MakeClient) -> None:
    """After cache_clear() the role is listed again."""
    client = make_client()
    client.iam_credentials()
    client.cache_clear()
    imds.reset()
    client.iam_credentials()
    assert imds.gets() == [CREDS, CREDS + "web"]


def test_explicit_role_skips_discovery(imds: FakeIMDS, make_client: MakeClient) -> None:
    """iam_credentials(role=…) is one GET and does not touch the remembered role."""
    imds.tree[CREDS + "other"] = credentials("ASIAOTHER")
    client = make_client()
    assert client.iam_credentials(role="other").access_key_id == "ASIAOTHER"
    assert imds.gets() == [CREDS + "other"]
    with pytest.raises(CredentialsError, match="'missing'"):
        client.iam_credentials(role="missing")
    with pytest.raises(ValueError, match="not an IAM role name"):
        client.iam_credentials(role="../info")


def test_code_not_success_raises_credentials_error(imds: FakeIMDS, make_client: MakeClient) -> None:
    """A 200 whose Code is not Success is a CredentialsError carrying Code and Message."""
    imds.tree[CREDS + "web"] = json.dumps(
        {"Code": "AssumeRoleUnauthorizedAccess", "Message": "EC2 cannot assume the role"}
    ).encode()
    with pytest.raises(CredentialsError) as caught:
        make_client().iam_credentials()
    assert caught.value.code == "AssumeRoleUnauthorizedAccess"
    assert caught.value.detail == "EC2 cannot assume the role"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"Code": "Success", "AccessKeyId": "A"}', b"\xff\xfe", b"[]"],
    ids=["invalid-json", "missing-fields", "not-utf8", "not-an-object"],
)
def test_malformed_credentials_raise_credentials_error(
    imds: FakeIMDS, make_client: MakeClient, body: bytes
) -> None:
    """Invalid JSON, missing fields or garbage are CredentialsError, never a secret in str()."""
    imds.tree[CREDS + "web"] = body
    with pytest.raises(CredentialsError) as caught:
        make_client().iam_credentials()
    assert "secret" not in str(caught.value)


def test_unusable_role_listing_is_a_credentials_error(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """A role listing that is not a role name fails cleanly, before any odd path is built."""
    imds.tree[CREDS] = b"../../user-data"
    with pytest.raises(CredentialsError, match="unusable IAM role name"):
        make_client().iam_credentials()
    assert imds.gets() == [CREDS]


# -- user data, tags, notices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"#!/bin/sh\necho hi\n", gzip.compress(b"#cloud-config\n" * 50), bytes(range(256)), b""],
    ids=["script", "gzip", "binary", "empty"],
)
def test_user_data_exact_bytes(imds: FakeIMDS, make_client: MakeClient, body: bytes) -> None:
    """user_data() returns exactly the bytes served."""
    imds.tree["/latest/user-data"] = body
    assert make_client().user_data() == body


def test_no_user_data_is_none(imds: FakeIMDS, make_client: MakeClient) -> None:
    """An instance without user data answers 404, which is None."""
    assert make_client().user_data() is None


def test_tags(imds: FakeIMDS, make_client: MakeClient) -> None:
    """tags() lists the keys and reads each value, exactly."""
    imds.tree[MD + "tags/instance/"] = b"Name\nteam"
    imds.tree[MD + "tags/instance/Name"] = "wéb 1 ".encode()
    imds.tree[MD + "tags/instance/team"] = b"ops"
    assert make_client().tags() == {"Name": "wéb 1 ", "team": "ops"}
    assert len(imds.gets()) == 3


def test_tags_not_enabled_is_empty(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Tags not allowed in metadata (404) read as {}."""
    assert make_client().tags() == {}


def test_tag_listing_with_a_path_trick_is_rejected(imds: FakeIMDS, make_client: MakeClient) -> None:
    """A listing entry that is not one path segment is an IMDSError, and is never requested."""
    imds.tree[MD + "tags/instance/"] = b"Name\n.."
    with pytest.raises(IMDSError, match="unusable entry"):
        make_client().tags()
    assert imds.gets() == [MD + "tags/instance/"]


def test_spot_and_rebalance_notices(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Published notices are models with UTC times."""
    imds.tree[MD + "spot/instance-action"] = b'{"action": "stop", "time": "2026-01-01T00:02:00Z"}'
    imds.tree[MD + "events/recommendations/rebalance"] = b'{"noticeTime": "2026-01-01T00:00:00Z"}'
    client = make_client()
    spot = client.spot_instance_action()
    assert spot is not None
    assert (spot.action, spot.time) == ("stop", datetime(2026, 1, 1, 0, 2, tzinfo=UTC))
    rebalance = client.rebalance_recommendation()
    assert rebalance is not None
    assert rebalance.notice_time == datetime(2026, 1, 1, tzinfo=UTC)


def test_no_notices_are_none(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Without a spot notice or rebalance recommendation both are None."""
    client = make_client()
    assert client.spot_instance_action() is None
    assert client.rebalance_recommendation() is None


def test_scheduled_events(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Events parse, including IMDS's '21 Jan 2026 09:00:00 GMT' times."""
    imds.tree[MD + "events/maintenance/scheduled"] = json.dumps(
        [
            {
                "NotBefore": "21 Jan 2026 09:00:00 GMT",
                "Code": "system-reboot",
                "Description": "scheduled reboot",
                "EventId": "instance-event-0d59937288b749b32",
                "NotAfter": "21 Jan 2026 11:00:00 GMT",
                "State": "active",
            }
        ]
    ).encode()
    [event] = make_client().scheduled_events()
    assert event.code == "system-reboot"
    assert event.not_before == datetime(2026, 1, 21, 9, tzinfo=UTC)


@pytest.mark.parametrize("body", [None, b"[]", b""], ids=["404", "empty-array", "empty-body"])
def test_no_scheduled_events_is_empty(
    imds: FakeIMDS, make_client: MakeClient, body: bytes | None
) -> None:
    """No events (404, [] or nothing) is []."""
    if body is not None:
        imds.tree[MD + "events/maintenance/scheduled"] = body
    assert make_client().scheduled_events() == []


# -- network, keys, devices -----------------------------------------------------------------------


def nic_tree(mac: str, device: int, ip: str) -> dict[str, bytes]:
    base = f"{MD}network/interfaces/macs/{mac}/"
    return {
        base: b"device-number\nipv4-associations/\nlocal-ipv4s\nsecurity-group-ids",
        base + "device-number": str(device).encode(),
        base + "ipv4-associations/": b"203.0.113.9",
        base + "ipv4-associations/203.0.113.9": ip.encode(),
        base + "local-ipv4s": f"{ip}\n10.0.0.99".encode(),
        base + "security-group-ids": b"sg-1\nsg-2",
    }


def test_network_interfaces(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Every interface is read and built, the primary (device 0) first."""
    imds.tree[MD + "network/interfaces/macs/"] = b"0a:00:00:00:00:02/\n0a:00:00:00:00:01/"
    imds.tree.update(nic_tree("0a:00:00:00:00:02", 1, "10.0.0.2"))
    imds.tree.update(nic_tree("0a:00:00:00:00:01", 0, "10.0.0.1"))
    first, second = make_client().network_interfaces()
    assert (first.mac, first.device_number, second.device_number) == ("0a:00:00:00:00:01", 0, 1)
    assert first.local_ipv4s == ["10.0.0.1", "10.0.0.99"]
    assert first.security_group_ids == ["sg-1", "sg-2"]
    assert first.ipv4_associations == {"203.0.113.9": "10.0.0.1"}
    assert len(imds.gets()) == 1 + 2 * (1 + 3 + 1 + 1)


def test_public_keys(imds: FakeIMDS, make_client: MakeClient) -> None:
    """public_keys() pairs each index=name with its OpenSSH key."""
    imds.tree[MD + "public-keys/"] = b"0=deploy\n1=admin"
    imds.tree[MD + "public-keys/0/openssh-key"] = b"ssh-ed25519 AAAA deploy\n"
    keys = make_client().public_keys()
    assert [(k.index, k.name, k.openssh_key) for k in keys] == [
        (0, "deploy", "ssh-ed25519 AAAA deploy"),
        (1, "admin", None),
    ]


def test_no_public_keys_is_empty(imds: FakeIMDS, make_client: MakeClient) -> None:
    """An instance launched without a key pair has no public-keys/ (404): []."""
    assert make_client().public_keys() == []


def test_block_device_mapping(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Virtual names map to device names."""
    imds.tree[MD + "block-device-mapping/"] = b"ami\nroot\nebs1"
    imds.tree[MD + "block-device-mapping/ami"] = b"/dev/xvda"
    imds.tree[MD + "block-device-mapping/root"] = b"/dev/xvda"
    imds.tree[MD + "block-device-mapping/ebs1"] = b"sdb"
    assert make_client().block_device_mapping() == {
        "ami": "/dev/xvda",
        "root": "/dev/xvda",
        "ebs1": "sdb",
    }


# -- dump -----------------------------------------------------------------------------------------


def dump_tree(imds: FakeIMDS) -> None:
    imds.tree.update(
        {
            MD: b"instance-id\niam/\nplacement/\npublic-keys/\nraw",
            MD + "iam/": b"info\nsecurity-credentials/",
            MD + "placement/": b"region",
            MD + "public-keys/": b"0=deploy",
            MD + "public-keys/0/": b"openssh-key",
            MD + "public-keys/0/openssh-key": b"ssh-ed25519 AAAA deploy",
            MD + "raw": b"\xff\x00binary",
        }
    )


def test_dump_structure(imds: FakeIMDS, make_client: MakeClient) -> None:
    """Folders become dicts, leaves text; public-keys' N=name is folder N; secrets are redacted."""
    dump_tree(imds)
    tree = make_client().dump()
    assert tree["instance-id"] == "i-0leaf"
    assert tree["placement"] == {"region": "eu-west-1"}
    assert tree["public-keys"] == {"0": {"openssh-key": "ssh-ed25519 AAAA deploy"}}
    assert tree["iam"]["security-credentials"] == {"web": REDACTED}
    assert json.loads(tree["iam"]["info"])["InstanceProfileId"] == "AIPAEXAMPLE"
    assert tree["raw"] == BASE64_PREFIX + base64.b64encode(b"\xff\x00binary").decode()
    assert json.loads(json.dumps(tree)) == tree
    assert CREDS + "web" not in imds.gets()


def test_dump_include_credentials(imds: FakeIMDS, make_client: MakeClient) -> None:
    """include_credentials=True reads the credential documents too."""
    dump_tree(imds)
    tree = make_client().dump(include_credentials=True)
    assert json.loads(tree["iam"]["security-credentials"]["web"])["AccessKeyId"] == "ASIAKEY1"


def test_dump_subtree_and_absolute_path(imds: FakeIMDS, make_client: MakeClient) -> None:
    """dump(path) crawls below path; absolute paths are used as given."""
    dump_tree(imds)
    imds.tree["/latest/dynamic/"] = b"instance-identity/"
    imds.tree["/latest/dynamic/instance-identity/"] = b"document"
    client = make_client()
    assert client.dump("placement") == {"region": "eu-west-1"}
    doc = client.dump("/latest/dynamic/")["instance-identity"]["document"]
    assert json.loads(doc)["instanceId"] == "i-0identity"


def test_dump_skips_vanished_entries_but_not_a_missing_root(
    imds: FakeIMDS, make_client: MakeClient
) -> None:
    """A listed leaf that answers 404 is left out; a missing folder is MetadataNotFoundError."""
    imds.tree[MD + "placement/"] = b"region\ngone"
    client = make_client()
    assert client.dump("placement/") == {"region": "eu-west-1"}
    with pytest.raises(MetadataNotFoundError):
        client.dump("nothing-here/")


def test_dump_refuses_an_endless_tree(imds: FakeIMDS, make_client: MakeClient) -> None:
    """A listing that nests forever is not IMDS: IMDSError, not a hang."""
    imds.fallback = lambda path: b"loop/" if "/loop/" in path else None
    with pytest.raises(IMDSError, match="too deep"):
        make_client().dump("loop/")


def _async_dump_of_wide(
    answer: Callable[[httpx.Request], Awaitable[httpx.Response]], clock: FakeClock
) -> dict[str, Any]:
    """``AsyncIMDSClient.dump("wide/")`` with every GET answered by ``answer`` (respx)."""

    async def main() -> dict[str, Any]:
        async with AsyncIMDSClient(endpoint=ENDPOINT, clock=clock) as client:
            return await client.dump("wide/")

    with respx.mock(base_url=ENDPOINT) as router:
        router.put("/latest/api/token").respond(200, text="tok", headers={TTL_HEADER: "60"})
        router.get(url__startswith=ENDPOINT).mock(side_effect=answer)
        return asyncio.run(main())


def test_async_dump_is_concurrent_but_bounded(clock: FakeClock) -> None:
    """The async shell reads a wide folder several requests at a time, never more than the bound."""
    in_flight, peak = 0, 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # a scheduling point, not a wait: lets other requests start
        await asyncio.sleep(0)
        in_flight -= 1
        if request.url.path.endswith("/wide/"):
            return httpx.Response(200, text="\n".join(f"leaf{i}" for i in range(40)))
        return httpx.Response(200, text=request.url.path.rsplit("/", 1)[-1])

    tree = _async_dump_of_wide(answer, clock)
    assert tree == {f"leaf{i}": f"leaf{i}" for i in range(40)}
    assert 1 < peak <= GATHER_CONCURRENCY


def test_async_dump_of_a_wide_folder_runs_on_a_few_tasks(clock: FakeClock) -> None:
    """1000 leaves are read by GATHER_CONCURRENCY worker tasks, not by a task per leaf."""
    peak_tasks = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal peak_tasks
        peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        if request.url.path.endswith("/wide/"):
            return httpx.Response(200, text="\n".join(f"leaf{i}" for i in range(1000)))
        return httpx.Response(200, text="v")

    tree = _async_dump_of_wide(answer, clock)
    assert tree == {f"leaf{i}": "v" for i in range(1000)}
    assert peak_tasks <= GATHER_CONCURRENCY + 1  # the workers and the task running main()
