"""The hop limit on a real kernel: token answers with IP TTL N, a container one hop away."""

from __future__ import annotations

import json

from tests.network._lab import Lab, User

INSTANCE_ID = "i-1234567890abcdef0"
HOP_LIMIT_FIX = "--http-put-response-hop-limit 2"


def _puts(log: list[tuple[str, str, int | None]]) -> list[int | None]:
    return [status for method, _, status in log if method == "PUT"]


def test_hop_limit_1_reaches_the_instance_but_not_the_container(lab: Lab) -> None:
    """With TTL 1 the instance gets its token; the container's answer dies one hop away."""
    with lab.serve() as imds:
        lab.hop_limit(1)
        answer = lab.instance.probe("get")
        assert answer["ok"]
        assert [m for m, _, _ in imds.log()] == ["PUT", "GET"]  # the GET carried the token
        imds.clear()
        answer = lab.container.probe("get")
        assert answer == {**answer, "ok": True, "value": INSTANCE_ID}  # via IMDSv1
        assert _puts(imds.log()) == [200]  # IMDS did answer the PUT; the kernel dropped it


def test_tokens_required_in_the_container_fails_once_with_the_hop_limit_fix(
    lab: Lab, user: User
) -> None:
    """Tokens required, hop limit 1: exit 14 naming the fix, after one token request only."""
    with lab.serve(http_tokens="required") as imds:
        lab.hop_limit(1)
        done = lab.container.cli("get", "instance-id", user=user)
        assert done.code == 14, done.err
        assert HOP_LIMIT_FIX in done.err
        assert done.out == ""
        assert _puts(imds.log()) == [200]  # the dropped answer is waited for once, not twice


def test_hop_limit_2_is_the_fix(lab: Lab) -> None:
    """With TTL 2 the container gets a token, also when the instance requires one."""
    with lab.serve(http_tokens="required") as imds:
        lab.hop_limit(2)
        done = lab.container.cli("get", "instance-id")
        assert (done.code, done.out) == (0, f"{INSTANCE_ID}\n")
        assert [m for m, _, _ in imds.log()] == ["PUT", "GET"]


def test_doctor_in_the_container_names_the_hop_limit_with_the_instance_id(
    lab: Lab, user: User
) -> None:
    """doctor in a hop-limited container: check 5 gives the fix with this instance's id."""
    with lab.serve():
        lab.hop_limit(1)
        done = lab.container.cli("doctor", "--json", user=user)
        assert done.code == 1
        checks = {c["name"]: c for c in json.loads(done.out)["checks"]}
        token = checks["token"]
        assert token["status"] == "problem"
        assert "hop limit" in token["summary"]
        assert any(f"--instance-id {INSTANCE_ID} {HOP_LIMIT_FIX}" in f for f in token["fix"])
        assert not any("<instance-id>" in f for c in checks.values() for f in c["fix"])
        assert checks["get"]["status"] == "ok"  # IMDSv1 answers: that is how doctor read the id


def test_boto_dropin_warns_once_where_botocore_says_nothing(lab: Lab) -> None:
    """Tokens required, hop limit 1: the drop-in warns once with the fix; botocore is silent."""
    with lab.serve(http_tokens="required"):
        lab.hop_limit(1)
        ours = lab.container.probe("boto", {"calls": 3})
        theirs = lab.container.probe("botocore", {"calls": 1})
    assert not ours["ok"]  # nothing works until the hop limit is raised
    assert not theirs["ok"]
    warnings = [w for w in ours["warnings"] if w.startswith("imdsclient")]
    assert len(warnings) == 1
    assert ": WARNING: " in warnings[0]
    assert HOP_LIMIT_FIX in warnings[0]
    assert theirs["warnings"] == []


def test_long_lived_client_probes_the_token_again_only_after_an_hour(lab: Lab) -> None:
    """A long-lived client in a hop-limited container sends one PUT per hour, not per 300 s."""
    with lab.serve() as imds:
        lab.hop_limit(1)
        answer = lab.container.probe("longlived", {"at": [0, 301, 1800, 3599, 3601]})
        assert answer["ok"]
        assert len(_puts(imds.log())) == 2  # at 0 s and at 3601 s
