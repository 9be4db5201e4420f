"""Local firewall rules in the instance: the AWS guide's REJECT rule, a DROP rule, an nft rule."""

from __future__ import annotations

import json
import shlex
from typing import Any

from tests.network._lab import Lab, Namespace, User

#: The rule exactly as the AWS troubleshooting guide gives it.
GUIDE_RULE = shlex.split(
    "-A OUTPUT -p tcp -d 169.254.169.254 -m owner --uid-owner 1000-10000 -j REJECT"
)
LISTINGS = (
    "sudo iptables-save | grep 169.254.169.254",
    "sudo nft list ruleset | grep 169.254.169.254",
)


def _doctor(ns: Namespace, user: User = None) -> dict[str, Any]:
    done = ns.cli("doctor", "--json", user=user)
    assert done.code in (0, 1), done.err
    return {check["name"]: check for check in json.loads(done.out)["checks"]}


def _run_fix(ns: Namespace, fix: str) -> None:
    """Run a printed fix as root inside the namespace (doctor prints it with sudo)."""
    argv = shlex.split(fix)
    assert argv[0] == "sudo"
    ns.run(argv[1:], check=True)


def test_the_guides_reject_rule_blocks_uid_1000_only(lab: Lab, unprivileged: User) -> None:
    """The guide's rule: root still reads IMDS, UID 1000 gets exit 17 naming both listings."""
    lab.instance.sh("iptables", *GUIDE_RULE)
    with lab.serve():
        assert lab.instance.cli("get", "instance-id").code == 0
        done = lab.instance.cli("get", "instance-id", user=unprivileged)
    assert done.code == 17, done.err
    assert all(command in done.err for command in LISTINGS)


def test_doctor_reports_the_guides_rule_once_and_its_fix_works(
    lab: Lab, unprivileged: User
) -> None:
    """doctor as root: one rule (iptables-nft shows it in nft too), whose delete command works."""
    lab.instance.sh("iptables", *GUIDE_RULE)
    with lab.serve():
        firewall = _doctor(lab.instance)["firewall"]
        assert firewall["status"] == "problem"
        assert firewall["summary"] == "1 firewall rule blocks IMDS"
        (fix,) = firewall["fix"]
        assert fix.startswith("sudo iptables -D OUTPUT -d 169.254.169.254/32 -p tcp -m owner")
        assert any("(UID 0) is not affected" in line for line in firewall["evidence"])
        assert any("counted once" in line for line in firewall["evidence"])
        _run_fix(lab.instance, fix)
        assert lab.instance.cli("get", "instance-id", user=unprivileged).code == 0


def test_doctor_as_the_blocked_user_judges_by_the_errno(lab: Lab, unprivileged: User) -> None:
    """doctor as UID 1000 cannot read the rules, but calls the refusal a REJECT rule."""
    lab.instance.sh("iptables", *GUIDE_RULE)
    with lab.serve():
        checks = _doctor(lab.instance, unprivileged)
    assert checks["firewall"]["status"] == "skipped"
    reach = checks["reachability"]
    assert reach["status"] == "problem"
    assert "connection refused: a firewall REJECT rule" in reach["summary"]
    assert "ECONNREFUSED" in reach["evidence"][0]


def test_a_drop_rule_is_named_with_the_commands_that_find_it(lab: Lab, unprivileged: User) -> None:
    """DROP for UID 1000: exit 18 naming a DROP rule and both listings (not the timeout);
    botocore's fetcher meets the same silence and just returns nothing."""
    lab.instance.sh("iptables", *GUIDE_RULE[:-1], "DROP")
    with lab.serve():
        done = lab.instance.cli("get", "instance-id", user=unprivileged)
        theirs = lab.instance.probe("botocore", {"calls": 1}, user=unprivileged)
        firewall = _doctor(lab.instance)["firewall"]
        reach = _doctor(lab.instance, unprivileged)["reachability"]
    assert done.code == 18, done.err
    assert "DROPs traffic to 169.254.169.254" in done.err
    assert all(command in done.err for command in LISTINGS)
    assert theirs["calls"][0]["keys"] == []
    assert firewall["summary"] == "1 firewall rule blocks IMDS"
    assert firewall["fix"][0].endswith("--uid-owner 1000-10000 -j DROP")
    assert "a firewall DROP rule, or not on EC2" in reach["summary"]


def test_an_nft_only_rule_is_found_with_the_uids_it_hits(lab: Lab, unprivileged: User) -> None:
    """`meta skuid 1000-10000 … reject` in nft alone: the client's hint finds it (nft list
    ruleset); doctor names the UIDs and gives the exact `nft delete rule`, which works."""
    lab.instance.nft(
        "table inet hardening {\n"
        "  chain output { type filter hook output priority 0; policy accept;\n"
        "    ip daddr 169.254.169.254 meta skuid 1000-10000 reject; }\n"
        "}\n"
    )
    with lab.serve():
        done = lab.instance.cli("get", "instance-id", user=unprivileged)
        assert done.code == 17
        assert LISTINGS[1] in done.err
        firewall = _doctor(lab.instance)["firewall"]
        (fix,) = firewall["fix"]
        assert fix.startswith("sudo nft delete rule inet hardening output handle ")
        assert any(
            "processes whose UID is 1000-10000; this process (UID 0) is not affected" in line
            for line in firewall["evidence"]
        )
        _run_fix(lab.instance, fix)
        assert lab.instance.cli("get", "instance-id", user=unprivileged).code == 0
