"""Where this process runs, as far as IMDS is concerned: read from environment variables only.

On some AWS compute IMDS is the wrong place to look.  AWS Lambda and AWS Fargate have no IMDS.
Amazon ECS tasks and Amazon EKS pods usually have credentials of their own (a task role, EKS
Pod Identity, IAM roles for service accounts), which AWS SDKs find before IMDS; IMDS there, when
it answers at all, belongs to the host and serves the *node's* role, which would silently stand
in for the workload's.  :func:`detect` names the environment from the variables AWS sets:

==========================  ===================================================================
environment                 variables
==========================  ===================================================================
AWS Lambda                  ``AWS_LAMBDA_FUNCTION_NAME`` (or ``AWS_EXECUTION_ENV=AWS_Lambda_*``)
EKS Pod Identity            ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` at the agent, 169.254.170.23
                            or ``[fd00:ec2::23]``
EKS IRSA (web identity)     ``AWS_WEB_IDENTITY_TOKEN_FILE`` (with ``AWS_ROLE_ARN``)
AWS Fargate / Amazon ECS    ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``,
                            ``ECS_CONTAINER_METADATA_URI_V4`` / ``ECS_CONTAINER_METADATA_URI``;
                            Fargate when ``AWS_EXECUTION_ENV=AWS_ECS_FARGATE``
container credentials       ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` elsewhere
==========================  ===================================================================

Pure: a mapping in, an :class:`Environment` (or ``None``) out.  Only variable *names* are
reported (plus ``AWS_EXECUTION_ENV``, which holds no secret): a value such as
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` must never reach a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Environment", "connection_hint", "detect", "doctor_lines"]

_POD_IDENTITY_HOSTS = ("169.254.170.23", "[fd00:ec2::23]")
_ECS_METADATA = ("ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI")
_SDK_FIRST = "which AWS SDKs use before IMDS"


@dataclass(frozen=True)
class Environment:
    """One recognised environment and what it means for IMDS."""

    #: ``lambda``, ``fargate``, ``ecs``, ``eks-pod-identity``, ``eks-irsa`` or ``container``.
    key: str
    #: A name for people, e.g. ``"Amazon EKS with IAM roles for service accounts"``.
    name: str
    #: The variables that gave it away (names only).
    markers: tuple[str, ...]
    #: False where there is no IMDS at all (Lambda, Fargate).
    has_imds: bool
    #: Where the workload's own credentials come from, if it has any configured.
    own_credentials: str | None
    #: One or two sentences: what this means for IMDS and its credentials.
    meaning: str

    def describe(self) -> str:
        """``name (MARKER, MARKER)``."""
        return f"{self.name} ({', '.join(self.markers)})"

    def connection_hint(self, default: str) -> str:
        """The hint for a connection error here, instead of (or after) ``default``."""
        if self.has_imds and self.own_credentials is None:
            return f"{default} This looks like {self.describe()}: {self.meaning}"
        return (
            f"This looks like {self.describe()}: {self.meaning} "
            "Run `python -m imdsclient doctor` for details."
        )


def _set(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def _lambda(env: Mapping[str, str]) -> Environment | None:
    execution = env.get("AWS_EXECUTION_ENV", "").strip()
    if _set(env, "AWS_LAMBDA_FUNCTION_NAME"):
        markers: tuple[str, ...] = ("AWS_LAMBDA_FUNCTION_NAME",)
    elif execution.startswith("AWS_Lambda_"):
        markers = (f"AWS_EXECUTION_ENV={execution}",)
    else:
        return None
    own = "the function's execution role, in AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN"
    return Environment(
        "lambda",
        "AWS Lambda",
        markers,
        has_imds=False,
        own_credentials=own,
        meaning=f"Lambda has no IMDS. Credentials come from {own}, {_SDK_FIRST}.",
    )


def _pod_identity(env: Mapping[str, str]) -> Environment | None:
    uri = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "").strip().lower()
    host = uri.partition("://")[2].split("/", 1)[0]
    if not any(host == h or host.startswith(h + ":") for h in _POD_IDENTITY_HOSTS):
        return None
    own = "the EKS Pod Identity agent (AWS_CONTAINER_CREDENTIALS_FULL_URI)"
    return Environment(
        "eks-pod-identity",
        "Amazon EKS with Pod Identity",
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
        has_imds=True,
        own_credentials=own,
        meaning=(
            f"the pod's credentials come from {own}, {_SDK_FIRST}. IMDS, if the node lets the "
            "pod reach it, serves the node's role, not the pod's."
        ),
    )


def _irsa(env: Mapping[str, str]) -> Environment | None:
    if not _set(env, "AWS_WEB_IDENTITY_TOKEN_FILE"):
        return None
    markers = tuple(n for n in ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN") if _set(env, n))
    own = "a web identity token exchanged for AWS_ROLE_ARN (sts:AssumeRoleWithWebIdentity)"
    return Environment(
        "eks-irsa",
        "Amazon EKS with IAM roles for service accounts",
        markers,
        has_imds=True,
        own_credentials=own,
        meaning=(
            f"the pod's credentials come from {own}, {_SDK_FIRST}. IMDS, if the node lets the "
            "pod reach it, serves the node's role, not the pod's."
        ),
    )


def _ecs(env: Mapping[str, str]) -> Environment | None:
    names = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    markers = tuple(n for n in (*names, *_ECS_METADATA) if _set(env, n))
    execution = env.get("AWS_EXECUTION_ENV", "").strip()
    fargate = execution == "AWS_ECS_FARGATE"
    # The full URI alone is not ECS (Greengrass, custom endpoints): see _container.
    if markers in ((), (names[1],)) and not fargate:
        return None
    if execution.startswith("AWS_ECS"):
        markers = (f"AWS_EXECUTION_ENV={execution}", *markers)
    role = next((n for n in names if _set(env, n)), None)
    own = f"the task role (the container credentials endpoint, {role})" if role else None
    metadata = next((m for m in _ECS_METADATA if _set(env, m)), None)
    where = f" Task metadata is at ${metadata}." if metadata else ""
    if fargate:
        found = own or "nowhere: the task has no task role"
        meaning = f"Fargate has no IMDS. Credentials come from {found}, {_SDK_FIRST}.{where}"
        return Environment("fargate", "AWS Fargate", markers, False, own, meaning)
    if own is not None:
        meaning = (
            f"the task's credentials come from {own}, {_SDK_FIRST}. IMDS, if the task can reach "
            f"it, serves the container instance's role, not the task's.{where}"
        )
    else:
        meaning = (
            "the task has no task role, so AWS SDKs fall back to IMDS and the container "
            "instance's role, unless ECS blocks IMDS for tasks (awsvpc network mode with "
            f"ECS_AWSVPC_BLOCK_IMDS=true on the container instance).{where}"
        )
    return Environment("ecs", "Amazon ECS", markers, True, own, meaning)


def _container(env: Mapping[str, str]) -> Environment | None:
    if not _set(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return None
    own = "that endpoint"
    return Environment(
        "container",
        "a container credentials endpoint",
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
        has_imds=True,
        own_credentials=own,
        meaning=(
            f"this process's credentials come from {own}, {_SDK_FIRST}; IMDS would serve the "
            "host's role instead."
        ),
    )


def detect(env: Mapping[str, str]) -> Environment | None:
    """The environment ``env`` describes, or ``None`` (EC2 itself, or not on AWS at all)."""
    for probe in (_lambda, _pod_identity, _irsa, _ecs, _container):
        found = probe(env)
        if found is not None:
            return found
    return None


def doctor_lines(env: Mapping[str, str]) -> list[str]:
    """What ``doctor`` check 1 shows about the environment (evidence lines)."""
    found = detect(env)
    if found is None:
        return ["environment: no Lambda, ECS or EKS variables (EC2, or not on AWS)"]
    return [f"environment: {found.describe()}", f"meaning: {found.meaning}"]


def connection_hint(key: str = "connect", env: Mapping[str, str] | None = None) -> str:
    """``HINTS[key]``, unless the environment says IMDS is absent here or the wrong source.

    On AWS Lambda, AWS Fargate, Amazon ECS and Amazon EKS firewall advice misleads: the hint
    names the environment and where its credentials come from instead.  ``env`` defaults to
    ``os.environ``.  Connection errors get their default hint here.
    """
    import os

    from imdsclient.errors import HINTS

    found = detect(os.environ if env is None else env)
    return HINTS[key] if found is None else found.connection_hint(HINTS[key])
