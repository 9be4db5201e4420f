"""``instance_profile_name`` (AWS_EC2_INSTANCE_PROFILE_NAME): credentials without role discovery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imdsclient import CredentialsError, IMDSConfig
from imdsclient.testing import IMDSSimulator
from imdsclient.testing._tree import DEFAULT_ROLE
from tests.conftest import MakeClient

CREDS = "/latest/meta-data/iam/security-credentials/"


def listings(sim: IMDSSimulator) -> int:
    """How many times the role listing (discovery) was requested."""
    return [r.path for r in sim.requests].count(CREDS)


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator


def test_configured_name_skips_the_listing(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """With the name configured, each retrieval is one GET of that role's document, no listing."""
    config = IMDSConfig(endpoint=sim.url, instance_profile_name=DEFAULT_ROLE)
    client = make_client(config=config, endpoint=sim.url)
    first = client.iam_credentials()
    second = client.iam_credentials()
    assert first.role_name == second.role_name == DEFAULT_ROLE
    assert [r.path for r in sim.requests if r.method == "GET"] == [CREDS + DEFAULT_ROLE] * 2


def test_configured_name_from_the_environment(
    sim: IMDSSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_EC2_INSTANCE_PROFILE_NAME is honoured by a client configured from the environment."""
    monkeypatch.setenv("AWS_EC2_INSTANCE_PROFILE_NAME", DEFAULT_ROLE)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", sim.url)
    client = make_client(endpoint=None)
    assert client.iam_credentials().role_name == DEFAULT_ROLE
    assert listings(sim) == 0


def test_a_wrong_configured_name_is_an_error_not_a_discovery(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """A configured name IMDS does not know: CredentialsError naming it; the listing is not read."""
    client = make_client(config=IMDSConfig(instance_profile_name="other-role"), endpoint=sim.url)
    with pytest.raises(CredentialsError, match="other-role"):
        client.iam_credentials()
    assert listings(sim) == 0


def test_an_explicit_role_wins_over_the_configured_name(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """``iam_credentials(role=...)`` reads that role whatever the setting says."""
    client = make_client(config=IMDSConfig(instance_profile_name="other-role"), endpoint=sim.url)
    assert client.iam_credentials(role=DEFAULT_ROLE).role_name == DEFAULT_ROLE
