"""``imdsclient.aiobotocore``: aiobotocore sessions get role credentials through AsyncIMDSClient.

Driven through aiobotocore itself (``await session.get_credentials()``, refreshes via
``await creds.get_frozen_credentials()``) against the simulator; time is a ``FakeClock`` shared
by the fetcher, aiobotocore's credentials and the simulator.  Each test runs its own event loop
with ``asyncio.run`` and closes its fetchers inside it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import subprocess
import sys
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession
from aiobotocore.utils import AioInstanceMetadataFetcher as SdkFetcher
from botocore.exceptions import CredentialRetrievalError

from imdsclient.aiobotocore import (
    AioInstanceMetadataFetcher,
    AioInstanceMetadataProvider,
    install,
)
from imdsclient.testing import FakeClock, IMDSSimulator

from .conftest import AEMM_EXPIRATION, AEMM_TOKEN, CREDS, ROLE, credentials_tree

HOUR = 3600.0
T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine in a fresh event loop."""

    async def main() -> T:
        return await body()

    return asyncio.run(main())


def listings(sim: IMDSSimulator) -> int:
    """How many times the role was looked up (the ``security-credentials/`` listing)."""
    return [r.path for r in sim.requests].count(CREDS)


def fetcher_for(sim: IMDSSimulator, **kwargs: Any) -> AioInstanceMetadataFetcher:
    kwargs.setdefault("env", {})
    kwargs.setdefault("rng", random.Random(16))
    return AioInstanceMetadataFetcher(timeout=1, base_url=sim.url, **kwargs)


