"""``doctor``: each check against recorded tool outputs and against the simulator in each mode."""

from __future__ import annotations

import errno
import json
import socket
import sys
from typing import Any

import httpx
import pytest

from imdsclient._cli import _doctor
from imdsclient.errors import HINTS
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli, FakeRunner

INSTANCE_ID = "i-1234567890abcdef0"
RULE = "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT"
DELETE = (
    "sudo iptables -D OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT"
)
PROC_ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "ens5\t00000000\t011FA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
)
ETHTOOL = """\
NIC statistics:
     tx_timeout: 0
     bw_in_allowance_exceeded: 0
     bw_out_allowance_exceeded: 0
     pps_allowance_exceeded: 0
     conntrack_allowance_exceeded: 0
     linklocal_allowance_exceeded: {count}
"""
DENIED_IPTABLES = (
    "iptables v1.8.7 (nf_tables): Could not fetch rule set generation id: "
    "Permission denied (you must be root)\n"
)
IPTABLES_SAVE = """\
*raw
:OUTPUT ACCEPT [0:0]
-A OUTPUT -d 169.254.169.254/32 -j DROP
COMMIT
*filter
:OUTPUT ACCEPT [0:0]
:IMDS - [0:0]
-A OUTPUT -j IMDS
-A IMDS -d 169.254.169.254/32 -p tcp -j REJECT
COMMIT
"""
NFT_USERS_RULESET = """\
table inet fw { # handle 7
	chain output { # handle 1
		type filter hook output priority filter; policy accept;
		ip daddr 169.254.169.254 meta skuid 1000-10000 reject with icmp port-unreachable # handle 2
	}
}
"""
NFT_RULESET = """\
table inet filter { # handle 3
	chain output { # handle 2
		type filter hook output priority filter; policy accept;
		ip daddr 169.254.169.254 counter packets 0 bytes 0 drop # handle 5
	}
}
"""


def _connected(host: str, port: int, timeout: float) -> None:
    """A connector for which every endpoint accepts connections."""


def _report(sim: IMDSSimulator | None, runner: FakeRunner, **kwargs: Any) -> _doctor.Report:
    """Doctor against the simulator in-process (its httpx handler as the transport), so a
    dropped answer is a timeout at once and no check waits on a clock; without a simulator,
    against the real network (nothing listens there)."""
    overrides: dict[str, Any] = dict(kwargs.pop("overrides_extra", {}))
    if sim is not None:
        overrides["endpoint"] = sim.url
        kwargs.setdefault("transport", httpx.MockTransport(sim.handle_httpx))
        kwargs.setdefault("connect", _connected)
    kwargs.setdefault("env", {})
    return _doctor.run_checks(overrides, runner=runner, uid=1000, **kwargs)


def _check(report: _doctor.Report, name: str) -> _doctor.Check:
    return next(c for c in report.checks if c.name == name)


# -- through main ---------------------------------------------------------------------------


