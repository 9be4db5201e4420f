"""Contract: our fetcher answers like botocore's ``InstanceMetadataFetcher`` for the same server."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import InvalidIMDSEndpointError, MetadataRetrievalError
from botocore.utils import InstanceMetadataFetcher as BotocoreFetcher

from imdsclient.testing import IMDSSimulator

from .conftest import CREDS, ROLE, MakeFetcher

KEYS = {"role_name", "access_key", "secret_key", "token", "expiry_time"}


def botocore_fetch(url: str, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("env", {})
    fetcher = BotocoreFetcher(timeout=kwargs.pop("timeout", 2), base_url=url, **kwargs)
    result: dict[str, str] = fetcher.retrieve_iam_role_credentials()
    return result


@pytest.fixture(
    params=[
        {"http_tokens": "optional"},
        {"http_tokens": "required"},
        {"legacy": 404},
        {"legacy": 405},
    ],
    ids=["tokens-optional", "tokens-required", "legacy-404", "legacy-405"],
)
def any_sim(request: pytest.FixtureRequest) -> Iterator[IMDSSimulator]:
    with IMDSSimulator(**request.param) as simulator:
        yield simulator


def test_same_dict_as_botocore(any_sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """For the same server, ours and botocore's return the identical credentials dict."""
    ours = make_fetcher(base_url=any_sim.url).retrieve_iam_role_credentials()
    theirs = botocore_fetch(any_sim.url)
    assert set(ours) == KEYS
    assert ours == theirs
    assert ours["role_name"] == ROLE