@pytest.fixture
def env_sim(sim: IMDSSimulator, aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> IMDSSimulator:
    """The simulator, named the way aiobotocore reads it: AWS_EC2_METADATA_SERVICE_ENDPOINT."""
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", sim.url)
    return sim


@pytest.fixture
def aemm(clock: FakeClock) -> Iterator[IMDSSimulator]:
    """A simulator serving amazon-ec2-metadata-mock's credentials (expired in 2020)."""
    with IMDSSimulator(tree=credentials_tree(AEMM_EXPIRATION), clock=clock) as simulator:
        yield simulator


# -- install() through aiobotocore's own session ------------------------------------------------


def test_session_resolves_from_the_simulator(env_sim: IMDSSimulator) -> None:
    """``await session.get_credentials()`` answers through our provider: PUT, listing, one GET."""
    session = AioSession()
    provider = install(session)

    async def body() -> Any:
        try:
            creds = await session.get_credentials()
            return creds, await creds.get_frozen_credentials()
        finally:
            await provider.fetcher.close()

    creds, frozen = run(body)
    assert isinstance(creds, AioRefreshableCredentials)
    assert creds.method == "iam-role"
    assert creds._refresh_using.__self__ is provider
    assert frozen.access_key.startswith("ASIA")
    assert [(r.method, r.path) for r in env_sim.requests] == [
        ("PUT", "/latest/api/token"),
        ("GET", CREDS),
        ("GET", CREDS + ROLE),
    ]


def test_install_keeps_the_chain_order_and_is_idempotent(aws_home: Path) -> None:
    """One ``iam-role`` provider, after the container provider; the credential source too."""
    session = AioSession()
    install(session)
    second = install(session)
    resolver = session.get_component("credential_provider")
    methods = [p.METHOD for p in resolver.providers]
    assert methods.count("iam-role") == 1
    assert methods.index("container-role") < methods.index("iam-role")
    assert resolver.get_provider("iam-role") is second
    sources = resolver.get_provider("assume-role")._credential_sourcer._providers
    (source,) = (p for p in sources if isinstance(p, AioInstanceMetadataProvider))
    assert source.fetcher is second.fetcher
    run(second.fetcher.close)


def test_install_reads_the_session_settings(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeout, attempts, endpoint, IMDSv1 switch and profile name come from the session."""
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    Path(aws_home.parent / "config").write_text(
        "[default]\n"
        "metadata_service_timeout = 4\n"
        "metadata_service_num_attempts = 3\n"
        "ec2_metadata_v1_disabled = true\n"
        "ec2_metadata_service_endpoint = http://127.0.0.3:9\n"
        f"ec2_instance_profile_name = {ROLE}\n"
    )
    provider = install(AioSession())
    config = provider.fetcher.client.config
    assert (config.timeout, config.num_attempts, config.v1_fallback) == (4.0, 3, False)
    assert (config.base_url, config.instance_profile_name) == ("http://127.0.0.3:9", ROLE)
    run(provider.fetcher.close)


def test_install_rejects_botocore_sessions() -> None:
    """A botocore session is not an aiobotocore one: TypeError pointing at imdsclient.boto."""
    import botocore.session

    with pytest.raises(TypeError, match=r"imdsclient\.boto\.install"):
        install(botocore.session.Session())


def test_chain_moves_on_without_imds(aws_home: Path) -> None:
    """IMDS unreachable (the conftest points it at a dead port): no credentials, nothing raises."""
    session = AioSession()
    provider = install(session)

    async def body() -> Any:
        try:
            return await session.get_credentials()
        finally:
            await provider.fetcher.close()

    assert run(body) is None


# -- refreshes, concurrency and round trips -----------------------------------------------------


def test_refresh_through_get_frozen_credentials(fake_sim: IMDSSimulator, clock: FakeClock) -> None:
    """Rotated keys once the refresh window opens; one token PUT per token lifetime."""
    fetcher = fetcher_for(fake_sim, clock=clock)

    async def body() -> list[str]:
        try:
            creds = await AioInstanceMetadataProvider(fetcher).load()
            keys = [(await creds.get_frozen_credentials()).access_key]
            clock.advance(HOUR)
            fake_sim.rotate_credentials()
            keys.append((await creds.get_frozen_credentials()).access_key)  # not due yet
            clock.advance(5 * HOUR - 14 * 60)
            keys.append((await creds.get_frozen_credentials()).access_key)
            return keys
        finally:
            await fetcher.close()

    first, same, rotated = run(body)
    assert first == same != rotated
    assert fake_sim.count("PUT") == 1
    assert fake_sim.count("GET", CREDS + ROLE) == 2
    assert listings(fake_sim) == 1


def test_500_tasks_share_one_token_and_one_role_lookup(sim: IMDSSimulator) -> None:
    """500 tasks retrieving at once on a cold fetcher: one PUT, one listing, zero errors."""
    fetcher = fetcher_for(sim)

    async def body() -> list[dict[str, str]]:
        try:
            return await asyncio.gather(
                *(fetcher.retrieve_iam_role_credentials() for _ in range(500))
            )
        finally:
            await fetcher.close()

    results = run(body)
    assert all(result["role_name"] == ROLE for result in results)
    assert sim.count("PUT") == 1
    assert listings(sim) == 1


def test_500_tasks_refreshing_at_once(fake_sim: IMDSSimulator, clock: FakeClock) -> None:
    """500 tasks find the credentials due for a mandatory refresh: one refresh, one token."""
    fetcher = fetcher_for(fake_sim, clock=clock)

    async def body() -> tuple[str, set[str]]:
        try:
            creds = await AioInstanceMetadataProvider(fetcher).load()
            first = (await creds.get_frozen_credentials()).access_key
            clock.advance(6 * HOUR - 5 * 60)  # inside the mandatory window; IMDS has rotated
            frozen = await asyncio.gather(*(creds.get_frozen_credentials() for _ in range(500)))
            return first, {f.access_key for f in frozen}
        finally:
            await fetcher.close()

    first, keys = run(body)
    assert len(keys) == 1
    assert first not in keys
    assert fake_sim.count("GET", CREDS + ROLE) == 2
    assert fake_sim.count("PUT") == 1
    assert listings(fake_sim) == 1


def test_warm_retrieval_is_one_get_against_the_sdks_three(sim: IMDSSimulator) -> None:
    """Ours: one GET per retrieval once warm. aiobotocore's own fetcher: PUT + two GETs, always."""
    ours = fetcher_for(sim)
    theirs = SdkFetcher(timeout=2, base_url=sim.url, env={})

    async def body() -> tuple[int, int]:
        try:
            await ours.retrieve_iam_role_credentials()
            sim.clear_requests()
            for _ in range(5):
                await ours.retrieve_iam_role_credentials()
            mine = sim.count()
            sim.clear_requests()
            for _ in range(5):
                assert (await theirs.retrieve_iam_role_credentials())["role_name"] == ROLE
            return mine, sim.count()
        finally:
            await ours.close()

    assert run(body) == (5, 15)


# -- static stability ---------------------------------------------------------------------------


def test_expired_credentials_from_imds_are_extended(
    aemm: IMDSSimulator, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """AEMM's 2020 credentials: served with an extension, refreshed without RuntimeError."""
    fetcher = fetcher_for(aemm, clock=clock)

    async def body() -> None:
        try:
            creds = await AioInstanceMetadataProvider(fetcher).load()
            for _ in range(100):  # 50 min: several rechecks and extensions
                frozen = await creds.get_frozen_credentials()
                assert frozen.token == AEMM_TOKEN
                assert creds._seconds_remaining() > 0
                clock.advance(30)
        finally:
            await fetcher.close()

    with caplog.at_level(logging.WARNING, logger="imdsclient.aiobotocore"):
        run(body)
    warnings = [r for r in caplog.records if "that expired at" in r.getMessage()]
    assert len(warnings) == 1
    assert AEMM_TOKEN not in caplog.text


def test_outage_after_expiry_is_bridged_then_reported(
    fake_sim: IMDSSimulator, clock: FakeClock
) -> None:
    """IMDS down at expiry: the old keys for at most an hour, then CredentialRetrievalError."""
    fetcher = fetcher_for(fake_sim, clock=clock)

    async def body() -> tuple[int, float]:
        try:
            creds = await AioInstanceMetadataProvider(fetcher).load()
            first = (await creds.get_frozen_credentials()).access_key
            expiry = creds._expiry_time.timestamp()
            fake_sim.endpoint_enabled = False
            clock.advance(expiry - clock.time() + 1)
            served = 0
            while True:
                try:
                    assert (await creds.get_frozen_credentials()).access_key == first
                except CredentialRetrievalError:
                    return served, clock.time() - expiry
                served += 1
                clock.advance(60)
        finally:
            await fetcher.close()

    served, past_expiry = run(body)
    assert served >= 50
    assert past_expiry <= HOUR + 60


def test_closed_fetcher_returns_empty(sim: IMDSSimulator) -> None:
    """After ``close()`` a retrieval returns ``{}`` instead of raising."""
    fetcher = fetcher_for(sim)

    async def body() -> dict[str, str]:
        await fetcher.close()
        return await fetcher.retrieve_iam_role_credentials()

    assert run(body) == {}


def test_import_without_aiobotocore_names_the_extra() -> None:
    """Without aiobotocore, importing the drop-in says ``pip install imdsclient[aiobotocore]``."""
    code = (
        "import sys; sys.modules['aiobotocore'] = None\n"
        "try:\n    import imdsclient.aiobotocore\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install imdsclient[aiobotocore]" in out.stdout
