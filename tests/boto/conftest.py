"""Fixtures for the botocore drop-in: simulators, fetchers that get closed, an isolated botocore."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from imdsclient.boto import InstanceMetadataFetcher
from imdsclient.testing import FakeClock, IMDSSimulator

CREDS = "/latest/meta-data/iam/security-credentials/"
ROLE = "baskinc-role"
#: The credentials amazon-ec2-metadata-mock serves by default: they expired in 2020.
AEMM_EXPIRATION = "2020-04-02T00:49:51Z"
AEMM_SECRET = "v/12345678901"
AEMM_TOKEN = "TEST92test48TEST+y6RpoTEST92test48TEST/8oWVAiBqTEsT5Ky7ty2tEStxC1T=="


def credentials_tree(
    expiration: str, *, key: str = "12345678901", role: str = ROLE
) -> dict[str, str]:
    """A tree whose only role serves one fixed credential document (AEMM's shape and values)."""
    document = {
        "Code": "Success",
        "LastUpdated": "2020-04-02T18:50:40Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": key,
        "SecretAccessKey": AEMM_SECRET,
        "Token": AEMM_TOKEN,
        "Expiration": expiration,
    }
    return {
        "instance-id": "i-1234567890abcdef0",
        f"iam/security-credentials/{role}": json.dumps(document),
    }


MakeFetcher = Callable[..., InstanceMetadataFetcher]


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    """A simulator on real time, tokens optional."""
    with IMDSSimulator() as simulator:
        yield simulator


@pytest.fixture
def fake_sim(clock: FakeClock) -> Iterator[IMDSSimulator]:
    """A simulator whose credentials and tokens age with the test's fake clock."""
    with IMDSSimulator(clock=clock) as simulator:
        yield simulator


@pytest.fixture
def make_fetcher() -> Iterator[MakeFetcher]:
    """Build our fetchers (``env={}`` unless given); all are closed after the test."""
    made: list[InstanceMetadataFetcher] = []

    def make(*args: Any, **kwargs: Any) -> InstanceMetadataFetcher:
        kwargs.setdefault("env", {})
        kwargs.setdefault("rng", random.Random(6))
        fetcher = InstanceMetadataFetcher(*args, **kwargs)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def aws_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """botocore sees no credentials anywhere but IMDS: empty config files, no ~/.aws, no boto."""
    home = tmp_path / "home"
    home.mkdir()
    config, shared = tmp_path / "config", tmp_path / "credentials"
    config.write_text("")
    shared.write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "no-boto-config"))
    return home
