"""Every failure imdsclient can raise, and what to do about it.

The hierarchy (``tests/test_errors.py`` checks this drawing against the code)::

    IMDSError
    ├── IMDSDisabledError
    ├── EndpointDisabledError
    ├── BadRequestError
    ├── UnauthorizedError
    ├── MetadataNotFoundError
    ├── ThrottledError
    ├── IMDSConnectionError
    │   └── IMDSTimeoutError
    ├── CredentialsError
    ├── IdentityVerificationError
    └── InvalidPathError

Each error carries ``.status`` (the HTTP status, or ``None``), ``.path`` (the IMDS path) and
``.hint`` (the fix).  ``str(error)`` is "what happened. what to do."  The hints live in one table,
:data:`HINTS`, so the docs, the CLI and ``doctor`` quote the same text.

Configuration mistakes are not ``IMDSError``: they raise :class:`ConfigError`, a ``ValueError``.
A path that can never be an IMDS path raises :class:`InvalidPathError`, which is both.
"""

from __future__ import annotations

__all__ = [
    "HINTS",
    "BadRequestError",
    "ConfigError",
    "CredentialsError",
    "EndpointDisabledError",
    "IMDSConnectionError",
    "IMDSDisabledError",
    "IMDSError",
    "IMDSTimeoutError",
    "IdentityVerificationError",
    "InvalidPathError",
    "MetadataNotFoundError",
    "ThrottledError",
    "UnauthorizedError",
    "not_found_hint",
]

_MODIFY = "aws ec2 modify-instance-metadata-options --instance-id <instance-id>"

