"""``install()``: botocore and boto3 sessions get their role credentials through imdsclient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest

from imdsclient.boto import InstanceMetadataFetcher, InstanceMetadataProvider, install
from imdsclient.testing import IMDSSimulator

from .conftest import CREDS, ROLE

DEAD_PORT = "http://127.0.0.1:9"


class Captured(Exception):
    """Raised by the before-send hook to stop a request after it was signed."""

    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


@pytest.fixture
def env_sim(sim: IMDSSimulator, aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> IMDSSimulator:
    """The simulator, as botocore's settings name it: AWS_EC2_METADATA_SERVICE_ENDPOINT."""
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", sim.url)
    return sim


@pytest.fixture
def installed() -> Iterator[list[InstanceMetadataProvider]]:
    """Providers made by the test; their fetchers are closed afterwards."""
    providers: list[InstanceMetadataProvider] = []
    yield providers
    for provider in providers:
        provider.fetcher.close()


def header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers[name]
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def capture_signed_request(client: Any) -> AWSPreparedRequest:
    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        raise Captured(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(Captured) as caught:
        client.get_caller_identity()
    return caught.value.request


def test_botocore_session_resolves_from_the_simulator(
    env_sim: IMDSSimulator, installed: list[InstanceMetadataProvider]
) -> None:
    """A botocore session with ``install()`` gets the simulator's credentials via imdsclient."""
    session = botocore.session.Session()
    installed.append(install(session))
    creds = session.get_credentials()
    assert creds.method == "iam-role"
    assert creds._refresh_using.__self__ is installed[0]
    assert creds.get_frozen_credentials().access_key.startswith("ASIA")
    assert env_sim.count("GET", CREDS + ROLE) == 1


def test_boto3_client_signs_with_the_credentials(
    env_sim: IMDSSimulator, installed: list[InstanceMetadataProvider]
) -> None:
    """A boto3 client signs requests with the access key and token imdsclient fetched."""
    session = boto3.Session(region_name="us-east-1")
    installed.append(install(session))
    client = session.client("sts", endpoint_url=DEAD_PORT)
    request = capture_signed_request(client)
    frozen = session.get_credentials().get_frozen_credentials()
    assert f"Credential={frozen.access_key}/" in header(request, "Authorization")
    assert header(request, "X-Amz-Security-Token") == frozen.token
    assert installed[0].fetcher.client.config.base_url == env_sim.url


@pytest.mark.filterwarnings("ignore:Boto3 will no longer support Python")  # boto3 on 3.9
def test_install_defaults_to_boto3_default_session(
    env_sim: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``install()`` with no session patches the session behind ``boto3.client``."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    installed.append(install())
    client = boto3.client("sts", region_name="us-east-1", endpoint_url=DEAD_PORT)
    request = capture_signed_request(client)
    assert "Credential=ASIA" in header(request, "Authorization")
    assert env_sim.count("GET", CREDS + ROLE) == 1


def test_install_after_credentials_were_resolved(
    env_sim: IMDSSimulator, installed: list[InstanceMetadataProvider]
) -> None:
    """Credentials botocore's own provider found are dropped; the next lookup uses ours."""
    session = botocore.session.Session()
    assert session.get_credentials().method == "iam-role"  # botocore's own fetcher
    assert env_sim.count("PUT") == 1
    installed.append(install(session))
    resolver = session.get_component("credential_provider")
    assert resolver.get_provider("iam-role") is installed[0]
    assert session.get_credentials()._refresh_using.__self__ is installed[0]


def test_install_replaces_the_credential_source(
    aws_home: Path, installed: list[InstanceMetadataProvider]
) -> None:
    """Role profiles with ``credential_source = Ec2InstanceMetadata`` use ours as the source."""
    session = botocore.session.Session()
    installed.append(install(session))
    resolver = session.get_component("credential_provider")
    assume = resolver.get_provider("assume-role")
    sources = assume._credential_sourcer._providers
    (source,) = (p for p in sources if isinstance(p, InstanceMetadataProvider))
    assert source.fetcher is installed[0].fetcher
    assert not source.defer_to_workload  # credential_source asks for the instance role
    assert [p.CANONICAL_NAME for p in sources].count("Ec2InstanceMetadata") == 1
    assert [p.METHOD for p in resolver.providers].count("iam-role") == 1


def test_install_keeps_the_resolver_lazy(
    aws_home: Path, installed: list[InstanceMetadataProvider]
) -> None:
    """Installing does not build the resolver, so botocore still gives it the client's region."""
    session = botocore.session.Session()
    installed.append(install(session))
    assert "credential_provider" in session._components._deferred


def test_install_twice_keeps_one_provider(
    aws_home: Path, installed: list[InstanceMetadataProvider]
) -> None:
    """A second ``install()`` replaces the first provider instead of adding another."""
    session = botocore.session.Session()
    installed.append(install(session))
    installed.append(install(session))
    providers = session.get_component("credential_provider").providers
    assert [p.METHOD for p in providers].count("iam-role") == 1
    assert installed[1] in providers


def test_install_reads_the_session_settings(
    aws_home: Path, installed: list[InstanceMetadataProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeout, attempts, endpoint and the IMDSv1 switch come from the session's config."""
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    Path(aws_home.parent / "config").write_text(
        "[default]\n"
        "metadata_service_timeout = 4\n"
        "metadata_service_num_attempts = 3\n"
        "ec2_metadata_v1_disabled = true\n"
        "ec2_metadata_service_endpoint = http://127.0.0.3:9\n"
    )
    installed.append(install(botocore.session.Session()))
    config = installed[0].fetcher.client.config
    assert (config.timeout, config.num_attempts, config.v1_fallback) == (4.0, 3, False)
    assert config.base_url == "http://127.0.0.3:9"
    assert installed[0].fetcher.refresh_window == 900


def test_install_reads_the_endpoint_mode(
    aws_home: Path, installed: list[InstanceMetadataProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`` selects the IPv6 endpoint (nothing sent)."""
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
    installed.append(install(botocore.session.Session()))
    assert installed[0].fetcher.get_base_url() == "http://[fd00:ec2::254]/"


def test_install_rejects_other_objects() -> None:
    """Anything but a botocore or boto3 session is a TypeError."""
    with pytest.raises(TypeError, match="session"):
        install(object())


def test_chain_moves_on_without_imds(
    aws_home: Path, installed: list[InstanceMetadataProvider]
) -> None:
    """With IMDS unreachable the session simply has no credentials (nothing raises)."""
    session = botocore.session.Session()
    installed.append(install(session))
    assert session.get_credentials() is None


def test_fetcher_is_ours(aws_home: Path, installed: list[InstanceMetadataProvider]) -> None:
    """The installed provider holds an imdsclient fetcher."""
    installed.append(install(botocore.session.Session()))
    assert isinstance(installed[0].fetcher, InstanceMetadataFetcher)


@pytest.mark.parametrize("where", ["environment", "config file"])
def test_install_honours_the_instance_profile_name(
    env_sim: IMDSSimulator,
    aws_home: Path,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """``AWS_EC2_INSTANCE_PROFILE_NAME`` / ``ec2_instance_profile_name``: no role listing at all."""
    if where == "environment":
        monkeypatch.setenv("AWS_EC2_INSTANCE_PROFILE_NAME", ROLE)
    else:
        Path(aws_home.parent / "config").write_text(
            f"[default]\nec2_instance_profile_name = {ROLE}\n"
        )
    session = botocore.session.Session()
    installed.append(install(session))
    assert installed[0].fetcher.client.config.instance_profile_name == ROLE
    assert session.get_credentials().get_frozen_credentials().access_key.startswith("ASIA")
    assert [r.path for r in env_sim.requests if r.method == "GET"] == [CREDS + ROLE]
