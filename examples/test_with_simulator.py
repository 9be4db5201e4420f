"""Test your own IMDS-using code with the ``imds_simulator`` pytest fixture.

The fixture comes with imdsclient (a ``pytest11`` plugin): no ``conftest.py`` is needed. Each test
gets a fresh simulator on 127.0.0.1; ``@pytest.mark.imds(...)`` passes ``IMDSSimulator`` keyword
arguments, on a test, a class or a whole module. Run it with::

    pytest examples/test_with_simulator.py
"""

from __future__ import annotations

import pytest

import imdsclient
from imdsclient.testing import FakeClock, IMDSSimulator


def instance_summary(imds: imdsclient.IMDSClient) -> str:
    """The code under test: something of yours that reads instance metadata."""
    return f"{imds.get('instance-id')} in {imds.get('placement/availability-zone')}"


def test_summary_from_the_default_instance(imds_simulator: IMDSSimulator) -> None:
    """The simulator serves a consistent default instance."""
    with imdsclient.IMDSClient(endpoint=imds_simulator.url) as imds:
        assert instance_summary(imds) == "i-1234567890abcdef0 in us-east-1a"


@pytest.mark.imds(http_tokens="required")
def test_imdsv2_only_instance_uses_one_token(imds_simulator: IMDSSimulator) -> None:
    """With IMDSv1 off, every GET carries the token, and one token serves every call."""
    with imdsclient.IMDSClient(endpoint=imds_simulator.url, v1_fallback=False) as imds:
        instance_summary(imds)
        instance_summary(imds)
    assert imds_simulator.count(method="PUT") == 1
    assert imds_simulator.count(method="GET", status=200) == 4


@pytest.mark.imds(tree={"instance-id": "i-0custom", "placement/availability-zone": "eu-west-1b"})
def test_summary_from_your_own_tree(imds_simulator: IMDSSimulator) -> None:
    """A ``tree`` replaces the default data with exactly the values a test needs."""
    with imdsclient.IMDSClient(endpoint=imds_simulator.url) as imds:
        assert instance_summary(imds) == "i-0custom in eu-west-1b"


@pytest.mark.imds(endpoint_enabled=False)
def test_disabled_endpoint_raises_with_the_fix(imds_simulator: IMDSSimulator) -> None:
    """A 403 is an ``EndpointDisabledError`` whose hint is the AWS CLI command that fixes it."""
    imds = imdsclient.IMDSClient(endpoint=imds_simulator.url)
    with imds, pytest.raises(imdsclient.EndpointDisabledError) as caught:
        instance_summary(imds)
    assert "--http-endpoint enabled" in caught.value.hint


def test_throttling_is_retried_without_waiting(imds_simulator: IMDSSimulator) -> None:
    """A ``FakeClock`` records backoff sleeps instead of taking them."""
    clock = FakeClock()
    imds_simulator.throttle_next(2)  # the next two requests get 429
    with imdsclient.IMDSClient(endpoint=imds_simulator.url, clock=clock) as imds:
        assert imds.get("instance-id") == "i-1234567890abcdef0"
    assert len(clock.sleeps) == 2
    assert imds_simulator.count(status=429) == 2


def test_missing_value_is_a_lookup_error(imds_simulator: IMDSSimulator) -> None:
    """A 404 is ``MetadataNotFoundError``, which is also a ``LookupError``."""
    imds_simulator.delete("placement/availability-zone")
    with imdsclient.IMDSClient(endpoint=imds_simulator.url) as imds, pytest.raises(LookupError):
        instance_summary(imds)
