"""Models and parsers: realistic IMDS bodies in, typed UTC-aware frozen models out.

Bodies are copied byte for byte from the sample IMDS tree, from the amazon-ec2-metadata-mock
crawl (tab-indented) and from the shapes the AWS documentation shows, so the tests do not depend
on files outside the repository.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError

from imdsclient._api._model import format_utc
from imdsclient._api.events import (
    ScheduledEvent,
    parse_rebalance,
    parse_scheduled_events,
    parse_spot_action,
)
from imdsclient._api.iam import (
    IAMCredentials,
    botocore_dict,
    credential_process_json,
    parse_credentials,
    parse_iam_info,
)
from imdsclient._api.identity import InstanceIdentityDocument, parse_identity
from imdsclient._api.network import NetworkInterface
from imdsclient._api.public_keys import PublicKey, parse_public_keys_listing
from imdsclient.errors import HINTS, CredentialsError, IMDSError

UTC = timezone.utc

# --- bodies from the sample tree (data/imds-sample-tree.json) --------------------------------

TREE_IDENTITY = b"""{
  "accountId" : "0123456789",
  "imageId" : "ami-0b69ea66ff7391e80",
  "availabilityZone" : "us-east-1f",
  "ramdiskId" : null,
  "kernelId" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "version" : "2017-09-30",
  "privateIp" : "10.0.7.10",
  "billingProducts" : null,
  "instanceId" : "i-1234567890abcdef0",
  "pendingTime" : "2019-10-31T07:02:24Z",
  "architecture" : "x86_64",
  "instanceType" : "m4.xlarge",
  "region" : "us-east-1"
}"""
TREE_IAM_INFO = b"""{
  "Code" : "Success",
  "LastUpdated" : "2020-04-02T18:50:40Z",
  "InstanceProfileArn" : "arn:aws:iam::896453262835:instance-profile/baskinc-role",
  "InstanceProfileId" : "AIPA5BOGHHXZELSK34VU4"
}"""
TREE_SECRET = "v/12345678901"
TREE_TOKEN = "TEST92test48TEST+y6RpoTEST92test48TEST/8oWVAiBqTEsT5Ky7ty2tEStxC1T=="
TREE_CREDENTIALS = b"""{
  "Code" : "Success",
  "LastUpdated" : "2020-04-02T18:50:40Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "12345678901",
  "SecretAccessKey" : "v/12345678901",
  "Token" : "TEST92test48TEST+y6RpoTEST92test48TEST/8oWVAiBqTEsT5Ky7ty2tEStxC1T==",
  "Expiration" : "2020-04-02T00:49:51Z"
}"""
TREE_SPOT = b'{"action": "terminate", "time": "2026-01-01T00:02:00Z"}'
TREE_REBALANCE = b'{"noticeTime": "2026-01-01T00:00:00Z"}'
TREE_EVENTS = b"""[
  {
    "NotBefore" : "1 Jan 2026 00:00:00 GMT",
    "Code" : "system-reboot",
    "Description" : "The instance is scheduled for system-reboot",
    "EventId" : "instance-event-1234567890abcdef0",
    "NotAfter" : "8 Jan 2026 00:00:00 GMT",
    "State" : "active",
    "NotBeforeDeadline" : "10 Jan 2026 00:00:00 GMT"
  }
]"""
TREE_MAC = "0e:49:61:0f:c3:11"
TREE_LEAVES = {
    "device-number": "0",
    "interface-id": "eni-0f95d3625f5c521cc",
    "ipv4-associations/": "192.0.2.54",
    "ipv4-associations/192.0.2.54": "192.0.2.54",
    "ipv6s": "2001:db8:8:4::2",
    "local-hostname": "ip-172-16-34-43.ec2.internal",
    "local-ipv4s": "172.16.34.43",
    "mac": "0e:49:61:0f:c3:11",
    "network-card-index": "0",
    "owner-id": "515336597381",
    "public-hostname": "ec2-192-0-2-54.compute-1.amazonaws.com",
    "public-ipv4s": "192.0.2.54",
    "security-group-ids": "sg-0b07f8f6cb485d4df",
    "security-groups": "ura-launch-wizard-harry-1",
    "subnet-id": "subnet-0ac62554",
    "subnet-ipv4-cidr-block": "192.0.2.0/24",
    "subnet-ipv6-cidr-blocks": "2001:db8::/32",
    "vpc-id": "vpc-d295a6a7",
    "vpc-ipv4-cidr-block": "192.0.2.0/24",
    "vpc-ipv4-cidr-blocks": "192.0.2.0/24",
    "vpc-ipv6-cidr-blocks": "2001:db8::/32",
}

# --- the same documents as amazon-ec2-metadata-mock serves them (tabs, other key order) ------

AEMM_IDENTITY = (
    b'{\n\t"accountId": "0123456789",\n\t"imageId": "ami-0b69ea66ff7391e80",\n\t'
    b'"availabilityZone": "us-east-1f",\n\t"ramdiskId": null,\n\t"kernelId": null,\n\t'
    b'"devpayProductCodes": null,\n\t"marketplaceProductCodes": null,\n\t'
    b'"version": "2017-09-30",\n\t"privateIp": "10.0.7.10",\n\t"billingProducts": null,\n\t'
    b'"instanceId": "i-1234567890abcdef0",\n\t"pendingTime": "2019-10-31T07:02:24Z",\n\t'
    b'"architecture": "x86_64",\n\t"instanceType": "m4.xlarge",\n\t"region": "us-east-1"\n}'
)
AEMM_EVENTS = (
    b'[\n\t{\n\t\t"Code": "system-reboot",\n\t\t'
    b'"Description": "The instance is scheduled for system-reboot",\n\t\t"State": "active",\n\t\t'
    b'"EventId": "instance-event-1234567890abcdef0",\n\t\t"NotBefore": "1 Jan 2026 00:00:00 GMT",'
    b'\n\t\t"NotAfter": "8 Jan 2026 00:00:00 GMT",\n\t\t'
    b'"NotBeforeDeadline": "10 Jan 2026 00:00:00 GMT"\n\t}\n]'
)
AEMM_CREDENTIALS = (
    b'{\n\t"Code": "Success",\n\t"LastUpdated": "2020-04-02T18:50:40Z",\n\t"Type": "AWS-HMAC",'
    b'\n\t"AccessKeyId": "12345678901",\n\t"SecretAccessKey": "v/12345678901",\n\t'
    b'"Token": "TEST92test48TEST+y6RpoTEST92test48TEST/8oWVAiBqTEsT5Ky7ty2tEStxC1T==",\n\t'
    b'"Expiration": "2020-04-02T00:49:51Z"\n}'
)
AEMM_SPOT = b'{\n\t"action": "terminate",\n\t"time": "2026-01-01T00:02:00Z"\n}'
AEMM_REBALANCE = b'{\n\t"noticeTime": "2026-01-01T00:00:00Z"\n}'

# --- the shapes the AWS documentation shows --------------------------------------------------

DOC_IDENTITY = b"""{
    "accountId" : "0123456789",
    "architecture" : "x86_64",
    "availabilityZone" : "us-west-2b",
    "billingProducts" : null,
    "devpayProductCodes" : null,
    "marketplaceProductCodes" : [ "1abc2defghijklm3nopqrs4tu" ],
    "imageId" : "ami-5fb8c835",
    "instanceId" : "i-1234567890abcdef0",
    "instanceType" : "t2.micro",
    "kernelId" : null,
    "pendingTime" : "2016-11-19T16:32:11Z",
    "privateIp" : "10.158.112.84",
    "ramdiskId" : null,
    "region" : "us-west-2",
    "version" : "2017-09-30"
}"""
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKENvalue+/=="
DOC_CREDENTIALS = json.dumps(
    {
        "Code": "Success",
        "LastUpdated": "2012-04-26T16:39:16Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "SecretAccessKey": DOC_SECRET,
        "Token": DOC_TOKEN,
        "Expiration": "2017-05-17T15:09:54Z",
    },
    indent=2,
).encode()
DOC_IAM_INFO = b"""{
  "Code" : "Success",
  "LastUpdated" : "2023-03-14T10:12:45Z",
  "InstanceProfileArn" : "arn:aws:iam::123456789012:instance-profile/MyInstanceProfile",
  "InstanceProfileId" : "AIPAJ4EXAMPLEPROFILEID"
}"""
DOC_SPOT = b'{"action": "terminate", "time": "2017-09-18T08:22:00Z"}'
DOC_REBALANCE = b'{"noticeTime": "2020-11-05T08:22:00Z"}'
DOC_EVENTS = b"""[
  {
    "NotBefore" : "21 Jan 2026 09:00:43 GMT",
    "Code" : "system-reboot",
    "Description" : "scheduled reboot",
    "EventId" : "instance-event-0d59937288b749b32",
    "NotAfter" : "21 Jan 2026 09:17:23 GMT",
    "State" : "active"
  },
  {
    "NotBefore" : "29 Jan 2026 09:00:00 GMT",
    "Code" : "instance-stop",
    "Description" : "[Canceled] scheduled stop",
    "EventId" : "instance-event-0123456789abcdef1",
    "NotAfter" : "29 Jan 2026 09:30:00 GMT",
    "NotBeforeDeadline" : "5 Feb 2026 09:00:00 GMT",
    "State" : "canceled"
  }
]"""
ASSUME_ROLE_FAILURE = b"""{
  "Code" : "AssumeRoleUnauthorizedAccess",
  "Message" : "EC2 cannot assume the role baskinc-role. Check the role's trust policy.",
  "LastUpdated" : "2020-04-02T18:50:40Z"
}"""


def _credentials(body: bytes) -> IAMCredentials:
    """Parse credentials for the role every test uses."""
    return parse_credentials(body, role="baskinc-role")


#: Every bytes-in parser, with the role filled in for credentials.
PARSERS: dict[str, Callable[[bytes], object]] = {
    "identity": parse_identity,
    "iam_info": parse_iam_info,
    "credentials": _credentials,
    "spot": parse_spot_action,
    "rebalance": parse_rebalance,
    "events": parse_scheduled_events,
    "public_keys": parse_public_keys_listing,
}
JSON_PARSERS = {name: parse for name, parse in PARSERS.items() if name != "public_keys"}


# --- the sample tree --------------------------------------------------------------------------


def test_identity_from_sample_tree() -> None:
    """The sample tree's identity document maps every field, nulls included."""
    doc = parse_identity(TREE_IDENTITY)
    assert doc.account_id == "0123456789"
    assert doc.image_id == "ami-0b69ea66ff7391e80"
    assert doc.availability_zone == "us-east-1f"
    assert doc.instance_id == "i-1234567890abcdef0"
    assert doc.instance_type == "m4.xlarge"
    assert doc.region == "us-east-1"
    assert doc.architecture == "x86_64"
    assert doc.private_ip == "10.0.7.10"
    assert doc.version == "2017-09-30"
    assert doc.pending_time == datetime(2019, 10, 31, 7, 2, 24, tzinfo=UTC)
    assert doc.kernel_id is None
    assert doc.ramdisk_id is None
    assert doc.billing_products is None
    assert doc.devpay_product_codes is None
    assert doc.marketplace_product_codes is None
    assert doc.model_extra == {}


