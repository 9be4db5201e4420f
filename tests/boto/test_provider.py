"""``InstanceMetadataProvider``: botocore refreshable credentials, refreshed by imdsclient."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import CredentialRetrievalError

from imdsclient.boto import InstanceMetadataProvider
from imdsclient.testing import FakeClock, IMDSSimulator

from .conftest import CREDS, ROLE, MakeFetcher

HOUR = 3600.0


def provider_for(sim: IMDSSimulator, make_fetcher: MakeFetcher, **kwargs: Any) -> Any:
    kwargs.setdefault("config", {"ec2_credential_refresh_window": 900})
    return InstanceMetadataProvider(make_fetcher(base_url=sim.url, **kwargs))


def test_is_botocores_iam_role_provider() -> None:
    """It is a botocore ``CredentialProvider`` with botocore's method and canonical name."""
    assert issubclass(InstanceMetadataProvider, CredentialProvider)
    assert InstanceMetadataProvider.METHOD == "iam-role"
    assert InstanceMetadataProvider.CANONICAL_NAME == "Ec2InstanceMetadata"


def test_load_returns_refreshable_credentials(
    sim: IMDSSimulator, make_fetcher: MakeFetcher
) -> None:
    """``load()`` returns ``RefreshableCredentials`` holding the simulator's credentials."""
    creds = provider_for(sim, make_fetcher).load()
    assert isinstance(creds, RefreshableCredentials)
    assert creds.method == "iam-role"
    document = make_fetcher(base_url=sim.url).retrieve_iam_role_credentials()
    frozen = creds.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        document["access_key"],
        document["secret_key"],
        document["token"],
    )


def test_load_returns_none_without_a_role(make_fetcher: MakeFetcher) -> None:
    """No instance profile: ``load()`` returns ``None`` so the chain moves on."""
    with IMDSSimulator(iam_role=None) as sim:
        assert provider_for(sim, make_fetcher).load() is None


def test_refresh_windows_follow_the_config(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """The refresh window is the advisory time; the mandatory time is at most 10 min."""
    wide = provider_for(sim, make_fetcher).load()
    assert (wide._advisory_refresh_timeout, wide._mandatory_refresh_timeout) == (900, 600)
    narrow = provider_for(sim, make_fetcher, config={"ec2_credential_refresh_window": 300}).load()
    assert (narrow._advisory_refresh_timeout, narrow._mandatory_refresh_timeout) == (300, 300)


def test_refreshes_before_expiry_with_one_token_per_lifetime(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    """Rotated keys appear once the refresh window opens; one PUT per token lifetime."""
    creds = provider_for(fake_sim, make_fetcher, clock=clock).load()
    first = creds.get_frozen_credentials().access_key
    clock.advance(HOUR)
    fake_sim.rotate_credentials()  # IMDS has new keys, expiring at +7 h
    assert creds.get_frozen_credentials().access_key == first  # not yet due: nothing asked
    assert fake_sim.count("GET", CREDS + ROLE) == 1
    clock.advance(5 * HOUR - 14 * 60)  # 14 min before the first keys expire
    second = creds.get_frozen_credentials().access_key
    assert second != first
    assert fake_sim.count("GET", CREDS + ROLE) == 2
    assert fake_sim.count("PUT") == 1  # the token (6 h) is still good
    clock.advance(HOUR)  # 14 min before the rotated keys expire; the token has expired
    assert creds.get_frozen_credentials().access_key not in (first, second)
    assert fake_sim.count("PUT") == 2
    assert fake_sim.count("GET", CREDS + ROLE) == 3
    assert [r.path for r in fake_sim.requests].count(CREDS) == 1  # the role was looked up once


def test_failed_refresh_raises_with_the_fix(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    """Once nothing can be served, a mandatory refresh raises botocore's error with our hint."""
    creds = provider_for(fake_sim, make_fetcher, clock=clock, max_stale=0).load()
    fake_sim.endpoint_enabled = False
    clock.advance(6 * HOUR)
    with pytest.raises(CredentialRetrievalError, match="modify-instance-metadata-options"):
        creds.get_frozen_credentials()


def test_default_fetcher() -> None:
    """Without a fetcher the provider builds botocore's default one (no request is sent)."""
    provider = InstanceMetadataProvider()
    try:
        assert provider.fetcher.get_base_url() == "http://169.254.169.254/"
        assert provider.fetcher.client.config.num_attempts == 1
    finally:
        provider.fetcher.close()


def test_16_threads_refreshing_at_once(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    """16 threads find the credentials due for a mandatory refresh: one token, one role lookup."""
    from concurrent.futures import ThreadPoolExecutor

    creds = provider_for(fake_sim, make_fetcher, clock=clock).load()
    first = creds.get_frozen_credentials().access_key
    clock.advance(6 * HOUR - 5 * 60)  # inside the mandatory window; IMDS has rotated
    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: creds.get_frozen_credentials().access_key, range(64)))
    assert len(keys) == 1
    assert first not in keys
    assert fake_sim.count("PUT") == 1
    assert fake_sim.count("GET", CREDS + ROLE) == 2
    assert [r.path for r in fake_sim.requests].count(CREDS) == 1
