"""Static stability: expired credentials are extended by 5-15 min when IMDS fails, within bounds."""

from __future__ import annotations

import logging
import random
from calendar import timegm
from collections.abc import Iterator
from time import strptime

import pytest
from botocore.exceptions import CredentialRetrievalError

from imdsclient._stability import StaticStability
from imdsclient.boto import InstanceMetadataFetcher, InstanceMetadataProvider
from imdsclient.testing import FakeClock, IMDSSimulator

from .conftest import CREDS, ROLE, MakeFetcher

HOUR = 3600.0


def epoch(expiry_time: str) -> float:
    return float(timegm(strptime(expiry_time, "%Y-%m-%dT%H:%M:%SZ")))


# -- the pure policy ----------------------------------------------------------------------------


def test_policy_serves_nothing_without_credentials() -> None:
    """Before any success there is nothing to serve."""
    assert StaticStability(random.Random(1)).failed(100.0) is None


def test_policy_keeps_unexpired_credentials_unchanged() -> None:
    """A failure before expiry serves the real expiry, never a later one."""
    policy = StaticStability(random.Random(1))
    policy.succeeded(0.0, 1000.0, refresh_window=900)
    serve = policy.failed(500.0)
    assert serve is not None
    assert (serve.expires_at, serve.extended) == (1000.0, False)
    assert policy.extensions == 0


@pytest.mark.parametrize("seed", range(20))
def test_policy_extends_expired_credentials_by_5_to_15_min(seed: int) -> None:
    """A failure after expiry extends to now + 5..15 min, jittered by the injected rng."""
    policy = StaticStability(random.Random(seed))
    policy.succeeded(0.0, 1000.0, refresh_window=900)
    serve = policy.failed(1010.0)
    assert serve is not None
    assert serve.extended
    assert 1010.0 + 300 <= serve.expires_at <= 1010.0 + 900
    assert policy.held(1011.0) == serve.expires_at  # IMDS is not asked during the extension


def test_policy_is_bounded() -> None:
    """Extensions never reach past max_stale after the real expiry; then failures are reported."""
    policy = StaticStability(random.Random(3), max_stale=HOUR)
    policy.succeeded(0.0, 1000.0, refresh_window=900)
    now, served = 1000.0, []
    while (serve := policy.failed(now)) is not None:
        served.append(serve.expires_at)
        now = serve.expires_at
    assert served[-1] <= 1000.0 + HOUR
    assert 4 <= policy.extensions == len(served) <= 12
    assert policy.failed(now + 10 * HOUR) is None


def test_policy_success_ends_the_episode() -> None:
    """Fresh credentials reset the extension count and the bound."""
    policy = StaticStability(random.Random(4))
    policy.succeeded(0.0, 1000.0, refresh_window=900)
    assert policy.failed(2000.0) is not None
    policy.succeeded(2100.0, 30000.0, refresh_window=900)
    assert policy.extensions == 0
    assert policy.held(2101.0) is None


def test_policy_rechecks_unrotated_credentials_later() -> None:
    """Credentials already inside the refresh window are not asked for again for 30-90 s."""
    policy = StaticStability(random.Random(5))
    policy.succeeded(0.0, 600.0, refresh_window=900)
    assert policy.held(29.0) == 600.0
    assert policy.held(91.0) is None


def test_policy_rejects_bad_bounds() -> None:
    """Nonsense ranges are refused up front."""
    with pytest.raises(ValueError, match="extension"):
        StaticStability(random.Random(), extension=(900.0, 300.0))
    with pytest.raises(ValueError, match="max_stale"):
        StaticStability(random.Random(), max_stale=-1)


# -- the fetcher and provider against the simulator ---------------------------------------------