def test_iam_info_from_sample_tree() -> None:
    """The sample tree's iam/info maps to IAMInfo with an aware LastUpdated."""
    info = parse_iam_info(TREE_IAM_INFO)
    assert info.code == "Success"
    assert info.last_updated == datetime(2020, 4, 2, 18, 50, 40, tzinfo=UTC)
    assert info.instance_profile_arn == "arn:aws:iam::896453262835:instance-profile/baskinc-role"
    assert info.instance_profile_id == "AIPA5BOGHHXZELSK34VU4"


def test_credentials_from_sample_tree() -> None:
    """The sample tree's credentials parse, with the role injected and secrets wrapped."""
    creds = _credentials(TREE_CREDENTIALS)
    assert creds.role_name == "baskinc-role"
    assert creds.access_key_id == "12345678901"
    assert isinstance(creds.secret_access_key, SecretStr)
    assert creds.secret_access_key.get_secret_value() == TREE_SECRET
    assert creds.token.get_secret_value() == TREE_TOKEN
    assert creds.expiration == datetime(2020, 4, 2, 0, 49, 51, tzinfo=UTC)
    assert creds.last_updated == datetime(2020, 4, 2, 18, 50, 40, tzinfo=UTC)
    assert creds.code == "Success"
    assert creds.type == "AWS-HMAC"


