"""IMDS's own modes with the default endpoint: disabled, IMDSv1 only, tokens required."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imdsclient._cli._doctor import as_fix
from imdsclient.errors import HINTS
from tests.network._lab import Lab, Namespace, User

INSTANCE_ID = "i-1234567890abcdef0"


def _checks(ns: Namespace, *options: str, user: User = None) -> dict[str, Any]:
    done = ns.cli(*options, "doctor", "--json", user=user)
    return {c["name"]: c for c in json.loads(done.out)["checks"]}


def test_a_disabled_endpoint_is_exit_12_with_the_enable_command(lab: Lab, user: User) -> None:
    """IMDS disabled (403 to everything): exit 12, and doctor's fix enables it."""
    with lab.serve(endpoint_enabled=False):
        done = lab.instance.cli("get", "instance-id", user=user)
        token = _checks(lab.instance, user=user)["token"]
    assert done.code == 12
    assert "--http-endpoint enabled" in done.err
    assert token["fix"] == [
        as_fix(HINTS["endpoint_disabled"])
    ]  # no id to fill in: every GET got 403


@pytest.mark.parametrize("status", [404, 405])
def test_an_imdsv1_only_endpoint(lab: Lab, status: int) -> None:
    """PUT 404/405: IMDSv1 is used; with --no-v1-fallback the error names the v1-only cause,
    never the hop limit."""
    with lab.serve(legacy=status):
        assert lab.instance.cli("get", "instance-id").out == f"{INSTANCE_ID}\n"
        done = lab.instance.cli("--no-v1-fallback", "get", "instance-id")
        token = _checks(lab.instance, "--no-v1-fallback")["token"]
    assert done.code == 14
    assert f"token request answered {status}" in done.err
    assert "IMDSv1 only" in done.err
    assert "hop" not in done.err
    assert token["fix"] == [as_fix(HINTS["v1_disabled_no_token"])]


def test_tokens_required_works_and_doctor_says_why_v1_tools_fail(lab: Lab, user: User) -> None:
    """HttpTokens=required: the CLI reads values; doctor is content and explains the 401."""
    with lab.serve(http_tokens="required"):
        done = lab.instance.cli("get", "instance-id", user=user)
        checks = _checks(lab.instance, user=user)
    assert (done.code, done.out) == (0, f"{INSTANCE_ID}\n")
    assert checks["get"]["status"] == "ok"
    assert "HttpTokens=required" in checks["get"]["summary"]
