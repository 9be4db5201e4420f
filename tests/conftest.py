"""Shared fixtures: a clean environment, a fake clock, and one client fixture for both shells."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hypothesis import settings

from imdsclient import AsyncIMDSClient, IMDSClient
from imdsclient.testing import FakeClock

# CI (CI=true) runs every property test on the same examples each time: a red run is a bug to
# reproduce, never a draw of the dice.  Locally they explore (and remember) new examples.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: Where unit tests point clients; respx intercepts it, and nothing listens there otherwise.
ENDPOINT = "http://imds.test"

# ECS_CONTAINER_METADATA_URI*: the environment detection (ECS) would change error hints.
_LEAKY = ("AWS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "ECS_CONTAINER_METADATA")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No test sees the developer's AWS settings or proxies, or reaches a real IMDS."""
    for name in list(os.environ):
        if name.upper().startswith(_LEAKY):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    # A client built with no endpoint at all must still never leave this machine.
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")


@pytest.fixture
def clock() -> FakeClock:
    """A clock whose sleeps return at once and are recorded."""
    return FakeClock()


class AsyncAsSync:
    """Presents an ``AsyncIMDSClient`` with the sync client's calling convention.

    One event loop lives as long as the client, so its connection pool stays valid.
    """

    def __init__(self, client: AsyncIMDSClient) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.loop.run_until_complete(attr(*args, **kwargs))

        return call

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())

    def dispose(self) -> None:
        self.close()
        self.loop.close()


MakeClient = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[MakeClient]:
    """Build a client of either shell (same test body for both); closed after the test."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("endpoint", ENDPOINT)
        kwargs.setdefault("clock", clock)
        if request.param == "sync":
            client: Any = IMDSClient(**kwargs)
        else:
            client = AsyncAsSync(AsyncIMDSClient(**kwargs))
        made.append(client)
        return client

    yield make
    for client in made:
        getattr(client, "dispose", client.close)()