def test_expiry_time_format(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """``expiry_time`` is ``YYYY-MM-DDTHH:MM:SSZ``, as botocore's fetcher returns it."""
    expiry = make_fetcher(base_url=sim.url).retrieve_iam_role_credentials()["expiry_time"]
    assert len(expiry) == 20
    assert expiry[4] + expiry[7] + expiry[10] + expiry[13] + expiry[16] + expiry[19] == "--T::Z"


@pytest.mark.parametrize(
    "knobs",
    [{"iam_role": None}, {"endpoint_enabled": False}],
    ids=["no-role", "endpoint-disabled-403"],
)
def test_empty_where_botocore_is_empty(knobs: dict[str, Any], make_fetcher: MakeFetcher) -> None:
    """No role and a disabled endpoint give ``{}`` from both fetchers."""
    with IMDSSimulator(**knobs) as sim:
        assert botocore_fetch(sim.url) == {}
        assert make_fetcher(base_url=sim.url).retrieve_iam_role_credentials() == {}


def test_credentials_error_document_is_empty(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """A credentials document whose Code is not Success gives ``{}`` from both."""
    sim.inject("credentials_error", count=2)
    assert botocore_fetch(sim.url) == {}
    assert make_fetcher(base_url=sim.url).retrieve_iam_role_credentials() == {}


@pytest.mark.parametrize(
    "knobs",
    [{"legacy": 405}, {"hop_limit_drop": True}],
    ids=["legacy", "hop-limit-drop"],
)
def test_empty_where_botocore_raises(knobs: dict[str, Any], make_fetcher: MakeFetcher) -> None:
    """IMDSv1 disabled and no token to be had: botocore raises into the chain, we return ``{}``."""
    config = {"ec2_metadata_v1_disabled": True}
    with IMDSSimulator(**knobs) as sim:
        with pytest.raises(MetadataRetrievalError):
            botocore_fetch(sim.url, timeout=0.2, config=config)
        fetcher = make_fetcher(timeout=0.2, base_url=sim.url, config=config)
        assert fetcher.retrieve_iam_role_credentials() == {}
        assert sim.count("GET") == 0  # and no token-less request either


def test_the_hop_limit_is_a_warning_once(
    make_fetcher: MakeFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Tokens required and the PUT's answer dropped: one WARNING with the hop-limit fix, however
    many retrievals fail (botocore users see nothing else: the chain just moves on)."""
    with IMDSSimulator(hop_limit_drop=True, http_tokens="required") as sim:
        fetcher = make_fetcher(timeout=0.1, base_url=sim.url)
        with caplog.at_level(logging.DEBUG, logger="imdsclient.boto"):
            assert fetcher.retrieve_iam_role_credentials() == {}
            assert fetcher.retrieve_iam_role_credentials() == {}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "--http-put-response-hop-limit 2" in warnings[0].getMessage()
    assert [r.levelno for r in caplog.records if r.name == "imdsclient.boto"].count(
        logging.DEBUG
    ) == 1  # the second failure is logged at DEBUG only


def test_off_ec2_failures_stay_at_debug(
    make_fetcher: MakeFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listening (off EC2, the chain's normal case): no warning."""
    fetcher = make_fetcher(base_url="http://127.0.0.1:9")
    with caplog.at_level(logging.DEBUG, logger="imdsclient.boto"):
        assert fetcher.retrieve_iam_role_credentials() == {}
    assert [r.levelno for r in caplog.records if r.name == "imdsclient.boto"] == [logging.DEBUG]


def test_disabled_by_env_sends_nothing(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """``AWS_EC2_METADATA_DISABLED=true`` in ``env`` (any case) gives ``{}`` without a request."""
    fetcher = make_fetcher(base_url=sim.url, env={"AWS_EC2_METADATA_DISABLED": "TRUE"})
    assert fetcher.retrieve_iam_role_credentials() == {}
    assert sim.requests == []


def test_env_defaults_to_os_environ(
    sim: IMDSSimulator, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``env`` the process environment is read, like botocore."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert make_fetcher(base_url=sim.url, env=None).retrieve_iam_role_credentials() == {}
    assert sim.requests == []


def test_config_endpoint_is_used(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """``ec2_metadata_service_endpoint`` applies when ``base_url`` is botocore's default."""
    fetcher = make_fetcher(config={"ec2_metadata_service_endpoint": sim.url})
    assert fetcher.get_base_url() == sim.url
    assert fetcher.retrieve_iam_role_credentials()["role_name"] == ROLE


def test_endpoint_precedence(make_fetcher: MakeFetcher) -> None:
    """``base_url`` beats the config endpoint, which beats the IPv6 mode (no request is sent)."""
    assert make_fetcher(config={"ec2_metadata_service_endpoint_mode": "IPv6"}).get_base_url() == (
        "http://[fd00:ec2::254]/"
    )
    both = {
        "ec2_metadata_service_endpoint": "http://127.0.0.1:9",
        "ec2_metadata_service_endpoint_mode": "ipv6",
    }
    assert make_fetcher(config=both).client.config.base_url == "http://127.0.0.1:9"
    explicit = make_fetcher(base_url="http://127.0.0.2:9/", config=both)
    assert explicit.client.config.base_url == "http://127.0.0.2:9"
    assert make_fetcher().get_base_url() == BotocoreFetcher().get_base_url()


def test_invalid_endpoint_raises_botocores_error(make_fetcher: MakeFetcher) -> None:
    """An unusable endpoint raises botocore's ``InvalidIMDSEndpointError`` at construction."""
    with pytest.raises(InvalidIMDSEndpointError):
        make_fetcher(base_url="not a url")


def test_settings_reach_the_client(make_fetcher: MakeFetcher) -> None:
    """timeout, num_attempts and the IMDSv1 switch become the client's settings."""
    fetcher = make_fetcher(timeout=3, num_attempts=4, config={"ec2_metadata_v1_disabled": "True"})
    config = fetcher.client.config
    assert (config.timeout, config.num_attempts, config.v1_fallback) == (3.0, 4, False)
    assert make_fetcher().client.config.num_attempts == 1  # botocore's default: no retries


def test_one_token_and_one_role_lookup(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """Repeated retrievals share one token and one role listing; each then costs one GET."""
    fetcher = make_fetcher(base_url=sim.url)
    for _ in range(4):
        assert fetcher.retrieve_iam_role_credentials()["role_name"] == ROLE
    assert sim.count("PUT") == 1
    assert sim.count("GET", CREDS + ROLE) == 4
    assert [r.path for r in sim.requests if r.method == "GET"].count(CREDS) == 1  # the listing


def test_closed_fetcher_returns_empty(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """After ``close()`` a retrieval returns ``{}`` instead of raising."""
    fetcher = make_fetcher(base_url=sim.url)
    fetcher.close()
    assert fetcher.retrieve_iam_role_credentials() == {}


def test_import_without_botocore_names_the_extra() -> None:
    """Without botocore, importing ``imdsclient.boto`` says ``pip install imdsclient[boto]``."""
    code = (
        "import sys; sys.modules['botocore'] = None\n"
        "try:\n    import imdsclient.boto\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install imdsclient[boto]" in out.stdout


def test_import_imdsclient_does_not_import_botocore() -> None:
    """``import imdsclient`` never loads botocore or ``imdsclient.boto``."""
    code = "import sys, imdsclient; print(sorted(m for m in sys.modules if 'boto' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_threads_share_one_token_and_role_lookup(
    sim: IMDSSimulator, make_fetcher: MakeFetcher
) -> None:
    """16 threads retrieving at once cause one PUT and one role listing."""
    fetcher = make_fetcher(base_url=sim.url)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: fetcher.retrieve_iam_role_credentials(), range(64)))
    assert all(result["role_name"] == ROLE for result in results)
    assert sim.count("PUT") == 1
    assert [r.path for r in sim.requests].count(CREDS) == 1


def test_config_instance_profile_name_skips_discovery(
    sim: IMDSSimulator, make_fetcher: MakeFetcher
) -> None:
    """``config={"ec2_instance_profile_name": ...}``: the role document is read directly."""
    fetcher = make_fetcher(base_url=sim.url, config={"ec2_instance_profile_name": ROLE})
    assert fetcher.retrieve_iam_role_credentials()["role_name"] == ROLE
    assert [r.path for r in sim.requests if r.method == "GET"] == [CREDS + ROLE]
