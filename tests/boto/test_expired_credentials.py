"""Credentials IMDS serves already expired: extended within bounds, via botocore and boto3 (#16).

amazon-ec2-metadata-mock serves a 2020 expiry; a real IMDS may stop rotating during an outage.
botocore's ``RefreshableCredentials`` raises ``RuntimeError: Credentials were refreshed, but the
refreshed credentials are still expired`` on such data; through imdsclient they are served with
a jittered extension and one warning, never past the documented bound.  Time is a ``FakeClock``
shared by the fetcher, botocore's credentials and the simulator: nothing sleeps.
"""

from __future__ import annotations

import json
import logging
import random
from calendar import timegm
from collections.abc import Iterator
from pathlib import Path
from time import gmtime, strftime, strptime

import boto3
import botocore.session
import pytest
from botocore.exceptions import CredentialRetrievalError

from imdsclient._stability import StaticStability
from imdsclient.boto import InstanceMetadataProvider, install
from imdsclient.testing import FakeClock, IMDSSimulator

from .conftest import (
    AEMM_EXPIRATION,
    AEMM_SECRET,
    AEMM_TOKEN,
    CREDS,
    ROLE,
    MakeFetcher,
    credentials_tree,
)
from .test_install import capture_signed_request, header

HOUR = 3600.0
EXPIRED_WARNING = "that expired at"


def epoch(expiry_time: str) -> float:
    return float(timegm(strptime(expiry_time, "%Y-%m-%dT%H:%M:%SZ")))


def iso(seconds: float) -> str:
    return strftime("%Y-%m-%dT%H:%M:%SZ", gmtime(seconds))


def expired_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and EXPIRED_WARNING in r.getMessage()
    ]


@pytest.fixture
def aemm(clock: FakeClock) -> Iterator[IMDSSimulator]:
    """A simulator serving amazon-ec2-metadata-mock's credentials (expired in 2020)."""
    with IMDSSimulator(tree=credentials_tree(AEMM_EXPIRATION), clock=clock) as simulator:
        yield simulator


# -- the pure policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("left", [-10 * 365 * 24 * HOUR, -1.0, 0.0, 59.0])
def test_policy_extends_credentials_served_expired(left: float) -> None:
    """Expired (or under a minute left) on arrival: 5-15 min from now, first of an episode."""
    policy = StaticStability(random.Random(1))
    now = 10_000.0
    serve = policy.succeeded(now, now + left, refresh_window=900)
    assert serve is not None
    assert serve.extended
    assert serve.first
    assert now + 300 <= serve.expires_at <= now + 900
    assert policy.held(now + 1) == serve.expires_at  # served from memory until the recheck
    assert policy.held(now + 91) is None  # IMDS answers, so it is asked again within 90 s


def test_policy_keeps_one_extension_across_rechecks() -> None:
    """The same expired answer at a recheck keeps the extension; a new one only when it ends."""
    policy = StaticStability(random.Random(2))
    first = policy.succeeded(0.0, -5.0, refresh_window=900)
    assert first is not None
    again = policy.succeeded(95.0, -5.0, refresh_window=900)
    assert again is not None
    assert (again.expires_at, again.first, policy.extensions) == (first.expires_at, False, 1)
    later = policy.succeeded(first.expires_at, -5.0, refresh_window=900)
    assert later is not None
    assert later.expires_at > first.expires_at
    assert (later.first, policy.extensions) == (False, 2)


def test_policy_bounds_an_episode_from_its_start() -> None:
    """Served expired, they are extended for at most max_stale after IMDS first served them."""
    policy = StaticStability(random.Random(3), max_stale=HOUR)
    start = now = 50_000.0
    served = []
    while (serve := policy.succeeded(now, 0.0, refresh_window=900)) is not None:
        served.append(serve.expires_at)
        now += 30.0
    assert max(served) <= start + HOUR
    assert start + HOUR - 30 <= now <= start + HOUR + 30
    assert policy.succeeded(now + HOUR, 0.0, refresh_window=900) is None


