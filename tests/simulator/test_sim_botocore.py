"""botocore's own IMDS credential fetcher accepts the simulator as a real IMDS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from botocore.utils import InstanceMetadataFetcher

from imdsclient.testing import IMDSSimulator

CREDS_PATH = "/latest/meta-data/iam/security-credentials/"


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[IMDSSimulator]:
    with IMDSSimulator(http_tokens=request.param) as simulator:
        yield simulator


def fetch(sim: IMDSSimulator) -> dict[str, str]:
    fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=sim.url, env={})
    credentials: dict[str, str] = fetcher.retrieve_iam_role_credentials()
    return credentials


@pytest.mark.parametrize("sim", ["optional", "required"], indirect=True)
def test_botocore_retrieves_role_credentials(sim: IMDSSimulator) -> None:
    """botocore gets a token, finds the role and reads the credentials, tokens optional or not."""
    credentials = fetch(sim)
    assert credentials["role_name"] == "baskinc-role"
    assert credentials["access_key"].startswith("ASIA")
    assert credentials["secret_key"]
    assert credentials["token"]
    expiry = datetime.strptime(credentials["expiry_time"], "%Y-%m-%dT%H:%M:%SZ")
    assert expiry.replace(tzinfo=timezone.utc) > datetime.now(timezone.utc)
    put, *gets = sim.requests
    assert (put.method, put.status) == ("PUT", 200)
    assert put.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert [(r.path, r.status) for r in gets] == [
        (CREDS_PATH, 200),
        (CREDS_PATH + "baskinc-role", 200),
    ]
    assert all("x-aws-ec2-metadata-token" in r.headers for r in gets)


@pytest.mark.parametrize("sim", ["optional"], indirect=True)
def test_botocore_falls_back_to_v1_on_legacy_imds(sim: IMDSSimulator) -> None:
    """Against a legacy IMDS (PUT → 405) botocore gets credentials with token-less GETs."""
    sim.legacy = 405
    assert fetch(sim)["role_name"] == "baskinc-role"
    assert [r.status for r in sim.requests] == [405, 200, 200]


@pytest.mark.parametrize("sim", ["optional"], indirect=True)
def test_botocore_gets_nothing_for_a_failed_role(sim: IMDSSimulator) -> None:
    """A credentials document with Code != Success makes botocore return no credentials."""
    sim.inject("credentials_error")
    assert fetch(sim) == {}
