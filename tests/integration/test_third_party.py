"""Third-party IMDS clients against the DEFAULT simulator (real-IMDS mode): they accept it as IMDS.

botocore's fetchers, boto3's credential chain (pointed at the simulator only through
``AWS_EC2_METADATA_SERVICE_ENDPOINT``, with no other credentials anywhere), aiobotocore's
credential chain, and adamchainz's ``ec2-metadata`` (its URLs aimed at the simulator). None of
them may see a difference that matters: each reads what it would read on an instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imdsclient.testing import IMDSSimulator

MD = "/latest/meta-data/"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[IMDSSimulator]:
    """A default simulator that the AWS SDKs find through the environment, and nothing else."""
    with IMDSSimulator() as simulator:
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", simulator.url)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        yield simulator
        assert simulator.internal_errors == []


def test_botocore_instance_metadata_fetcher(sim: IMDSSimulator) -> None:
    """InstanceMetadataFetcher: token, role, credentials, each request on its own connection."""
    from botocore.utils import InstanceMetadataFetcher

    fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=sim.url, env={})
    credentials = fetcher.retrieve_iam_role_credentials()
    assert credentials["role_name"] == "baskinc-role"
    assert credentials["access_key"].startswith("ASIA")
    assert [r.status for r in sim.requests] == [200, 200, 200]
    assert sim.connections == 3


def test_botocore_instance_metadata_region_fetcher(sim: IMDSSimulator) -> None:
    """InstanceMetadataRegionFetcher reads the region from the availability zone."""
    from botocore.utils import InstanceMetadataRegionFetcher

    fetcher = InstanceMetadataRegionFetcher(timeout=2, num_attempts=1, base_url=sim.url, env={})
    assert fetcher.retrieve_region() == "us-east-1"
    assert sim.count("GET", status=200) >= 1


def test_boto3_credential_chain_finds_the_instance_role(sim: IMDSSimulator) -> None:
    """A plain boto3.Session() with no other credentials ends at the instance role (iam-role)."""
    import boto3

    credentials: Any = boto3.Session().get_credentials()
    assert credentials is not None
    assert credentials.method == "iam-role"
    frozen = credentials.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA")
    assert frozen.token
    assert sim.count("PUT", "/latest/api/token", status=200) >= 1
    assert sim.count("GET", MD + "iam/security-credentials/baskinc-role", status=200) >= 1


def test_aiobotocore_credential_chain_finds_the_instance_role(sim: IMDSSimulator) -> None:
    """aiobotocore (aiohttp inside) gets the role credentials the same way."""
    pytest.importorskip("aiobotocore", reason="aiobotocore is not installed (Python < 3.10?)")
    from aiobotocore.session import get_session

    async def fetch() -> tuple[str, Any]:
        credentials: Any = await get_session().get_credentials()
        frozen = await credentials.get_frozen_credentials()
        return credentials.method, frozen

    method, frozen = asyncio.run(fetch())
    assert method == "iam-role"
    assert frozen.access_key.startswith("ASIA")
    assert sim.count("GET", MD + "iam/security-credentials/baskinc-role", status=200) >= 1


@pytest.fixture
def ec2_metadata(sim: IMDSSimulator) -> Any:
    """adamchainz's EC2Metadata, its URLs (instance attributes since 3.0) aimed at ``sim``."""
    module = pytest.importorskip(
        "ec2_metadata", reason="ec2-metadata 3 is not installed (Python < 3.10?)"
    )
    md = module.EC2Metadata()
    md.service_url = f"{sim.url}/latest/"
    md.dynamic_url = f"{md.service_url}dynamic/"
    md.metadata_url = f"{md.service_url}meta-data/"
    md.userdata_url = f"{md.service_url}user-data/"
    yield md
    md._pool_manager.clear()


def test_ec2_metadata_package(sim: IMDSSimulator, ec2_metadata: Any) -> None:
    """Its properties read the default instance, including what real instances leave out."""
    md = ec2_metadata
    assert md.instance_id == "i-1234567890abcdef0"
    assert md.region == "us-east-1"
    assert md.availability_zone == "us-east-1a"
    assert md.availability_zone_id == "use1-az4"
    assert md.account_id == "515336597381"
    assert md.instance_life_cycle == "on-demand"
    assert md.autoscaling_target_lifecycle_state is None  # not in an Auto Scaling group
    assert md.kernel_id is None  # an HVM instance
    assert md.instance_profile_name == "baskinc-role"
    assert md.iam_security_credentials["AccessKeyId"].startswith("ASIA")
    assert md.spot_instance_action is None
    assert md.user_data == b"1234,john,reboot,true\n"
    assert md.public_keys["test"].openssh_key.startswith("ssh-rsa ")
    (interface,) = md.network_interfaces.values()
    assert interface.private_ipv4s == ["172.16.34.43"]
    assert sim.count("PUT") == 1
    assert sim.connections == len(sim.requests)


def test_ec2_metadata_package_sees_tags_disabled(sim: IMDSSimulator, ec2_metadata: Any) -> None:
    """Tags are off on a default instance: the package gets the 404 a real instance gives."""
    import urllib3

    with pytest.raises(urllib3.exceptions.HTTPError, match="404"):
        len(ec2_metadata.tags)
    sim.tags_enabled = True
    ec2_metadata.clear_all()
    assert dict(ec2_metadata.tags) == {"Name": "test-instance", "Test": "test-tag"}