def test_healthy_simulator_exits_0_with_seven_checks_in_order(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """Nothing wrong (tools missing are skipped, not problems): exit 0, checks 1..7."""
    result = cli("--endpoint", imds_simulator.url, "doctor", "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["ok"] is True
    assert [c["number"] for c in report["checks"]] == [1, 2, 3, 4, 5, 6, 7]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "configuration": "ok",
        "proxy": "ok",
        "firewall": "skipped",
        "reachability": "ok",
        "token": "ok",
        "get": "ok",
        "throttling": "skipped",
    }


def test_the_session_token_is_never_printed(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """The token doctor obtained (seen by the simulator) appears in neither report."""
    text = cli("--endpoint", imds_simulator.url, "doctor")
    as_json = cli("--endpoint", imds_simulator.url, "doctor", "--json")
    tokens = {
        r.headers["x-aws-ec2-metadata-token"]
        for r in imds_simulator.requests
        if "x-aws-ec2-metadata-token" in r.headers
    }
    assert len(tokens) == 2
    for token in tokens:
        assert token not in text.out + text.err + as_json.out + as_json.err


def test_a_problem_makes_doctor_exit_1_and_says_so(
    cli: Cli, imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """The text report shows verdict, evidence and fix, then the list of problems."""
    runner.outputs[("iptables-save",)] = (0, f"-P OUTPUT ACCEPT\n{RULE}\n", "")
    result = cli("--endpoint", imds_simulator.url, "doctor")
    assert result.code == 1
    assert "[problem] 3. firewall: 1 firewall rule blocks IMDS" in result.out
    assert f"fix: {DELETE}" in result.out
    assert result.out.rstrip().endswith("1 problem: 3. firewall")
    assert result.err == ""


def test_configuration_shows_each_value_and_its_source(
    cli: Cli, imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check 1 lists the resolved settings with where each came from."""
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "5")
    result = cli("--endpoint", imds_simulator.url, "--timeout", "0.2", "doctor")
    assert "num_attempts = 5 (environment variable AWS_METADATA_SERVICE_NUM_ATTEMPTS)" in result.out
    assert "timeout = 0.2 (argument)" in result.out
    assert "endpoint_mode = IPv4 (default)" in result.out


def test_disabled_by_environment_is_a_problem_with_the_hint(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """AWS_EC2_METADATA_DISABLED=true: check 1 is a problem quoting HINTS['disabled']."""
    report = _report(imds_simulator, runner, env={"AWS_EC2_METADATA_DISABLED": "true"})
    check = _check(report, "configuration")
    assert check.status == "problem"
    assert check.fix == [HINTS["disabled"]]
    assert "environment variable AWS_EC2_METADATA_DISABLED" in check.summary


def test_invalid_configuration_skips_the_network_checks(runner: FakeRunner) -> None:
    """A ConfigError is check 1's problem; checks 4-6 are skipped, doctor itself does not fail."""
    report = _report(None, runner, env={"AWS_METADATA_SERVICE_TIMEOUT": "soon"})
    assert _check(report, "configuration").status == "problem"
    assert "AWS_METADATA_SERVICE_TIMEOUT" in _check(report, "configuration").evidence[0]
    assert [c.status for c in report.checks[3:6]] == ["skipped"] * 3


def _failing(error: OSError) -> _doctor.Connector:
    def connect(host: str, port: int, timeout: float) -> None:
        raise error

    return connect


@pytest.mark.parametrize(
    ("error", "summary", "hint"),
    [
        (socket.timeout("timed out"), "a firewall DROP rule, or not on EC2", "connect_timeout"),
        (OSError(errno.ECONNREFUSED, "Connection refused"), "REJECT rule", "connect"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "no route to", "no_route"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "host unreachable", "no_route"),
        (OSError(errno.EPERM, "Operation not permitted"), "not permitted", "connect"),
    ],
)
def test_reachability_verdict_follows_the_errno(
    runner: FakeRunner, error: OSError, summary: str, hint: str
) -> None:
    """Refused, no route, host unreachable, timed out: each its own cause and fix."""
    report = _report(None, runner, connect=_failing(error))
    check = _check(report, "reachability")
    assert check.status == "problem"
    assert summary in check.summary
    assert check.fix == [HINTS[hint]]
    if error.errno:
        assert errno.errorcode[error.errno] in check.evidence[0]


def test_reachability_waits_as_long_as_the_client_does(runner: FakeRunner) -> None:
    """The TCP probe's timeout is the client's connect timeout (timeout + the SYN slack)."""
    seen: list[float] = []

    def connect(host: str, port: int, timeout: float) -> None:
        seen.append(timeout)
        raise socket.timeout("timed out")

    _report(None, runner, connect=connect)
    assert seen == [pytest.approx(1.15)]


def test_unreachable_endpoint_is_a_problem_and_skips_http(runner: FakeRunner) -> None:
    """Nothing listens: check 4 says so with the connect hint; 5 and 6 are skipped."""
    report = _report(None, runner, env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"})
    check = _check(report, "reachability")
    assert check.status == "problem"
    assert check.fix == [HINTS["connect"]]
    assert [c.status for c in report.checks[4:6]] == ["skipped", "skipped"]


# -- the simulator in each mode -------------------------------------------------------------


@pytest.mark.imds(endpoint_enabled=False)
def test_endpoint_disabled_403_gives_the_enable_command(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """Token PUT 403: problem, fix is HINTS['endpoint_disabled']."""
    check = _check(_report(imds_simulator, runner), "token")
    assert check.status == "problem"
    assert check.fix == [HINTS["endpoint_disabled"]]
    assert "--http-endpoint enabled" in check.fix[0]


@pytest.mark.imds(legacy=405)
def test_legacy_imds_is_reported_as_v1_only(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """Token PUT 405: v1 only; the token-less GET still works."""
    report = _report(imds_simulator, runner)
    assert _check(report, "token").status == "problem"
    assert "IMDSv1 only" in _check(report, "token").summary
    assert _check(report, "get").status == "ok"
    assert "skipped (no token)" in _check(report, "get").evidence[0]


@pytest.mark.imds(legacy=404)
def test_v1_only_with_fallback_disabled_names_the_v1_only_cause(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """PUT 404 and --no-v1-fallback: the fix is the v1-only one, not the hop limit."""
    report = _report(imds_simulator, runner, overrides_extra={"v1_fallback": False})
    check = _check(report, "token")
    assert check.fix == [HINTS["v1_disabled_no_token"]]
    assert "hop" not in " ".join(check.fix)


@pytest.mark.imds(endpoint_enabled=False)
def test_the_placeholder_stays_when_the_instance_id_is_unknown(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """403 everywhere: no instance id was read, so the fix keeps `<instance-id>`."""
    check = _check(_report(imds_simulator, runner), "token")
    assert "--instance-id <instance-id>" in check.fix[0]


@pytest.mark.imds(hop_limit_drop=True)
def test_dropped_token_response_points_at_the_hop_limit(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """Token PUT unanswered (a read timeout): the hop-limit fix, naming the instance that
    the token-less GET read."""
    check = _check(_report(imds_simulator, runner), "token")
    assert check.status == "problem"
    assert check.fix == [HINTS["hop_limit"].replace("<instance-id>", INSTANCE_ID)]
    assert f"--instance-id {INSTANCE_ID} --http-put-response-hop-limit 2" in check.fix[0]


@pytest.mark.imds(hop_limit_drop=True, http_tokens="required")
def test_hop_limit_with_tokens_required_means_no_way_in(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """No token and v1 refused (401): check 6 is a problem with the hop-limit fix."""
    check = _check(_report(imds_simulator, runner), "get")
    assert check.status == "problem"
    assert check.fix == [HINTS["hop_limit"]]


@pytest.mark.imds(http_tokens="required")
def test_tokens_required_is_fine_for_v2(imds_simulator: IMDSSimulator, runner: FakeRunner) -> None:
    """GET without token 401 while the token works: ok, noting v1-only tools fail."""
    report = _report(imds_simulator, runner)
    check = _check(report, "get")
    assert check.status == "ok"
    assert "HttpTokens=required" in check.summary
    assert "without token: 401" in check.evidence[1]
    assert not report.has_problem


@pytest.mark.imds(throttle_rps=1)
def test_throttled_get_is_a_problem_with_the_throttling_hint(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """One request per second: the PUT passes, the GETs get 429."""
    check = _check(_report(imds_simulator, runner), "get")
    assert check.status == "problem"
    assert "429" in check.summary
    assert check.fix == [HINTS["throttled"]]


def test_doctor_never_uses_the_retrying_client(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """Throttled answers are shown as they are: one PUT, one token-less GET, no retries."""
    imds_simulator.throttle_next(5)
    _report(imds_simulator, runner)
    assert [(r.method, r.status) for r in imds_simulator.requests] == [("PUT", 429), ("GET", 429)]


def test_doctor_ignores_proxy_variables_for_its_own_requests(
    imds_simulator: IMDSSimulator, runner: FakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY pointing nowhere, the HTTP checks still reach the simulator directly."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    report = _doctor.run_checks({"endpoint": imds_simulator.url}, runner=runner)
    assert _check(report, "token").status == "ok"
    assert _check(report, "proxy").status == "problem"


# -- proxies --------------------------------------------------------------------------------

IMDS_FIX = "export no_proxy=169.254.169.254 NO_PROXY=169.254.169.254"


@pytest.mark.parametrize(
    ("env", "status"),
    [
        ({}, "ok"),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "ok"),
        ({"HTTP_PROXY": "http://proxy:3128"}, "problem"),
        ({"all_proxy": "socks5://proxy:1080"}, "problem"),
        ({"http_proxy": "http://proxy:3128", "NO_PROXY": "localhost,169.254.169.254"}, "ok"),
        ({"HTTP_PROXY": "http://proxy:3128", "no_proxy": "*"}, "ok"),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,.internal"}, "problem"),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "169.254.0.0/16"}, "problem"),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": ".169.254"}, "ok"),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "169.254.169.254:80"}, "problem"),
    ],
)
def test_proxy_check(env: dict[str, str], status: str) -> None:
    """A proxy a tool would use for 169.254.169.254 without bypassing it is a problem."""
    check = _doctor.check_proxy(env)
    assert check.status == status
    if status == "problem":
        (fix,) = check.fix
        lower, upper = fix.split(" ")[1:]
        assert lower.startswith("no_proxy=")
        assert upper.startswith("NO_PROXY=")
        assert lower[len("no_proxy=") :] == upper[len("NO_PROXY=") :]
        assert lower.endswith("=169.254.169.254") or lower.endswith(",169.254.169.254")


def test_without_any_no_proxy_the_fix_names_imds_alone() -> None:
    """No no-proxy list yet: the fix sets both cases to the IMDS address."""
    assert _doctor.check_proxy({"HTTP_PROXY": "http://proxy:3128"}).fix == [IMDS_FIX]


def test_lowercase_no_proxy_wins_as_urllib_and_curl_read_it() -> None:
    """The issue's case: NO_PROXY names IMDS but lowercase no_proxy, which wins, does not."""
    env = {
        "http_proxy": "http://proxy:3128",
        "no_proxy": "localhost,127.0.0.1",
        "NO_PROXY": "localhost,127.0.0.1,169.254.169.254",
    }
    check = _doctor.check_proxy(env)
    assert check.status == "problem"
    assert "Python urllib (botocore, boto3, AWS CLI v1) and curl" in check.summary
    assert check.fix == [
        "export no_proxy=localhost,127.0.0.1,169.254.169.254 "
        "NO_PROXY=localhost,127.0.0.1,169.254.169.254"
    ]
    assert any("its no_proxy does not cover 169.254.169.254" in line for line in check.evidence)


def test_the_fix_satisfies_every_tool() -> None:
    """After the printed fix, doctor finds nothing left (urllib and curl both bypass)."""
    env = {"HTTP_PROXY": "http://p:1", "http_proxy": "http://p:1", "no_proxy": "localhost"}
    fixed = dict(env, no_proxy="localhost,169.254.169.254", NO_PROXY="localhost,169.254.169.254")
    assert _doctor.check_proxy(env).fix == [
        "export no_proxy=localhost,169.254.169.254 NO_PROXY=localhost,169.254.169.254"
    ]
    assert _doctor.check_proxy(fixed).status == "ok"


def test_uppercase_http_proxy_is_used_by_urllib_but_not_by_curl() -> None:
    """curl never reads HTTP_PROXY (only lowercase http_proxy); urllib reads either."""
    check = _doctor.check_proxy({"HTTP_PROXY": "http://proxy:3128"})
    assert check.status == "problem"
    assert check.summary.startswith("Python urllib (botocore, boto3, AWS CLI v1) would send")
    assert "curl: no proxy for http://169.254.169.254/" in check.evidence


def test_an_empty_lowercase_variable_removes_the_uppercase_one_for_urllib() -> None:
    """urllib: http_proxy="" set and empty removes HTTP_PROXY; then nothing is proxied."""
    check = _doctor.check_proxy({"HTTP_PROXY": "http://proxy:3128", "http_proxy": ""})
    assert check.status == "ok"


def test_cidr_no_proxy_is_explained() -> None:
    """A CIDR entry: curl (7.86+) bypasses, urllib does not, and the evidence says why."""
    check = _doctor.check_proxy({"http_proxy": "http://p:1", "NO_PROXY": "169.254.0.0/16"})
    assert check.status == "problem"
    assert any("urllib does not read CIDR blocks" in line for line in check.evidence)
    assert any(line.startswith("curl:") and " covers " in line for line in check.evidence)
    assert check.fix == [
        "export no_proxy=169.254.0.0/16,169.254.169.254 NO_PROXY=169.254.0.0/16,169.254.169.254"
    ]


def test_proxy_credentials_are_never_shown() -> None:
    """user:password in a proxy URL is redacted from the evidence."""
    check = _doctor.check_proxy({"HTTP_PROXY": "http://alice:s3cr3t@proxy:3128"})
    assert check.evidence[0] == "HTTP_PROXY=http://***@proxy:3128"
    assert "s3cr3t" not in json.dumps(_doctor.Report([check]).as_dict())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:pa://ss@proxy:3128", "http://***@proxy:3128"),
        ("alice:s3cr3t@proxy:3128", "***@proxy:3128"),
    ],
)
def test_proxy_passwords_of_any_shape_are_never_shown(url: str, shown: str) -> None:
    """A password containing `://`, or a proxy URL without a scheme, is still fully masked."""
    check = _doctor.check_proxy({"HTTP_PROXY": url})
    assert check.evidence[0] == f"HTTP_PROXY={shown}"
    assert not any("alice" in line for line in check.evidence)


# -- firewall through the runner ------------------------------------------------------------


def test_firewall_rule_is_shown_with_the_exact_delete_command(runner: FakeRunner) -> None:
    """The recorded REJECT rule becomes a problem whose fix is the exact `iptables -D`."""
    runner.outputs[("iptables-save",)] = (0, f"-P OUTPUT ACCEPT\n{RULE}\n", "")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.status == "problem"
    assert check.fix == [DELETE]


def test_rules_in_other_chains_and_tables_are_found(runner: FakeRunner) -> None:
    """A DROP in a chain OUTPUT jumps to, and one in the raw table: both found, exact deletes."""
    runner.outputs[("iptables", "-S", "OUTPUT")] = (0, "-P OUTPUT ACCEPT\n-A OUTPUT -j IMDS\n", "")
    runner.outputs[("iptables-save",)] = (0, IPTABLES_SAVE, "")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.status == "problem"
    assert check.fix == [
        "sudo iptables -t raw -D OUTPUT -d 169.254.169.254/32 -j DROP",
        "sudo iptables -D IMDS -d 169.254.169.254/32 -p tcp -j REJECT",
    ]


def test_without_iptables_save_every_filter_chain_is_listed(runner: FakeRunner) -> None:
    """iptables-save missing: `iptables -S` (all chains), not just the OUTPUT chain."""
    runner.outputs[("iptables", "-S", "OUTPUT")] = (0, "-P OUTPUT ACCEPT\n-A OUTPUT -j IMDS\n", "")
    runner.outputs[("iptables", "-S")] = (0, "-N IMDS\n-A IMDS -d 169.254.169.254/32 -j DROP\n", "")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.fix == ["sudo iptables -D IMDS -d 169.254.169.254/32 -j DROP"]


def test_empty_rules_are_ok(runner: FakeRunner) -> None:
    """iptables lists only the policy and nft an empty ruleset: ok."""
    runner.outputs[("iptables-save",)] = (0, "-P OUTPUT ACCEPT\n", "")
    runner.outputs[("nft", "-a", "list", "ruleset")] = (0, "", "")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.status == "ok"
    assert check.fix == []


def test_nft_rule_is_shown_with_its_handle_delete(runner: FakeRunner) -> None:
    """nft ruleset with handles: `nft delete rule inet filter output handle 5`."""
    runner.outputs[("nft", "-a", "list", "ruleset")] = (0, NFT_RULESET, "")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.status == "problem"
    assert check.fix == ["sudo nft delete rule inet filter output handle 5"]
    assert "`iptables-save`: not installed" in check.evidence


IPTABLES_NFT_SAVE = f"""\
# Generated by iptables-save v1.8.9 (nf_tables) on Tue Dec  1 22:13:42 2026
*filter
:OUTPUT ACCEPT [0:0]
{RULE} --reject-with icmp-port-unreachable
COMMIT
"""
IPTABLES_NFT_RULESET = """\
table ip filter { # handle 2
	chain OUTPUT { # handle 1
		type filter hook output priority filter; policy accept;
		meta l4proto tcp ip daddr 169.254.169.254 skuid 1000-10000 counter reject # handle 2
	}
}
"""
NFT_WARNING = "# Warning: table ip filter is managed by iptables-nft, do not touch!\n"


def test_an_iptables_nft_rule_is_reported_once(runner: FakeRunner) -> None:
    """iptables-nft shows its rule in both listings: one rule, one fix (iptables -D)."""
    runner.outputs[("iptables-save",)] = (0, IPTABLES_NFT_SAVE, "")
    runner.outputs[("nft", "-a", "list", "ruleset")] = (0, IPTABLES_NFT_RULESET, NFT_WARNING)
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 0)
    assert check.summary == "1 firewall rule blocks IMDS"
    assert check.fix == [f"{DELETE} --reject-with icmp-port-unreachable"]
    assert any("counted once" in line for line in check.evidence)
    assert any("(UID 0) is not affected" in line for line in check.evidence)


def test_an_nft_only_rule_is_reported_with_its_uids(runner: FakeRunner) -> None:
    """A rule only nft shows (no iptables listing of it) keeps its nft delete and UID note."""
    runner.outputs[("iptables-save",)] = (
        0,
        "# Generated by iptables-save v1.8.9 (nf_tables)\n",
        "",
    )
    runner.outputs[("nft", "-a", "list", "ruleset")] = (0, NFT_USERS_RULESET, "")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.fix == ["sudo nft delete rule inet fw output handle 2"]
    assert any(
        "processes whose UID is 1000-10000; this process (UID 1000) is affected" in line
        for line in check.evidence
    )


def test_permission_denied_is_skipped_with_the_message(runner: FakeRunner) -> None:
    """Not root: iptables, iptables-save and nft fail; skipped, showing why and what to do."""
    runner.outputs[("iptables-save",)] = (1, "", DENIED_IPTABLES)
    runner.outputs[("iptables", "-S")] = (4, "", DENIED_IPTABLES)
    runner.outputs[("nft", "-a", "list", "ruleset")] = (1, "", "Error: Operation not permitted\n")
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.status == "skipped"
    assert any("Permission denied (you must be root)" in line for line in check.evidence)
    assert any("Operation not permitted" in line for line in check.evidence)
    assert "sudo" in check.fix[0]


def test_missing_tools_are_skipped(runner: FakeRunner) -> None:
    """No iptables and no nft: skipped without a misleading fix."""
    check = _doctor.check_firewall(runner, ["169.254.169.254"], 1000)
    assert check.status == "skipped"
    assert "neither iptables nor nft is installed" in check.summary
    assert check.fix == []
    assert "`nft -a list ruleset`: not installed" in check.evidence


# -- throttling counter ---------------------------------------------------------------------


def test_nonzero_linklocal_counter_is_a_problem(runner: FakeRunner) -> None:
    """Interface from /proc/net/route; counter 1234 → problem with the throttling hint."""
    runner.outputs[("cat", "/proc/net/route")] = (0, PROC_ROUTE, "")
    runner.outputs[("ethtool", "-S", "ens5")] = (0, ETHTOOL.format(count=1234), "")
    check = _doctor.check_throttling(runner, None)
    assert check.status == "problem"
    assert "1234" in check.summary
    assert check.fix[0] == HINTS["throttled"]
    assert "interface ens5 (default route in /proc/net/route)" in check.evidence


def test_zero_linklocal_counter_is_ok(runner: FakeRunner) -> None:
    """Counter 0 → ok; the other allowance counters are shown as evidence."""
    runner.outputs[("cat", "/proc/net/route")] = (0, PROC_ROUTE, "")
    runner.outputs[("ethtool", "-S", "ens5")] = (0, ETHTOOL.format(count=0), "")
    check = _doctor.check_throttling(runner, None)
    assert check.status == "ok"
    assert "pps_allowance_exceeded: 0" in check.evidence


def test_interface_falls_back_to_ip_route(runner: FakeRunner) -> None:
    """/proc/net/route unreadable: `ip route show default` names the interface."""
    runner.outputs[("ip", "route", "show", "default")] = (0, "default via 10.0.0.1 dev eth1\n", "")
    runner.outputs[("ethtool", "-S", "eth1")] = (0, ETHTOOL.format(count=0), "")
    assert _doctor.check_throttling(runner, None).status == "ok"


def test_no_interface_is_skipped_with_advice(runner: FakeRunner) -> None:
    """Neither source names a default route: skipped, suggesting --interface."""
    check = _doctor.check_throttling(runner, None)
    assert check.status == "skipped"
    assert "--interface" in check.fix[0]


def test_missing_ethtool_is_skipped(runner: FakeRunner) -> None:
    """ethtool not installed: skipped with how to install it."""
    check = _doctor.check_throttling(runner, "eth0")
    assert check.status == "skipped"
    assert "install ethtool" in check.fix[0]


def test_driver_without_the_counter_is_skipped(runner: FakeRunner) -> None:
    """A veth or virtio NIC has no linklocal counter: skipped, naming ENA."""
    runner.outputs[("ethtool", "-S", "eth0")] = (0, "NIC statistics:\n     peer_ifindex: 7\n", "")
    check = _doctor.check_throttling(runner, "eth0")
    assert check.status == "skipped"
    assert "ENA" in check.summary


def test_interface_option_is_used_as_given(
    cli: Cli, imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """`doctor --interface X` reads X's counters and never looks up the default route."""
    runner.outputs[("ethtool", "-S", "ens9")] = (0, ETHTOOL.format(count=0), "")
    result = cli("--endpoint", imds_simulator.url, "doctor", "--interface", "ens9")
    assert result.code == 0
    assert ("cat", "/proc/net/route") not in runner.calls
    assert "[ok]      7. throttling" in result.out


# -- the real runner (harmless programs only) -----------------------------------------------


def test_system_runner_reports_output_and_missing_programs() -> None:
    """SystemRunner returns (code, stdout, stderr) and 127 for a missing program; never raises."""
    runner = _doctor.SystemRunner(timeout=10)
    assert runner.run([sys.executable, "-c", "print('hi')"]) == (0, "hi\n", "")
    code, _, err = runner.run(["imdsclient-no-such-program-xyz"])
    assert code == 127
    assert "not found" in err


def test_doctor_never_inflates_a_compressed_answer(runner: FakeRunner) -> None:
    """A gzip bomb (10 MiB of zeros in ~10 KiB) is read as the raw bytes served, never decoded:
    doctor uses the client's transport, which asks for identity and reads raw."""
    import gzip
    import tracemalloc

    from tests.reliability._servers import RawServer, simple_answer

    bomb = gzip.compress(bytes(10 * 1024 * 1024))

    def respond(method: str, path: str) -> list[bytes]:
        if method == "PUT":
            return simple_answer(200, b"tok")
        return simple_answer(200, bomb, "Content-Encoding: gzip")

    server = RawServer(respond)
    tracemalloc.start()
    try:
        report = _doctor.run_checks({"endpoint": server.url}, env={}, runner=runner, uid=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.close()
    assert _check(report, "get").status == "ok"
    assert peak < 4 * 1024 * 1024  # the inflated body alone would be 10 MiB


# -- the environment and the instance profile name (#16) ------------------------------------

FARGATE_ENV = {
    "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/secret-id",
    "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/secret-id",
}


def test_configuration_shows_the_instance_profile_name_and_its_source(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """Check 1 lists instance_profile_name with where it came from."""
    env = {"AWS_EC2_INSTANCE_PROFILE_NAME": "my-role"}
    check = _check(_report(imds_simulator, runner, env=env), "configuration")
    assert (
        "instance_profile_name = my-role (environment variable AWS_EC2_INSTANCE_PROFILE_NAME)"
        in check.evidence
    )


def test_configuration_says_which_environment_it_sees(
    imds_simulator: IMDSSimulator, runner: FakeRunner
) -> None:
    """Check 1 names the environment and what it means; variable values are never shown."""
    plain = _check(_report(imds_simulator, runner), "configuration")
    assert plain.evidence[-1].startswith("environment: no Lambda, ECS or EKS variables")
    check = _check(_report(imds_simulator, runner, env=FARGATE_ENV), "configuration")
    assert check.status == "ok"
    assert "environment: AWS Fargate (AWS_EXECUTION_ENV=AWS_ECS_FARGATE" in check.evidence[-2]
    assert check.evidence[-1].startswith("meaning: Fargate has no IMDS")
    assert not any("secret-id" in line for line in check.evidence)


def test_unreachable_on_fargate_says_so_instead_of_firewalls(runner: FakeRunner) -> None:
    """Check 4's fix on Fargate is what Fargate means, not the iptables advice."""
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9", **FARGATE_ENV}
    check = _check(_report(None, runner, env=env), "reachability")
    assert check.status == "problem"
    assert len(check.fix) == 1
    assert "Fargate has no IMDS" in check.fix[0]
    assert "iptables" not in check.fix[0]
