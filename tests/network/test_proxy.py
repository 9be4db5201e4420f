"""Proxy variables on a real host: doctor's verdict for each tool against what the tool does.

A proxy that adds ``X-Forwarded-For`` (``_proxy.py``) listens inside the instance namespace and
logs every request it forwards, so each case shows which tools really used it: botocore's
fetcher (Python's urllib rules) and curl.  imdsclient itself never does.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.network._lab import Lab, Server

PROXY = "http://127.0.0.1:3128"
PYTHON = "Python urllib (botocore, boto3, AWS CLI v1)"
FIXED = "localhost,127.0.0.1,169.254.169.254"

#: name → (environment, botocore uses the proxy, curl uses the proxy)
CASES: dict[str, tuple[dict[str, str], bool, bool]] = {
    "HTTP_PROXY": ({"HTTP_PROXY": PROXY}, True, False),
    "http_proxy": ({"http_proxy": PROXY}, True, True),
    "ALL_PROXY": ({"ALL_PROXY": PROXY}, False, True),
    "empty http_proxy": ({"HTTP_PROXY": PROXY, "http_proxy": ""}, False, False),
    "CIDR NO_PROXY": ({"http_proxy": PROXY, "NO_PROXY": "169.254.0.0/16"}, True, False),
    "lowercase no_proxy wins": (
        {"http_proxy": PROXY, "no_proxy": "localhost,127.0.0.1", "NO_PROXY": FIXED},
        True,
        True,
    ),
    "doctor's fix": (
        {"http_proxy": PROXY, "HTTP_PROXY": PROXY, "no_proxy": FIXED, "NO_PROXY": FIXED},
        False,
        False,
    ),
}


def _curl(lab: Lab, env: dict[str, str]) -> str:
    """curl's token PUT with these variables: its status (403 through the proxy)."""
    argv = ["curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"]
    argv += ["-H", "X-aws-ec2-metadata-token-ttl-seconds: 60"]
    return lab.instance.run([*argv, "http://169.254.169.254/latest/api/token"], env=env).out


def _proxied(proxy: Server) -> bool:
    return bool(proxy.drain())


def _doctor_says(lab: Lab, env: dict[str, str]) -> dict[str, Any]:
    done = lab.instance.cli("doctor", "--json", env=env)
    return next(c for c in json.loads(done.out)["checks"] if c["name"] == "proxy")


@pytest.mark.parametrize("case", list(CASES))
def test_doctor_judges_each_tool_as_it_behaves(lab: Lab, case: str) -> None:
    """For each setting, doctor flags exactly the tools that really send IMDS to the proxy."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (apt-get install curl)")
    env, botocore_uses_it, curl_uses_it = CASES[case]
    with lab.serve(), lab.proxy(lab.instance) as proxy:
        assert lab.instance.probe("botocore", {"calls": 1}, env=env)["ok"]
        assert _proxied(proxy) is botocore_uses_it
        status = _curl(lab, env)
        assert _proxied(proxy) is curl_uses_it
        assert status == ("403" if curl_uses_it else "200")  # X-Forwarded-For: 403 on PUT
        assert lab.instance.probe("get", env=env)["ok"]
        assert not _proxied(proxy)  # imdsclient never uses a proxy
        check = _doctor_says(lab, env)
    flagged = check["summary"] if check["status"] == "problem" else ""
    assert (PYTHON in flagged, "curl" in flagged) == (botocore_uses_it, curl_uses_it)


def test_the_printed_fix_is_the_one_that_works(lab: Lab) -> None:
    """The issue's case: doctor's fix keeps the entries, sets both cases, and then no tool
    uses the proxy any more."""
    env = {"http_proxy": PROXY, "no_proxy": "localhost,127.0.0.1"}
    with lab.serve():
        check = _doctor_says(lab, env)
    assert check["fix"] == [f"export no_proxy={FIXED} NO_PROXY={FIXED}"]
    assert CASES["doctor's fix"][0] == {**env, "HTTP_PROXY": PROXY, "no_proxy": FIXED,
                                         "NO_PROXY": FIXED}  # fmt: skip


def test_an_x_forwarded_for_proxy_breaks_botocore_when_tokens_are_required(lab: Lab) -> None:
    """Through the proxy botocore's PUT gets 403 and its token-less GET 401: no credentials;
    imdsclient, which never uses a proxy, gets them."""
    env = {"http_proxy": PROXY}
    with lab.serve(http_tokens="required"), lab.proxy(lab.instance) as proxy:
        theirs = lab.instance.probe("botocore", {"calls": 1}, env=env)
        seen = [json.loads(line) for line in proxy.drain()]
        ours = lab.instance.probe("boto", {"calls": 1}, env=env)
        assert not proxy.drain()
    assert not theirs["ok"]
    assert [(r["method"], r["status"]) for r in seen] == [("PUT", 403), ("GET", 401)]
    assert ours["ok"]
