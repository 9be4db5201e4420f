"""Off EC2 on a real kernel: no route, ICMP unreachable, and silence, each told apart."""

from __future__ import annotations

import json
from typing import Any

from imdsclient._cli._doctor import as_fix
from imdsclient.errors import HINTS
from tests.network._lab import Lab, Namespace


def _reachability(ns: Namespace) -> dict[str, Any]:
    done = ns.cli("doctor", "--json")
    return next(c for c in json.loads(done.out)["checks"] if c["name"] == "reachability")


def test_no_route(lab: Lab) -> None:
    """No route to IMDS (ENETUNREACH): exit 17 at once, and doctor says "no route"."""
    with lab.serve() as imds:
        done = lab.void.cli("get", "instance-id")
        check = _reachability(lab.void)
        assert imds.log() == []
    assert done.code == 17
    assert "no route to 169.254.169.254" in check["summary"]
    assert "ENETUNREACH" in check["evidence"][0]
    assert check["fix"] == [as_fix(HINTS["no_route"])]
    assert not lab.void.probe("available")["value"]


def test_icmp_host_unreachable(lab: Lab) -> None:
    """The network answers ICMP host-unreachable (EHOSTUNREACH): exit 17; doctor says so."""
    with lab.serve():
        lab.network("reject with icmp type host-unreachable")
        done = lab.instance.cli("get", "instance-id")
        check = _reachability(lab.instance)
    assert done.code == 17
    assert "host unreachable" in check["summary"]
    assert "EHOSTUNREACH" in check["evidence"][0]


def test_silence(lab: Lab) -> None:
    """Every packet dropped (off EC2, usually): exit 18 naming a DROP rule or not being on
    EC2, never "raise the timeout"; botocore's fetcher meets it with an empty answer."""
    with lab.serve():
        lab.network("drop")
        done = lab.instance.cli("get", "instance-id")
        check = _reachability(lab.instance)
        theirs = lab.instance.probe("botocore", {"calls": 1})
    assert done.code == 18
    assert HINTS["connect_timeout"] in done.err
    assert "raise AWS_METADATA_SERVICE_TIMEOUT" not in done.err
    assert "a firewall DROP rule, or not on EC2" in check["summary"]
    assert theirs["calls"][0]["keys"] == []