def test_spot_and_rebalance_from_sample_tree() -> None:
    """The sample tree's spot notice and rebalance recommendation parse to aware datetimes."""
    spot = parse_spot_action(TREE_SPOT)
    assert spot.action == "terminate"
    assert spot.time == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    assert parse_rebalance(TREE_REBALANCE).notice_time == datetime(2026, 1, 1, tzinfo=UTC)


def test_scheduled_events_from_sample_tree() -> None:
    """The sample tree's event uses IMDS's 'D Mon YYYY HH:MM:SS GMT' times, all three parsed."""
    (event,) = parse_scheduled_events(TREE_EVENTS)
    assert event.code == "system-reboot"
    assert event.description == "The instance is scheduled for system-reboot"
    assert event.event_id == "instance-event-1234567890abcdef0"
    assert event.state == "active"
    assert event.not_before == datetime(2026, 1, 1, tzinfo=UTC)
    assert event.not_after == datetime(2026, 1, 8, tzinfo=UTC)
    assert event.not_before_deadline == datetime(2026, 1, 10, tzinfo=UTC)


def test_public_keys_listing_from_sample_tree() -> None:
    """The sample tree's public-keys/ listing '0=test' gives one (index, name) pair."""
    assert parse_public_keys_listing(b"0=test") == [(0, "test")]