@pytest.fixture(params=["endpoint-disabled", "stopped"])
def outage(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[tuple[IMDSSimulator, str]]:
    """A fake-clock simulator and how to break it."""
    with IMDSSimulator(clock=clock) as simulator:
        yield simulator, request.param


def break_imds(sim: IMDSSimulator, how: str) -> None:
    if how == "stopped":
        sim.stop()
    else:
        sim.endpoint_enabled = False


def test_expired_credentials_are_extended_with_a_warning(
    outage: tuple[IMDSSimulator, str],
    make_fetcher: MakeFetcher,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """IMDS down after expiry: the same keys, now expiring in 5-15 min, and a warning."""
    sim, how = outage
    fetcher = make_fetcher(base_url=sim.url, clock=clock)
    first = fetcher.retrieve_iam_role_credentials()
    break_imds(sim, how)
    clock.advance(epoch(first["expiry_time"]) - clock.time() + 1)
    with caplog.at_level(logging.WARNING, logger="imdsclient.boto"):
        served = fetcher.retrieve_iam_role_credentials()
    assert {k: v for k, v in served.items() if k != "expiry_time"} == {
        k: v for k, v in first.items() if k != "expiry_time"
    }
    assert 300 <= epoch(served["expiry_time"]) - clock.time() <= 900
    assert "static stability" in caplog.text
    assert first["secret_key"] not in caplog.text
    assert first["token"] not in caplog.text


def test_unexpired_credentials_are_not_extended(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    """IMDS down five minutes before expiry: the credentials keep their real expiry."""
    fetcher = make_fetcher(base_url=fake_sim.url, clock=clock)
    first = fetcher.retrieve_iam_role_credentials()
    fake_sim.endpoint_enabled = False
    clock.advance(epoch(first["expiry_time"]) - clock.time() - 300)
    assert fetcher.retrieve_iam_role_credentials() == first


def test_no_extension_without_earlier_credentials(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher
) -> None:
    """A fetcher that never had credentials returns ``{}`` when IMDS fails."""
    fake_sim.endpoint_enabled = False
    assert make_fetcher(base_url=fake_sim.url).retrieve_iam_role_credentials() == {}


def test_provider_serves_extended_credentials_then_gives_up(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    """botocore keeps the old keys during an outage, for at most an hour past their expiry."""
    fetcher = make_fetcher(base_url=fake_sim.url, clock=clock)
    creds = InstanceMetadataProvider(fetcher).load()
    first = creds.get_frozen_credentials()
    expiry = epoch(fetcher.retrieve_iam_role_credentials()["expiry_time"])
    fake_sim.endpoint_enabled = False
    clock.advance(expiry - clock.time() + 1)
    extensions = 0
    while True:
        asked = fake_sim.count()
        try:
            assert creds.get_frozen_credentials() == first
        except CredentialRetrievalError:
            break
        assert fake_sim.count() == asked + 1  # one attempt per extension, none in between
        assert creds.get_frozen_credentials() == first
        assert fake_sim.count() == asked + 1
        extensions += 1
        clock.advance(creds._seconds_remaining() + 1)
    assert 4 <= extensions <= 12
    assert clock.time() <= expiry + HOUR + 1


def test_recovery_after_an_outage(
    fake_sim: IMDSSimulator,
    make_fetcher: MakeFetcher,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When IMDS comes back, fresh credentials replace the extended ones."""
    fetcher = make_fetcher(base_url=fake_sim.url, clock=clock)
    creds = InstanceMetadataProvider(fetcher).load()
    first = creds.get_frozen_credentials().access_key
    fake_sim.endpoint_enabled = False
    clock.advance(6 * HOUR + 1)
    assert creds.get_frozen_credentials().access_key == first
    fake_sim.endpoint_enabled = True
    clock.advance(creds._seconds_remaining() + 1)
    with caplog.at_level(logging.WARNING, logger="imdsclient.boto"):
        assert creds.get_frozen_credentials().access_key != first
    assert "answered again" in caplog.text
    assert fake_sim.count("GET", CREDS + ROLE) == 2


def test_max_stale_zero_turns_extensions_off(
    fake_sim: IMDSSimulator, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    """``max_stale=0``: expired credentials are never served."""
    fetcher: InstanceMetadataFetcher = make_fetcher(base_url=fake_sim.url, clock=clock, max_stale=0)
    assert fetcher.retrieve_iam_role_credentials()
    fake_sim.endpoint_enabled = False
    clock.advance(6 * HOUR + 1)
    assert fetcher.retrieve_iam_role_credentials() == {}
