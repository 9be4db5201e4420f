"""The pytest plugin: the imds_simulator fixture and the imds marker, as users' suites see them."""

from __future__ import annotations

import httpx
import pytest

from imdsclient.testing import IMDSSimulator

pytest_plugins = ["pytester"]


@pytest.mark.imds(http_tokens="required", tags_enabled=False)
def test_fixture_honours_marker_knobs(imds_simulator: IMDSSimulator) -> None:
    """Keywords of @pytest.mark.imds configure the fixture's simulator."""
    assert imds_simulator.http_tokens == "required"
    with httpx.Client(base_url=imds_simulator.url, trust_env=False, timeout=5) as client:
        assert client.get("/latest/meta-data/instance-id").status_code == 401


def test_fixture_without_marker_uses_defaults(imds_simulator: IMDSSimulator) -> None:
    """Without a marker the simulator is the default on-demand instance."""
    with httpx.Client(base_url=imds_simulator.url, trust_env=False, timeout=5) as client:
        assert client.get("/latest/meta-data/instance-id").text == "i-1234567890abcdef0"


def test_plugin_in_a_user_suite(pytester: pytest.Pytester) -> None:
    """In a fresh suite: closest marker wins per keyword, and each test's server is stopped."""
    pytester.makepyfile(
        """
        import socket
        import pytest

        seen = []

        @pytest.mark.imds(http_tokens="required", legacy=404)
        class TestMarked:
            @pytest.mark.imds(legacy=None)
            def test_merge(self, imds_simulator):
                assert imds_simulator.http_tokens == "required"
                assert imds_simulator.legacy is None
                seen.append(imds_simulator.port)

        def test_previous_server_was_stopped():
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", seen[0]), timeout=1).close()

        @pytest.mark.imds("positional")
        def test_positional_is_refused(imds_simulator):
            pass
        """
    )
    result = pytester.runpytest_inprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*keyword arguments only*"])


@pytest.mark.imds(
    keep_alive=True,
    tags_enabled=True,
    put_response_hop_limit=2,
    placement_group="pg-1",
    credentials_expired=True,
    scheduled_events=["system-reboot"],
    fault_rate=0.0,
)
def test_marker_reaches_every_kind_of_knob(imds_simulator: IMDSSimulator) -> None:
    """Shell knobs, data knobs and start-up events all go through the marker."""
    assert imds_simulator.keep_alive is True
    assert imds_simulator.put_response_hop_limit == 2
    with httpx.Client(base_url=imds_simulator.url, trust_env=False, timeout=5) as client:
        assert client.get("/latest/meta-data/tags/instance/Name").text == "test-instance"
        assert client.get("/latest/meta-data/placement/group-name").text == "pg-1"
        events = client.get("/latest/meta-data/events/maintenance/scheduled").json()
        assert [e["Code"] for e in events] == ["system-reboot"]
    assert imds_simulator.connections == 1  # keep-alive: one connection for three GETs