def test_network_interface_from_sample_tree() -> None:
    """The sample tree's per-MAC leaves build a NetworkInterface; folder listings are ignored."""
    nic = NetworkInterface.from_leaves(TREE_MAC, TREE_LEAVES)
    assert nic.mac == TREE_MAC
    assert nic.device_number == 0
    assert nic.network_card_index == 0
    assert nic.interface_id == "eni-0f95d3625f5c521cc"
    assert nic.owner_id == "515336597381"
    assert nic.local_hostname == "ip-172-16-34-43.ec2.internal"
    assert nic.public_hostname == "ec2-192-0-2-54.compute-1.amazonaws.com"
    assert nic.local_ipv4s == ["172.16.34.43"]
    assert nic.public_ipv4s == ["192.0.2.54"]
    assert nic.ipv6s == ["2001:db8:8:4::2"]
    assert nic.ipv4_associations == {"192.0.2.54": "192.0.2.54"}
    assert nic.security_group_ids == ["sg-0b07f8f6cb485d4df"]
    assert nic.security_groups == ["ura-launch-wizard-harry-1"]
    assert nic.subnet_id == "subnet-0ac62554"
    assert nic.subnet_ipv4_cidr_block == "192.0.2.0/24"
    assert nic.subnet_ipv6_cidr_blocks == ["2001:db8::/32"]
    assert nic.vpc_id == "vpc-d295a6a7"
    assert nic.vpc_ipv4_cidr_block == "192.0.2.0/24"
    assert nic.vpc_ipv4_cidr_blocks == ["192.0.2.0/24"]
    assert nic.vpc_ipv6_cidr_blocks == ["2001:db8::/32"]
    assert nic.ipv4_prefixes == []
    assert nic.model_extra == {}


@pytest.mark.parametrize(
    ("name", "tree", "aemm"),
    [
        ("identity", TREE_IDENTITY, AEMM_IDENTITY),
        ("credentials", TREE_CREDENTIALS, AEMM_CREDENTIALS),
        ("events", TREE_EVENTS, AEMM_EVENTS),
        ("spot", TREE_SPOT, AEMM_SPOT),
        ("rebalance", TREE_REBALANCE, AEMM_REBALANCE),
    ],
)
def test_mock_bodies_parse_like_the_sample_tree(name: str, tree: bytes, aemm: bytes) -> None:
    """amazon-ec2-metadata-mock's byte-exact bodies (tabs, other key order) parse identically."""
    assert PARSERS[name](aemm) == PARSERS[name](tree)


# --- the shapes AWS documents ------------------------------------------------------------------


def test_identity_documented_shape() -> None:
    """The documented identity document, with a marketplace product code list, parses."""
    doc = parse_identity(DOC_IDENTITY)
    assert doc.marketplace_product_codes == ["1abc2defghijklm3nopqrs4tu"]
    assert doc.availability_zone == "us-west-2b"
    assert doc.instance_type == "t2.micro"
    assert doc.pending_time == datetime(2016, 11, 19, 16, 32, 11, tzinfo=UTC)


def test_identity_optional_fields_may_be_absent() -> None:
    """Only the six identifying fields are required; the rest default to None."""
    doc = parse_identity(
        b'{"accountId": "1", "availabilityZone": "a", "imageId": "ami-1",'
        b' "instanceId": "i-1", "instanceType": "t3.nano", "region": "r"}'
    )
    assert doc.pending_time is None
    assert doc.architecture is None


def test_identity_accepts_snake_case_names() -> None:
    """populate_by_name: a document re-serialised with snake_case keys round-trips."""
    doc = parse_identity(DOC_IDENTITY)
    assert InstanceIdentityDocument.model_validate(doc.model_dump()) == doc
    assert InstanceIdentityDocument.model_validate(doc.model_dump(by_alias=True)) == doc


def test_credentials_documented_shape() -> None:
    """The documented credentials document parses, with the path defaulting to the role's."""
    creds = parse_credentials(DOC_CREDENTIALS, role="MyRole")
    assert creds.role_name == "MyRole"
    assert creds.access_key_id == "ASIAIOSFODNN7EXAMPLE"
    assert creds.secret_access_key.get_secret_value() == DOC_SECRET
    assert creds.expiration == datetime(2017, 5, 17, 15, 9, 54, tzinfo=UTC)


def test_iam_info_documented_shape() -> None:
    """The documented iam/info document parses."""
    info = parse_iam_info(DOC_IAM_INFO)
    assert info.instance_profile_id == "AIPAJ4EXAMPLEPROFILEID"
    assert info.last_updated == datetime(2023, 3, 14, 10, 12, 45, tzinfo=UTC)


def test_spot_documented_shape() -> None:
    """The documented spot instance-action notice parses."""
    spot = parse_spot_action(DOC_SPOT)
    assert (spot.action, spot.time) == ("terminate", datetime(2017, 9, 18, 8, 22, tzinfo=UTC))


def test_rebalance_documented_shape() -> None:
    """The documented rebalance recommendation parses."""
    assert parse_rebalance(DOC_REBALANCE).notice_time == datetime(2020, 11, 5, 8, 22, tzinfo=UTC)


def test_scheduled_events_documented_shape() -> None:
    """Documented events, one active and one canceled with a deadline, parse in order."""
    first, second = parse_scheduled_events(DOC_EVENTS)
    assert first.not_before == datetime(2026, 1, 21, 9, 0, 43, tzinfo=UTC)
    assert first.not_after == datetime(2026, 1, 21, 9, 17, 23, tzinfo=UTC)
    assert first.not_before_deadline is None
    assert second.state == "canceled"
    assert second.code == "instance-stop"
    assert second.not_before_deadline == datetime(2026, 2, 5, 9, tzinfo=UTC)


