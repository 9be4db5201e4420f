"""Which AWS environment the variables describe, and what that does to hints and doctor (#16)."""

from __future__ import annotations

import pytest

from imdsclient import IMDSConnectionError, IMDSTimeoutError
from imdsclient._environment import connection_hint, detect, doctor_lines
from imdsclient.errors import HINTS

SECRET_TOKEN = "pod-identity-authorization-token-SECRET"
FARGATE = {
    "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/0a1b2c",
    "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/0a1b2c",
}
POD_IDENTITY = {
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": SECRET_TOKEN,
}
IRSA = {
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/pod-role",
}


@pytest.mark.parametrize(
    ("env", "key", "has_imds", "own"),
    [
        ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, "lambda", False, True),
        ({"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"}, "lambda", False, True),
        (FARGATE, "fargate", False, True),
        ({"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}, "fargate", False, False),
        (
            {**FARGATE, "AWS_EXECUTION_ENV": "AWS_ECS_EC2"},
            "ecs",
            True,
            True,
        ),
        ({"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}, "ecs", True, False),
        ({"ECS_CONTAINER_METADATA_URI": "http://169.254.170.2/v3/x"}, "ecs", True, False),
        (POD_IDENTITY, "eks-pod-identity", True, True),
        (
            {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://[fd00:ec2::23]:80/v1/c"},
            "eks-pod-identity",
            True,
            True,
        ),
        (IRSA, "eks-irsa", True, True),
        (
            {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:51679/creds"},
            "container",
            True,
            True,
        ),
    ],
)
def test_each_environment_is_recognised(
    env: dict[str, str], key: str, has_imds: bool, own: bool
) -> None:
    """The variables AWS sets name the environment, whether IMDS exists, and own credentials."""
    found = detect(env)
    assert found is not None
    assert (found.key, found.has_imds, found.own_credentials is not None) == (key, has_imds, own)
    assert found.meaning.endswith(".")


@pytest.mark.parametrize(
    "env",
    [{}, {"AWS_REGION": "eu-west-1"}, {"AWS_LAMBDA_FUNCTION_NAME": "  "}, {"HOME": "/root"}],
)
def test_plain_ec2_or_off_aws_is_none(env: dict[str, str]) -> None:
    """Nothing recognisable (or blank variables): EC2 itself, or not on AWS."""
    assert detect(env) is None


def test_lambda_wins_over_container_variables() -> None:
    """Lambda sets several variables; it is reported as Lambda, not as a container."""
    found = detect({"AWS_LAMBDA_FUNCTION_NAME": "f", **IRSA})
    assert found is not None
    assert found.key == "lambda"


def test_values_are_never_reported() -> None:
    """Only variable names (and AWS_EXECUTION_ENV) appear: a token value never does."""
    for env in (POD_IDENTITY, FARGATE, IRSA):
        text = " ".join(doctor_lines(env)) + connection_hint("connect", env)
        assert SECRET_TOKEN not in text
        assert "0a1b2c" not in text
        assert "pod-role" not in text


def test_connection_hint_replaces_firewall_advice_where_imds_is_wrong() -> None:
    """Fargate, Lambda, EKS: no iptables advice; the environment and its credentials instead."""
    for env in (FARGATE, POD_IDENTITY, IRSA, {"AWS_LAMBDA_FUNCTION_NAME": "f"}):
        hint = connection_hint("connect", env)
        assert "iptables" not in hint
        assert "This looks like" in hint
        assert "doctor" in hint
    assert "has no IMDS" in connection_hint("connect", FARGATE)
    assert "node's role" in connection_hint("timeout", IRSA)


def test_connection_hint_adds_to_the_advice_where_imds_may_be_right() -> None:
    """An ECS task without a task role may use IMDS: the usual advice, then what ECS may block."""
    hint = connection_hint("connect", {"ECS_CONTAINER_METADATA_URI_V4": "http://x"})
    assert hint.startswith(HINTS["connect"])
    assert "ECS_AWSVPC_BLOCK_IMDS" in hint
    assert connection_hint("connect", {}) == HINTS["connect"]


def test_connection_errors_take_their_hint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IMDSConnectionError / IMDSTimeoutError without a hint describe Fargate there."""
    assert IMDSConnectionError("x").hint == HINTS["connect"]
    for name, value in FARGATE.items():
        monkeypatch.setenv(name, value)
    for cls in (IMDSConnectionError, IMDSTimeoutError):
        error = cls("IMDS connection failed for /latest/api/token")
        assert "Fargate has no IMDS" in str(error)
        assert "iptables" not in str(error)
    assert IMDSConnectionError("x", hint="explicit").hint == "explicit"


def test_doctor_lines() -> None:
    """Check 1's evidence: the environment and what it means, or that none was recognised."""
    assert doctor_lines({}) == ["environment: no Lambda, ECS or EKS variables (EC2, or not on AWS)"]
    lines = doctor_lines(IRSA)
    assert lines[0] == (
        "environment: Amazon EKS with IAM roles for service accounts "
        "(AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
    )
    assert lines[1].startswith("meaning: the pod's credentials come from a web identity token")
