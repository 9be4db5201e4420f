"""Fixtures for the botocore drop-in: simulators, fetchers that get closed, an isolated botocore."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from imdsclient.boto import InstanceMetadataFetcher
from imdsclient.testing import FakeClock, IMDSSimulator

CREDS = "/latest/meta-data/iam/security-credentials/"
ROLE = "baskinc-role"

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