def test_scheduled_events_empty() -> None:
    """No events: an empty array, or an empty body, is an empty list."""
    assert parse_scheduled_events(b"[]") == []
    assert parse_scheduled_events(b"") == []
    assert parse_scheduled_events(b"\n") == []


def test_scheduled_events_accept_iso_8601() -> None:
    """Event times in ISO 8601 (with an offset) are accepted and converted to UTC."""
    (event,) = parse_scheduled_events(
        b'[{"Code": "instance-reboot", "Description": "d", "EventId": "e",'
        b' "NotBefore": "2026-01-21T10:00:00+01:00", "State": "active"}]'
    )
    assert event.not_before == datetime(2026, 1, 21, 9, tzinfo=UTC)
    assert event.not_after is None


# --- credential failures -----------------------------------------------------------------------


def test_credentials_code_not_success() -> None:
    """Code != Success raises CredentialsError carrying the Code and the Message."""
    with pytest.raises(CredentialsError) as caught:
        _credentials(ASSUME_ROLE_FAILURE)
    err = caught.value
    assert err.code == "AssumeRoleUnauthorizedAccess"
    assert err.detail == "EC2 cannot assume the role baskinc-role. Check the role's trust policy."
    assert err.status is None
    assert err.path == "/latest/meta-data/iam/security-credentials/baskinc-role"
    assert err.hint == HINTS["credentials"]
    assert "AssumeRoleUnauthorizedAccess" in str(err)
    assert "trust policy" in str(err)


def test_credentials_code_not_success_without_message() -> None:
    """A failure Code without a Message still raises, with detail None."""
    with pytest.raises(CredentialsError) as caught:
        parse_credentials(b'{"Code": "Failure"}', role="r", path="/custom")
    assert (caught.value.code, caught.value.detail, caught.value.path) == (
        "Failure",
        None,
        "/custom",
    )


def test_iam_info_code_not_success() -> None:
    """iam/info with Code != Success raises CredentialsError too."""
    with pytest.raises(CredentialsError) as caught:
        parse_iam_info(b'{"Code": "InstanceProfileNotFound", "Message": "gone"}')
    assert (caught.value.code, caught.value.detail) == ("InstanceProfileNotFound", "gone")


@pytest.mark.parametrize("field", ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"])
def test_credentials_missing_field(field: str) -> None:
    """A Success document missing a required field raises CredentialsError naming the field."""
    document = json.loads(DOC_CREDENTIALS)
    del document[field]
    with pytest.raises(CredentialsError) as caught:
        _credentials(json.dumps(document).encode())
    message = str(caught.value)
    assert field in message
    assert caught.value.code is None
    assert caught.value.hint == HINTS["bad_response"]
    for secret in (DOC_SECRET, DOC_TOKEN):
        assert secret not in message
        assert secret not in repr(caught.value)


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b'{"Token": 5}']
)
def test_credentials_malformed(body: bytes) -> None:
    """Undecodable, non-JSON, or wrongly shaped credentials are a CredentialsError."""
    with pytest.raises(CredentialsError) as caught:
        _credentials(body)
    assert caught.value.path == "/latest/meta-data/iam/security-credentials/baskinc-role"


def test_credentials_error_never_quotes_secrets() -> None:
    """A bad Expiration next to valid secrets: the error names the field, not the values."""
    document = json.loads(DOC_CREDENTIALS)
    document["Expiration"] = DOC_SECRET  # even a secret in the wrong field is not echoed
    document["AccessKeyId"] = ["not", "a", "string"]
    with pytest.raises(CredentialsError) as caught:
        _credentials(json.dumps(document).encode())
    rendered = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert "Expiration" in rendered
    assert "AccessKeyId" in rendered
    assert DOC_SECRET not in rendered
    assert DOC_TOKEN not in rendered


# --- secrets in the model ------------------------------------------------------------------------


def test_credentials_repr_str_hide_secrets() -> None:
    """repr() and str() of credentials show the access key id but neither secret."""
    creds = parse_credentials(DOC_CREDENTIALS, role="MyRole")
    for text in (repr(creds), str(creds), f"{creds}", repr(creds.model_dump())):
        assert DOC_SECRET not in text
        assert DOC_TOKEN not in text
    assert "ASIAIOSFODNN7EXAMPLE" in repr(creds)


def test_credentials_model_dump_json_masks_secrets() -> None:
    """model_dump_json renders both secrets as '**********'."""
    dumped = json.loads(parse_credentials(DOC_CREDENTIALS, role="MyRole").model_dump_json())
    assert dumped["secret_access_key"] == "**********"
    assert dumped["token"] == "**********"
    assert dumped["expiration"] == "2017-05-17T15:09:54Z"