def test_policy_fresh_credentials_end_the_episode() -> None:
    """After an expired episode, valid credentials are served as they are, with no extension."""
    policy = StaticStability(random.Random(4))
    assert policy.succeeded(0.0, -1.0, refresh_window=900) is not None
    fresh = policy.succeeded(100.0, 100.0 + 6 * HOUR, refresh_window=900)
    assert fresh is not None
    assert (fresh.expires_at, fresh.extended, policy.extensions) == (100.0 + 6 * HOUR, False, 0)
    assert policy.held(101.0) is None


def test_policy_never_extends_credentials_with_a_minute_left() -> None:
    """Unrotated but valid credentials keep their real expiry; the recheck stops a minute short."""
    policy = StaticStability(random.Random(5))
    serve = policy.succeeded(0.0, 120.0, refresh_window=900)
    assert serve is not None
    assert (serve.expires_at, serve.extended) == (120.0, False)
    assert policy.held(59.0) == 120.0
    assert policy.held(60.0) is None  # asked again before botocore could see them expire


def test_policy_failure_during_an_expired_episode_keeps_the_extension() -> None:
    """IMDS failing at a recheck: the running extension is served, IMDS not asked until it ends."""
    policy = StaticStability(random.Random(6))
    first = policy.succeeded(0.0, -1.0, refresh_window=900)
    assert first is not None
    failed = policy.failed(90.0)
    assert failed is not None
    assert (failed.expires_at, failed.first) == (first.expires_at, False)
    assert policy.held(first.expires_at - 1) == first.expires_at


def test_policy_max_stale_zero_serves_nothing_expired() -> None:
    """``max_stale=0`` turns extensions off for credentials served expired, too."""
    assert StaticStability(random.Random(7), max_stale=0).succeeded(0.0, -1.0, 900) is None


# -- the fetcher and botocore's own credential objects ------------------------------------------


