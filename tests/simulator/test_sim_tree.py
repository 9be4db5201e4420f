"""The packaged default instance is self-consistent and an ordinary on-demand instance."""

from __future__ import annotations

import ipaddress
import json

import pytest

from imdsclient.testing._tree import default_tree, derive_listing, normalise_tree

MD = "/latest/meta-data/"
TREE = default_tree()
IDENTITY = json.loads(TREE["/latest/dynamic/instance-identity/document"])
MAC = TREE[MD + "mac"]
NIC = f"{MD}network/interfaces/macs/{MAC}/"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("instanceId", MD + "instance-id"),
        ("instanceType", MD + "instance-type"),
        ("imageId", MD + "ami-id"),
        ("availabilityZone", MD + "placement/availability-zone"),
        ("region", MD + "placement/region"),
        ("privateIp", MD + "local-ipv4"),
        ("accountId", NIC + "owner-id"),
    ],
)
def test_identity_document_agrees_with_metadata(key: str, path: str) -> None:
    """Each identity-document field equals the metadata path that carries the same fact."""
    assert IDENTITY[key] == TREE[path]


def test_account_id_is_twelve_digits() -> None:
    """The account id has the real format."""
    assert len(IDENTITY["accountId"]) == 12
    assert IDENTITY["accountId"].isdigit()


def test_availability_zone_is_in_the_region() -> None:
    """us-east-1a belongs to us-east-1."""
    assert TREE[MD + "placement/availability-zone"].startswith(TREE[MD + "placement/region"])


def test_addresses_fit_their_subnet_and_hostnames() -> None:
    """Private IP sits in the subnet and VPC; hostnames and the NIC agree with the top level."""
    private = ipaddress.ip_address(TREE[MD + "local-ipv4"])
    assert private in ipaddress.ip_network(TREE[NIC + "subnet-ipv4-cidr-block"])
    assert private in ipaddress.ip_network(TREE[NIC + "vpc-ipv4-cidr-block"])
    ipv6 = ipaddress.ip_address(TREE[MD + "ipv6"])
    assert ipv6 in ipaddress.ip_network(TREE[NIC + "subnet-ipv6-cidr-blocks"])
    assert TREE[MD + "local-hostname"] == "ip-" + str(private).replace(".", "-") + ".ec2.internal"
    assert TREE[NIC + "local-ipv4s"] == str(private)
    assert TREE[NIC + "public-ipv4s"] == TREE[MD + "public-ipv4"]
    public = TREE[MD + "public-ipv4"]
    assert TREE[NIC + f"ipv4-associations/{public}"] == str(private)


def test_default_is_on_demand_without_notices() -> None:
    """No spot or rebalance notice is baked in; scheduled events are empty."""
    assert TREE[MD + "instance-life-cycle"] == "on-demand"
    assert not any(k.startswith((MD + "spot/", MD + "events/recommendations/")) for k in TREE)
    assert TREE[MD + "events/maintenance/scheduled"] == "[]"


def test_packaged_listings_match_their_leaves() -> None:
    """Every folder listing in the data file names exactly its children (public-keys aside)."""
    keys = set(TREE)
    for folder, body in TREE.items():
        if folder.endswith("/") and folder not in ("/", MD + "public-keys/"):
            assert body.split("\n") == derive_listing(folder, keys), folder


def test_normalise_keeps_only_listings_that_say_something_new() -> None:
    """Listings the leaves imply are dropped (so they stay live); others are kept verbatim."""
    leaves, listings = normalise_tree(TREE)
    assert set(listings) == {"/", MD + "public-keys/"}
    assert leaves[MD + "instance-id"] == b"i-1234567890abcdef0"