def test_credentials_repr_hides_extra_values() -> None:
    """An unknown field AWS adds later is kept but its value is masked in repr, just in case."""
    document = json.loads(DOC_CREDENTIALS)
    document["FutureSecret"] = "hush-hush-value"
    creds = _credentials(json.dumps(document).encode())
    assert creds.model_extra == {"FutureSecret": "hush-hush-value"}
    assert "FutureSecret" in repr(creds)
    assert "hush-hush-value" not in repr(creds)
    assert "hush-hush-value" not in str(creds)


def test_credential_process_json() -> None:
    """credential_process output has Version 1, the four keys and a Z-suffixed Expiration."""
    creds = parse_credentials(DOC_CREDENTIALS, role="MyRole")
    assert credential_process_json(creds) == {
        "Version": 1,
        "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "SecretAccessKey": DOC_SECRET,
        "SessionToken": DOC_TOKEN,
        "Expiration": "2017-05-17T15:09:54Z",
    }


def test_botocore_dict() -> None:
    """botocore_dict has the keys botocore's InstanceMetadataFetcher returns."""
    creds = parse_credentials(DOC_CREDENTIALS, role="MyRole")
    assert botocore_dict(creds) == {
        "role_name": "MyRole",
        "access_key": "ASIAIOSFODNN7EXAMPLE",
        "secret_key": DOC_SECRET,
        "token": DOC_TOKEN,
        "expiry_time": "2017-05-17T15:09:54Z",
    }


def test_format_utc_converts_offsets_and_drops_fractions() -> None:
    """Expiration formatting converts to UTC and drops microseconds."""
    plus_two = timezone(timedelta(hours=2))
    assert format_utc(datetime(2026, 1, 1, 2, 0, 0, 999, tzinfo=plus_two)) == "2026-01-01T00:00:00Z"
    assert format_utc(datetime(2026, 1, 1)) == "2026-01-01T00:00:00Z"


# --- model behaviour -----------------------------------------------------------------------------


def test_extra_fields_are_kept() -> None:
    """Fields AWS adds later survive parsing and are readable as extras."""
    document = json.loads(DOC_IDENTITY)
    document["newField"] = {"nested": [1, 2]}
    doc = parse_identity(json.dumps(document).encode())
    assert doc.model_extra == {"newField": {"nested": [1, 2]}}
    (event,) = parse_scheduled_events(
        b'[{"Code": "c", "Description": "d", "EventId": "e",'
        b' "NotBefore": "1 Jan 2026 00:00:00 GMT", "State": "active", "Region": "x"}]'
    )
    assert event.model_extra == {"Region": "x"}


def test_network_interface_keeps_unknown_leaves() -> None:
    """A leaf the model does not know is kept as a snake_case extra with its raw text."""
    nic = NetworkInterface.from_leaves(TREE_MAC, {"brand-new-leaf": "a\nb"})
    assert nic.model_extra == {"brand_new_leaf": "a\nb"}


@pytest.mark.parametrize(
    "model",
    [
        parse_identity(DOC_IDENTITY),
        parse_iam_info(DOC_IAM_INFO),
        parse_credentials(DOC_CREDENTIALS, role="MyRole"),
        parse_spot_action(DOC_SPOT),
        parse_rebalance(DOC_REBALANCE),
        parse_scheduled_events(DOC_EVENTS)[0],
        NetworkInterface.from_leaves(TREE_MAC, TREE_LEAVES),
        PublicKey.model_validate({"index": 0, "name": "test"}),
    ],
    ids=lambda model: type(model).__name__,
)
def test_models_are_frozen(model: BaseModel) -> None:
    """Assigning to any field of any model raises: a cached value cannot change under others."""
    for name in [*type(model).model_fields, "brand_new_attribute"]:
        with pytest.raises(ValidationError):
            setattr(model, name, "changed")


def test_naive_datetimes_are_utc() -> None:
    """A timestamp without a zone is taken as UTC, not local time."""
    spot = parse_spot_action(b'{"action": "stop", "time": "2026-03-01T12:00:00"}')
    assert spot.time.tzinfo is UTC
    assert spot.time == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_offset_datetimes_are_converted_to_utc() -> None:
    """A timestamp with an offset is converted to UTC, and tzinfo is the stdlib UTC."""
    spot = parse_spot_action(b'{"action": "hibernate", "time": "2026-03-01T12:00:00-05:00"}')
    assert spot.time.tzinfo is UTC
    assert spot.time.hour == 17


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21 Jan 2026 09:00:00 GMT", datetime(2026, 1, 21, 9, tzinfo=UTC)),
        ("1 Dec 2025 23:59:59 GMT", datetime(2025, 12, 1, 23, 59, 59, tzinfo=UTC)),
        ("Wed, 21 Jan 2026 09:00:00 GMT", datetime(2026, 1, 21, 9, tzinfo=UTC)),
        ("21 jan 2026 09:00:00 UTC", datetime(2026, 1, 21, 9, tzinfo=UTC)),
        ("2026-01-21T09:00:00Z", datetime(2026, 1, 21, 9, tzinfo=UTC)),
    ],
)
def test_event_time_formats(text: str, expected: datetime) -> None:
    """IMDS's event time format (and ISO 8601) parse to aware UTC datetimes."""
    event = ScheduledEvent.model_validate(
        {"Code": "c", "Description": "d", "EventId": "e", "NotBefore": text, "State": "s"}
    )
    assert event.not_before == expected
    assert event.not_before.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "31 Feb 2026 09:00:00 GMT",
        "21 Foo 2026 09:00:00 GMT",
        "21 Jan 2026 25:00:00 GMT",
        "9999-12-31T23:59:59-01:00",
        "yesterday",
    ],
)
def test_bad_times_raise_imds_error(text: str) -> None:
    """Impossible or out-of-range times are an IMDSError, never OverflowError or ValueError."""
    body = json.dumps({"action": "stop", "time": text}).encode()
    with pytest.raises(IMDSError) as caught:
        parse_spot_action(body)
    assert "'time'" in str(caught.value)