#: What to do, per situation.  Keys are stable; the values are quoted by docs, CLI and doctor.
HINTS: dict[str, str] = {
    "disabled": (
        "IMDS access was turned off on this side: unset AWS_EC2_METADATA_DISABLED "
        "(or set it to false) or stop passing disabled=True."
    ),
    "endpoint_disabled": (
        f"IMDS is disabled for this instance: enable it with `{_MODIFY} --http-endpoint enabled`."
    ),
    "bad_request": (
        "IMDS rejected the request as malformed; a proxy or something else between this process "
        "and IMDS may be rewriting it. Check with `python -m imdsclient doctor`."
    ),
    "unauthorized": (
        "IMDS refused the session token; the token may have expired or the instance requires "
        "IMDSv2. Check with `python -m imdsclient doctor`."
    ),
    "v1_refused": (
        "The instance requires IMDSv2 (HttpTokens=required) but no session token could be "
        "obtained. Inside a container the token response is usually dropped by the hop limit: "
        f"`{_MODIFY} --http-put-response-hop-limit 2`."
    ),
    "v1_disabled_no_token": (
        "The endpoint answers the token request with 404 or 405: it, or a proxy or firewall in "
        "between, does not issue IMDSv2 session tokens (IMDSv1 only), and IMDSv1 fallback is "
        "disabled (AWS_EC2_METADATA_V1_DISABLED / v1_fallback=False). Point the endpoint "
        "setting at IMDS itself, or allow IMDSv1 for it; `python -m imdsclient doctor` shows "
        "what answers."
    ),
    "hop_limit": (
        "The token request (PUT) got no answer while the endpoint is reachable: the response is "
        "dropped by the hop limit, typical inside containers. Fix: "
        f"`{_MODIFY} --http-put-response-hop-limit 2`."
    ),
    "not_found": (
        "Nothing exists at this path on this instance. List what exists with "
        "`python -m imdsclient ls` (folders end in `/`)."
    ),
    "throttled": (
        "IMDS is throttling this instance (1024 packets/s per network interface). Cache values "
        "you read often and spread requests out; `python -m imdsclient doctor` reads the "
        "linklocal_allowance_exceeded counter."
    ),
    "connect": (
        "Could not connect to IMDS. Off EC2 this is expected; on EC2 look for a local firewall "
        "rule rejecting 169.254.169.254 (`sudo iptables-save | grep 169.254.169.254` and "
        "`sudo nft list ruleset | grep 169.254.169.254`) or a wrong endpoint setting; proxies "
        "are bypassed by imdsclient. Run `python -m imdsclient doctor`."
    ),
    "connect_timeout": (
        "Nothing answered the connection request (a silent drop). Off EC2 this is expected; on "
        "EC2 look for a local firewall rule that DROPs traffic to 169.254.169.254 (`sudo "
        "iptables-save | grep 169.254.169.254` and `sudo nft list ruleset | grep "
        "169.254.169.254`): a longer AWS_METADATA_SERVICE_TIMEOUT does not help. Run `python -m "
        "imdsclient doctor`."
    ),
    "no_route": (
        "There is no network path to IMDS from here (no route, or host unreachable). Off EC2 "
        "this is expected; on EC2 the network may not be up yet, or a route or a firewall rule "
        "rejecting with icmp-host-unreachable is in the way: check `ip route get "
        "169.254.169.254`, `sudo iptables-save | grep 169.254.169.254` and `sudo nft list "
        "ruleset | grep 169.254.169.254`."
    ),
    "timeout": (
        "IMDS did not answer in time. Off EC2 this is expected; on EC2 raise "
        "AWS_METADATA_SERVICE_TIMEOUT or run `python -m imdsclient doctor`."
    ),
    "redirect": (
        "IMDS never redirects, so something else answered (a proxy or a captive portal). "
        "Check the endpoint setting and run `python -m imdsclient doctor`."
    ),
    "bad_response": (
        "IMDS answered with something imdsclient cannot use. Retry later; if it persists, "
        "run `python -m imdsclient doctor`."
    ),
    "too_large": (
        "The response exceeded the size limit; real IMDS answers are small, so something else "
        "is answering. Check the endpoint setting."
    ),
    "closed": (
        "Another thread or task closed the client while this call was in flight: close a "
        "client only after every call made with it has returned (e.g. `with IMDSClient() as "
        "imds:` around the work that uses it)."
    ),
    "credentials": (
        "The instance profile's credentials are unavailable: check the role attached with "
        "`aws ec2 describe-iam-instance-profile-associations` and its trust policy."
    ),
    "identity": (
        "Do not trust this identity. For a genuine instance, pass the document exactly as "
        "served (byte for byte) with its rsa2048 signature, and keep the bundled certificates "
        "current (`pip install -U 'imdsclient[verify]'`)."
    ),
    "verify_extra": (
        "Identity verification needs the optional dependencies: `pip install 'imdsclient[verify]'`."
    ),
    "expired_credentials": (
        "IMDS rotates role credentials at least 5 minutes before they expire, so expired ones "
        "mean a wrong clock or a stuck IMDS: check the system clock (`timedatectl status`, "
        "`chronyc tracking`), and for a mock such as amazon-ec2-metadata-mock the expiration "
        "it is configured to serve."
    ),
    "no_role": (
        "No IAM instance profile is attached to this instance: attach one with "
        "`aws ec2 associate-iam-instance-profile --instance-id <instance-id> "
        "--iam-instance-profile Name=<profile>`."
    ),
    # 404s of a known category (see not_found_hint): what the absence means, and the fix.
    "no_user_data": (
        "This instance has no user-data: it is given at launch (`aws ec2 run-instances "
        "--user-data file://<file>`) and can be changed while the instance is stopped "
        "(`aws ec2 modify-instance-attribute --instance-id <instance-id> --attribute userData "
        "--value file://<file>`)."
    ),
    "no_spot_notice": (
        "No Spot interruption is scheduled: IMDS serves spot/instance-action only about two "
        "minutes before EC2 stops or terminates a Spot Instance. Watch for it with "
        "`python -m imdsclient events --watch`."
    ),
    "no_rebalance": (
        "No rebalance recommendation: IMDS serves it only once EC2 sees an elevated risk of "
        "interruption for this Spot Instance. Watch for it with "
        "`python -m imdsclient events --watch`."
    ),
    "no_tags": (
        "Either the tag does not exist or instance tags are not allowed in metadata: allow them "
        f"with `{_MODIFY} --instance-metadata-tags enabled`, and list them with "
        "`python -m imdsclient tags`."
    ),
    "no_public_keys": (
        "The instance was launched without a key pair, so IMDS has no public-keys; "
        "give one at launch with `aws ec2 run-instances --key-name <key-pair>`."
    ),
    "invalid_path": (
        "Give a path such as `instance-id`, `placement/region` (both under /latest/meta-data/) "
        "or `/latest/user-data`."
    ),
}

