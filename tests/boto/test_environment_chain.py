"""The drop-ins never shadow the workload's own credentials (ECS, EKS, Lambda) in botocore's chain.

On ECS and EKS, IMDS (when reachable) serves the node's or container instance's role.  botocore
puts the container, web identity and environment providers ahead of ``iam-role``; ``install()``
keeps that order, and our provider answers ``None`` whenever the environment names credentials
of the workload's own, so a chain where those providers do not answer never falls through to
the node's role.  Every endpoint here is a simulator on 127.0.0.1: the EKS agent address
(169.254.170.23) and STS are only ever named, never contacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import CredentialRetrievalError

from imdsclient.boto import InstanceMetadataProvider, install
from imdsclient.testing import IMDSSimulator

from .conftest import CREDS, ROLE

POD_IDENTITY_URI = "http://169.254.170.23/v1/credentials"


@pytest.fixture
def imds(sim: IMDSSimulator, aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> IMDSSimulator:
    """The node's IMDS, where botocore looks for it (AWS_EC2_METADATA_SERVICE_ENDPOINT)."""
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", sim.url)
    return sim


@pytest.fixture
def container() -> Iterator[IMDSSimulator]:
    """A container credentials endpoint on 127.0.0.1 (its credentials differ from the node's)."""
    with IMDSSimulator() as simulator:
        yield simulator


@pytest.fixture
def installed() -> Iterator[list[InstanceMetadataProvider]]:
    providers: list[InstanceMetadataProvider] = []
    yield providers
    for provider in providers:
        provider.fetcher.close()


def session_with(installed: list[InstanceMetadataProvider]) -> Any:
    session = botocore.session.Session()
    installed.append(install(session))
    return session


def test_container_provider_stays_ahead(
    imds: IMDSSimulator,
    container: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ECS task role: botocore's container provider answers; IMDS is never asked."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container.url + CREDS + ROLE)
    credentials = session_with(installed).get_credentials()
    assert credentials.method == "container-role"
    assert credentials.get_frozen_credentials().access_key.startswith("ASIA")
    assert container.count("GET") == 1
    assert imds.count() == 0


def test_a_failing_container_endpoint_is_not_replaced_by_the_node_role(
    imds: IMDSSimulator,
    container: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The container endpoint down: botocore's error surfaces; nothing falls back to IMDS."""
    from botocore.utils import ContainerMetadataFetcher

    monkeypatch.setattr(ContainerMetadataFetcher, "SLEEP_TIME", 0)  # botocore's retry pause
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container.url + CREDS + ROLE)
    container.stop()
    with pytest.raises(CredentialRetrievalError):
        session_with(installed).get_credentials()
    assert imds.count() == 0


def test_without_the_container_provider_botocore_alone_would_use_the_node_role(
    imds: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The danger, shown with botocore's own provider: a chain lacking the pod's provider."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", POD_IDENTITY_URI)
    session = botocore.session.Session()
    session.get_component("credential_provider").remove("container-role")
    assert session.get_credentials().method == "iam-role"  # the node's role, silently
    assert imds.count("GET", CREDS + ROLE) == 1


def test_ours_answers_none_there_instead(
    imds: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same chain through install(): no credentials rather than the node's; IMDS not asked."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", POD_IDENTITY_URI)
    session = session_with(installed)
    session.get_component("credential_provider").remove("container-role")
    assert session.get_credentials() is None
    assert imds.count() == 0


def test_web_identity_stays_ahead(
    imds: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """EKS IRSA: botocore's web identity provider answers (lazily; STS is not called here)."""
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/pod-role")
    session = session_with(installed)
    assert session.get_credentials().method == "assume-role-with-web-identity"
    assert installed[0].load() is None  # and ours would not have stood in for it
    assert imds.count() == 0


def test_lambda_environment_credentials_win(
    imds: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lambda: the environment provider answers; our provider would answer None anyway."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "my-function")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIALAMBDAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lambda-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "lambda-token")
    session = session_with(installed)
    assert session.get_credentials().method == "env"
    assert installed[0].load() is None
    assert imds.count() == 0


def test_ecs_task_without_a_task_role_uses_the_instance_role(
    imds: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No task role: ECS documents the fallback to the container instance's role; ours serves it."""
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", "http://127.0.0.1:9/v4/task")
    assert session_with(installed).get_credentials().method == "iam-role"
    assert imds.count("GET", CREDS + ROLE) == 1


def test_credential_source_asks_for_the_instance_role_explicitly(
    imds: IMDSSimulator,
    installed: list[InstanceMetadataProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``credential_source = Ec2InstanceMetadata`` is an explicit choice: served on EKS too."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", POD_IDENTITY_URI)
    session = session_with(installed)
    resolver = session.get_component("credential_provider")
    sourcer = resolver.get_provider("assume-role")._credential_sourcer
    credentials = sourcer.source_credentials("Ec2InstanceMetadata")
    assert credentials.method == "iam-role"
    assert imds.count("GET", CREDS + ROLE) == 1


def test_aiobotocore_drop_in_defers_too(
    imds: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async provider answers None on EKS Pod Identity, without asking IMDS."""
    from aiobotocore.session import AioSession

    from imdsclient.aiobotocore import install as aio_install

    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", POD_IDENTITY_URI)
    session = AioSession()
    provider = aio_install(session)

    async def body() -> Any:
        try:
            session.get_component("credential_provider").remove("container-role")
            return await session.get_credentials()
        finally:
            await provider.fetcher.close()

    assert asyncio.run(body()) is None
    assert imds.count() == 0