def test_public_key_listing_several_keys() -> None:
    """Several keys, a trailing newline and names with '=' parse in listing order."""
    assert parse_public_keys_listing(b"0=alpha\n1=beta=gamma\n") == [
        (0, "alpha"),
        (1, "beta=gamma"),
    ]
    assert parse_public_keys_listing(b"") == []


@pytest.mark.parametrize("body", [b"alpha", b"=alpha", b"0=", b"x=alpha", b"99999999999=big"])
def test_public_key_listing_malformed(body: bytes) -> None:
    """Lines not in the index=name form are an IMDSError."""
    with pytest.raises(IMDSError):
        parse_public_keys_listing(body)


def test_non_utf8_is_rejected_even_when_it_would_decode_otherwise() -> None:
    """Latin-1 bytes are not silently decoded: IMDS speaks UTF-8, anything else is an error."""
    with pytest.raises(IMDSError, match="not UTF-8"):
        parse_public_keys_listing(b"0=caf\xe9")
    with pytest.raises(IMDSError, match="not UTF-8"):
        parse_rebalance(b'{"noticeTime": "2026-01-01T00:00:00Z", "x": "\xe9"}')


def test_public_key_model() -> None:
    """PublicKey holds index, name and the optional OpenSSH key."""
    key = PublicKey.model_validate({"index": 0, "name": "test", "openssh_key": "ssh-rsa AAA"})
    assert (key.index, key.name, key.openssh_key) == (0, "test", "ssh-rsa AAA")
    with pytest.raises(ValidationError):
        PublicKey.model_validate({"index": -1, "name": "test"})


def test_network_interface_splits_multi_value_leaves() -> None:
    """LF-separated leaves become lists; blank lines are dropped; the mac argument wins."""
    nic = NetworkInterface.from_leaves(
        "02:00:00:00:00:01",
        {
            "mac": "ignored",
            "local-ipv4s": "10.0.0.5\n10.0.0.6\n",
            "ipv6s": "2001:db8::1\n\n2001:db8::2",
            "security-group-ids": "sg-1\nsg-2",
            "ipv4-prefix": "10.0.0.16/28",
            "device-number": "1\n",
        },
    )
    assert nic.mac == "02:00:00:00:00:01"
    assert nic.local_ipv4s == ["10.0.0.5", "10.0.0.6"]
    assert nic.ipv6s == ["2001:db8::1", "2001:db8::2"]
    assert nic.security_group_ids == ["sg-1", "sg-2"]
    assert nic.ipv4_prefixes == ["10.0.0.16/28"]
    assert nic.device_number == 1
    assert nic.public_ipv4s == []


def test_network_interface_bad_leaf_raises_imds_error() -> None:
    """A non-numeric device-number is an IMDSError naming the leaf and carrying the path."""
    with pytest.raises(IMDSError) as caught:
        NetworkInterface.from_leaves(TREE_MAC, {"device-number": "eth0"}, path="/macs/x/")
    assert "device-number" in str(caught.value)
    assert caught.value.path == "/macs/x/"