def test_fetcher_serves_aemm_credentials_with_one_warning(
    aemm: IMDSSimulator,
    make_fetcher: MakeFetcher,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 2020 credentials come back expiring 5-15 min from now; one warning, no secrets."""
    fetcher = make_fetcher(base_url=aemm.url, clock=clock)
    with caplog.at_level(logging.INFO, logger="imdsclient.boto"):
        served = fetcher.retrieve_iam_role_credentials()
        for _ in range(50):
            clock.advance(10)
            assert fetcher.retrieve_iam_role_credentials()["access_key"] == "12345678901"
    assert 300 <= epoch(served["expiry_time"]) - (clock.time() - 500) <= 900
    warnings = expired_warnings(caplog)
    assert len(warnings) == 1
    assert AEMM_EXPIRATION in warnings[0]
    assert "timedatectl" in warnings[0]  # what to check
    assert "amazon-ec2-metadata-mock" in warnings[0]
    assert AEMM_SECRET not in caplog.text
    assert AEMM_TOKEN not in caplog.text
    # IMDS answers, so it is rechecked every 30-90 s, never on every call.
    assert 500 / 90 <= aemm.count("GET", CREDS + ROLE) <= 1 + 500 / 30


def test_botocore_credentials_never_see_them_expired(
    aemm: IMDSSimulator,
    make_fetcher: MakeFetcher,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """botocore's RefreshableCredentials refresh for an hour without RuntimeError, then stop."""
    fetcher = make_fetcher(base_url=aemm.url, clock=clock)
    start = clock.time()
    with caplog.at_level(logging.WARNING, logger="imdsclient.boto"):
        creds = InstanceMetadataProvider(fetcher).load()
        assert creds is not None
        failure: CredentialRetrievalError | None = None
        while failure is None:
            try:
                frozen = creds.get_frozen_credentials()
            except CredentialRetrievalError as exc:
                failure = exc
                continue
            assert frozen.access_key == "12345678901"
            assert creds._seconds_remaining() > 0
            clock.advance(20)
    assert start + HOUR - 100 <= clock.time() <= start + HOUR + 20
    assert AEMM_EXPIRATION in str(failure)
    assert "timedatectl" in str(failure)
    assert len(expired_warnings(caplog)) == 1
    assert "no longer serves them" in caplog.text
    assert fetcher.retrieve_iam_role_credentials() == {}


def test_credentials_imds_stops_rotating_are_extended_then_replaced(
    make_fetcher: MakeFetcher, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Valid, then not rotated (kept as they are), then expired (extended), then rotated (fresh)."""
    expires = clock.time() + HOUR
    tree = credentials_tree(iso(expires))
    with IMDSSimulator(tree=tree, clock=clock) as sim:
        fetcher = make_fetcher(base_url=sim.url, clock=clock)
        creds = InstanceMetadataProvider(fetcher).load()
        clock.advance(HOUR - 8 * 60)  # inside the mandatory window; IMDS has not rotated
        assert creds.get_frozen_credentials().access_key == "12345678901"
        assert creds._expiry_time.timestamp() == expires  # never moved while valid
        clock.advance(8 * 60 + 5)  # expired; IMDS still serves them
        with caplog.at_level(logging.WARNING, logger="imdsclient.boto"):
            assert creds.get_frozen_credentials().access_key == "12345678901"
            assert creds._expiry_time.timestamp() > clock.time() + 60
            rotated = credentials_tree(iso(clock.time() + 6 * HOUR), key="ASIAROTATED")
            sim.set(CREDS + ROLE, rotated[f"iam/security-credentials/{ROLE}"])
            clock.advance(91)  # the next recheck
            assert creds.get_frozen_credentials().access_key == "ASIAROTATED"
    assert len(expired_warnings(caplog)) == 1
    assert "answered again; fresh credentials" in caplog.text


# -- install() into botocore and boto3 sessions ---------------------------------------------


@pytest.fixture
def env_aemm(aemm: IMDSSimulator, aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> IMDSSimulator:
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", aemm.url)
    return aemm


def test_botocore_session_gets_aemm_credentials(env_aemm: IMDSSimulator, clock: FakeClock) -> None:
    """``session.get_credentials().get_frozen_credentials()`` works, now and after a refresh."""
    session = botocore.session.Session()
    provider = install(session, clock=clock, rng=random.Random(8))
    try:
        credentials = session.get_credentials()
        assert credentials.get_frozen_credentials().access_key == "12345678901"
        clock.advance(16 * 60)  # past the first extension: botocore refreshes
        assert credentials.get_frozen_credentials().token == AEMM_TOKEN
        assert credentials._expiry_time.timestamp() > clock.time()
    finally:
        provider.fetcher.close()


@pytest.mark.filterwarnings("ignore:Boto3 will no longer support Python")  # boto3 on 3.9
def test_boto3_session_signs_with_aemm_credentials(
    env_aemm: IMDSSimulator, clock: FakeClock
) -> None:
    """A boto3 client built on the session signs with the extended credentials."""
    session = boto3.Session(region_name="us-east-1")
    provider = install(session, clock=clock)
    try:
        frozen = session.get_credentials().get_frozen_credentials()
        assert (frozen.access_key, frozen.secret_key) == ("12345678901", AEMM_SECRET)
        client = session.client("sts", endpoint_url="http://127.0.0.1:9")
        request = capture_signed_request(client)
        assert "Credential=12345678901/" in header(request, "Authorization")
        assert header(request, "X-Amz-Security-Token") == AEMM_TOKEN
    finally:
        provider.fetcher.close()


def test_expired_document_is_parsed_as_imds_served_it(aemm: IMDSSimulator) -> None:
    """The fixture really serves AEMM's 2020 document (guards the tests above)."""
    body = json.loads(aemm.handle("GET", CREDS + ROLE, {}).body)
    assert body["Expiration"] == AEMM_EXPIRATION