#: Path prefixes (absolute, a whole segment) whose 404 has a HINTS entry of its own.
_NOT_FOUND_HINTS: tuple[tuple[str, str], ...] = (
    ("/latest/user-data", "no_user_data"),
    ("/latest/meta-data/iam", "no_role"),
    ("/latest/meta-data/spot", "no_spot_notice"),
    ("/latest/meta-data/events/recommendations/rebalance", "no_rebalance"),
    ("/latest/meta-data/tags", "no_tags"),
    ("/latest/meta-data/public-keys", "no_public_keys"),
)


def not_found_hint(path: str) -> str:
    """The hint for a 404 at ``path`` (absolute): the category's own when it has one."""
    for prefix, key in _NOT_FOUND_HINTS:
        if path == prefix or path.startswith(prefix + "/"):
            return HINTS[key]
    return HINTS["not_found"]


class IMDSError(Exception):
    """Base class of every failure talking to IMDS."""

    #: Situation key into :data:`HINTS` used when no hint is given explicitly.
    default_hint = "bad_response"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.path = path
        self.hint = hint if hint is not None else HINTS[self.default_hint]
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message.rstrip('.')}. {self.hint}" if self.hint else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, path={self.path!r})"
        )


class IMDSDisabledError(IMDSError):
    """IMDS access is switched off by configuration; no request was sent."""

    default_hint = "disabled"


class EndpointDisabledError(IMDSError):
    """IMDS answered 403: the endpoint is disabled for this instance."""

    default_hint = "endpoint_disabled"


class BadRequestError(IMDSError):
    """IMDS answered 400: the request was malformed (never retried)."""

    default_hint = "bad_request"


class UnauthorizedError(IMDSError):
    """IMDS answered 401 after a token refresh, or refused a request without a token."""

    default_hint = "unauthorized"


class MetadataNotFoundError(IMDSError, LookupError):
    """IMDS answered 404: no such category on this instance (never retried)."""

    default_hint = "not_found"


class ThrottledError(IMDSError):
    """IMDS kept answering 429/503 until the retries ran out."""

    default_hint = "throttled"


class IMDSConnectionError(IMDSError):
    """The endpoint could not be reached, or dropped the connection, after retries.

    Without an explicit ``hint``, the hint is the firewall and endpoint advice, or, on AWS
    Lambda, Fargate, ECS or EKS, what that environment means for IMDS instead
    (``imdsclient._environment.connection_hint``).
    """

    default_hint = "connect"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        if hint is None:
            from imdsclient._environment import connection_hint  # lazily: only on failures

            hint = connection_hint(self.default_hint)
        super().__init__(message, status=status, path=path, hint=hint)


class IMDSTimeoutError(IMDSConnectionError):
    """The endpoint did not answer in time."""

    default_hint = "timeout"


class CredentialsError(IMDSError):
    """IAM credentials are missing, malformed, or their ``Code`` is not ``Success``."""

    default_hint = "credentials"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        super().__init__(message, status=status, path=path, hint=hint)


class IdentityVerificationError(IMDSError):
    """An instance identity document or its signature did not verify (DESIGN §9).

    ``reason`` is a stable key for what failed (``"bad_signature"``, ``"content_mismatch"``,
    ``"unknown_signer"``...; the list is in ``docs/identity.md``); the message says what did not
    match.
    """

    default_hint = "identity"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
        reason: str = "invalid",
    ) -> None:
        self.reason = reason
        super().__init__(message, status=status, path=path, hint=hint)


class InvalidPathError(IMDSError, ValueError):
    """A path (or role name) that can never be an IMDS path; raised before anything is sent.

    Also a ``ValueError``, as a bad argument is.
    """

    default_hint = "invalid_path"


class ConfigError(ValueError):
    """A setting has an invalid value; names the setting and where the value came from."""

    def __init__(self, setting: str, value: object, source: str, reason: str) -> None:
        self.setting = setting
        self.value = value
        self.source = source
        self.reason = reason
        super().__init__(f"Invalid {setting} {value!r} (from {source}): {reason}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[object, ...]]:
        """Pickle with the constructor's arguments (the default passes only the message)."""
        return type(self), (self.setting, self.value, self.source, self.reason)