# --- every parser: errors are imdsclient errors -------------------------------------------------


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("body", [b"\xff\xfe\x00", b"{", b"[[[", b'{"a": 1', b"1" * 5000])
def test_garbage_raises_bad_response(name: str, body: bytes) -> None:
    """Garbage into any parser is an IMDSError with no status and the bad_response hint."""
    with pytest.raises(IMDSError) as caught:
        PARSERS[name](body)
    assert caught.value.status is None
    assert caught.value.path
    assert caught.value.hint == HINTS["bad_response"]
    assert not isinstance(caught.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("name", sorted(JSON_PARSERS))
@pytest.mark.parametrize("body", [b"[]", b"{}", b"null", b"42", b'"x"', b"true", b"[" * 100_000])
def test_wrong_json_shapes_raise_imds_error(name: str, body: bytes) -> None:
    """Valid JSON of the wrong shape (and absurd nesting) is an IMDSError, with a path."""
    if name == "events" and body == b"[]":
        assert parse_scheduled_events(body) == []
        return
    with pytest.raises(IMDSError) as caught:
        JSON_PARSERS[name](body)
    assert caught.value.path


def test_identity_error_is_plain_imds_error_with_path() -> None:
    """Identity errors are IMDSError (not a subclass), with the document's path."""
    with pytest.raises(IMDSError) as caught:
        parse_identity(b"{}", path="/latest/dynamic/instance-identity/document")
    assert type(caught.value) is IMDSError
    assert caught.value.path == "/latest/dynamic/instance-identity/document"
    assert "instanceId" in str(caught.value)


# --- properties ----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ZONES = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=-12)), timezone(timedelta(hours=14, minutes=30))]
)
EDGE_TIMES = st.sampled_from(
    [datetime.min, datetime.max, datetime(1, 1, 1, 0, 30), datetime(9999, 12, 31, 23, 0)]
).flatmap(lambda moment: ZONES.map(lambda zone: moment.replace(tzinfo=zone)))
TIME_TEXT = (st.datetimes(timezones=ZONES) | EDGE_TIMES).flatmap(
    lambda moment: st.sampled_from(
        [moment.isoformat(), moment.strftime("%d %b %Y %H:%M:%S GMT"), moment.isoformat()[:10]]
    )
)
KNOWN_KEYS = sorted(
    {
        field.alias or name
        for model in (InstanceIdentityDocument, IAMCredentials, ScheduledEvent)
        for name, field in model.model_fields.items()
    }
    | {"action", "time", "noticeTime", "InstanceProfileArn", "InstanceProfileId", "Message"}
)
DOCUMENTS = st.dictionaries(
    st.sampled_from(KNOWN_KEYS) | st.text(max_size=8),
    JSON_VALUES | TIME_TEXT | st.sampled_from(["Success", "Failure"]),
    max_size=len(KNOWN_KEYS),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _model_or_imds_error(parse: Callable[[bytes], object], body: bytes) -> None:
    """The property itself: a value comes back, or an imdsclient error is raised."""
    with contextlib.suppress(IMDSError):
        parse(body)


@PROPERTY
@given(name=st.sampled_from(sorted(PARSERS)), body=st.binary(max_size=300))
def test_arbitrary_bytes(name: str, body: bytes) -> None:
    """Arbitrary bytes into any parser: a model or an IMDSError, nothing else."""
    _model_or_imds_error(PARSERS[name], body)


@PROPERTY
@given(name=st.sampled_from(sorted(PARSERS)), value=JSON_VALUES)
def test_arbitrary_json(name: str, value: object) -> None:
    """Arbitrary JSON values into any parser: a model or an IMDSError, nothing else."""
    _model_or_imds_error(PARSERS[name], json.dumps(value).encode())


@PROPERTY
@given(
    name=st.sampled_from(sorted(JSON_PARSERS)),
    document=DOCUMENTS | st.lists(DOCUMENTS, max_size=3),
)
def test_near_miss_documents(name: str, document: object) -> None:
    """Documents with the real keys and arbitrary values: a model or an IMDSError."""
    _model_or_imds_error(JSON_PARSERS[name], json.dumps(document).encode())


@PROPERTY
@given(
    secret=st.text(min_size=6, max_size=40).map(lambda text: f"SECRET<{text}>"),
    token=st.text(min_size=6, max_size=40).map(lambda text: f"TOKEN<{text}>"),
    others=st.dictionaries(
        st.sampled_from(["AccessKeyId", "Expiration", "LastUpdated", "Type", "Code"]),
        JSON_VALUES | TIME_TEXT | st.sampled_from(["Success", "Failure"]),
    ),
)
def test_credentials_never_leak(secret: str, token: str, others: dict[str, object]) -> None:
    """Whatever else the document holds, neither secret appears in a model's or error's text."""
    body = json.dumps({**others, "SecretAccessKey": secret, "Token": token}).encode()
    try:
        creds = _credentials(body)
    except CredentialsError as err:
        rendered = [str(err), repr(err), repr(err.args), str(err.detail), str(err.code)]
    else:
        rendered = [repr(creds), str(creds), creds.model_dump_json()]
    for text in rendered:
        assert secret not in text
        assert token not in text


@PROPERTY
@given(
    mac=st.text(max_size=20),
    leaves=st.dictionaries(
        st.sampled_from(sorted(TREE_LEAVES)) | st.text(max_size=12), st.text(max_size=40)
    ),
)
def test_network_interface_arbitrary_leaves(mac: str, leaves: dict[str, str]) -> None:
    """Arbitrary leaves into from_leaves: a NetworkInterface or an IMDSError, nothing else."""
    try:
        nic = NetworkInterface.from_leaves(mac, leaves)
    except IMDSError:
        return
    assert nic.mac == mac
