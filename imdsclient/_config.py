"""Configuration: where IMDS is, how patient to be, and where each value came from.

``IMDSConfig`` is a frozen stdlib dataclass, not a pydantic model, so that
``python -m imdsclient get instance-id`` does not pay pydantic's import cost.  The module imports
only the standard library; ``configparser`` and ``ipaddress`` are imported only when needed.

Precedence, per setting: explicit argument > environment variable > ``~/.aws/config`` profile >
default, the same names and meanings botocore uses.  Every invalid value raises
:class:`~imdsclient.errors.ConfigError` naming the setting, the value and where it came from.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from imdsclient.errors import ConfigError

__all__ = ["IMDSConfig"]

_DEFAULT_ENDPOINTS = {"IPv4": "http://169.254.169.254", "IPv6": "http://[fd00:ec2::254]"}
_MAX_TOKEN_TTL = 21600

#: Setting → environment variable.  ``token_ttl`` has none (botocore has none either).
_ENV_VARS = {
    "disabled": "AWS_EC2_METADATA_DISABLED",
    "endpoint": "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "endpoint_mode": "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "v1_fallback": "AWS_EC2_METADATA_V1_DISABLED",
    "timeout": "AWS_METADATA_SERVICE_TIMEOUT",
    "num_attempts": "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    "instance_profile_name": "AWS_EC2_INSTANCE_PROFILE_NAME",
}

#: Setting → key in the ``~/.aws/config`` profile; ``disabled`` is environment-only (botocore).
_FILE_KEYS = {
    "endpoint": "ec2_metadata_service_endpoint",
    "endpoint_mode": "ec2_metadata_service_endpoint_mode",
    "v1_fallback": "ec2_metadata_v1_disabled",
    "timeout": "metadata_service_timeout",
    "num_attempts": "metadata_service_num_attempts",
    "instance_profile_name": "ec2_instance_profile_name",
}

# The names IMDS lists under iam/security-credentials/ (IAM role names): letters, digits, +=,.@_-
_PROFILE_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-"
)
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


class _Invalid(Exception):
    """Internal: a value is invalid for this reason; turned into ConfigError with the context."""


# --- validators: typed value (argument, or already parsed text) → normalised value ---------------


def _check_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid("expected True or False")


def _check_endpoint(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("expected a URL string such as 'http://169.254.169.254'")
    url = value.strip()
    if not url:
        raise _Invalid("empty; leave it unset to choose the endpoint by endpoint_mode")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise _Invalid("contains whitespace or control characters")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise _Invalid("must be an absolute URL starting with http:// or https://")
    if "?" in rest or "#" in rest:
        raise _Invalid("must not have a query string or fragment")
    netloc, _, path = rest.partition("/")
    if path:
        raise _Invalid("must not have a path; the client adds /latest/... itself")
    if "@" in netloc:
        raise _Invalid("must not contain user information (user@host)")
    _check_netloc(netloc)
    return f"{scheme.lower()}://{netloc}"


def _check_netloc(netloc: str) -> None:
    """Host (DNS name, IPv4, or bracketed IPv6 literal) and an optional numeric port."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise _Invalid("unterminated IPv6 literal (missing ']')")
        import ipaddress  # lazily: only IPv6 endpoints pay for it

        try:
            ipaddress.IPv6Address(netloc[1:end])
        except ValueError:
            raise _Invalid(f"{netloc[1:end]!r} is not an IPv6 address") from None
        after = netloc[end + 1 :]
        if after and not after.startswith(":"):
            raise _Invalid("unexpected text after the IPv6 literal")
        port = after[1:] if after else None
    else:
        if netloc.count(":") > 1:
            raise _Invalid("an IPv6 address must be in brackets, e.g. http://[fd00:ec2::254]")
        host, colon, port_text = netloc.partition(":")
        port = port_text if colon else None
        if not host:
            raise _Invalid("has no host")
        if not set(host) <= _HOST_CHARS or host[0] in ".-" or ".." in host:
            raise _Invalid(f"{host!r} is not a valid host name or IPv4 address")
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise _Invalid(f"port {port!r} is not a number in 1..65535")


def _check_endpoint_mode(value: object) -> str:
    if isinstance(value, str):
        for mode in _DEFAULT_ENDPOINTS:
            if value.strip().lower() == mode.lower():
                return mode
    raise _Invalid("expected 'IPv4' or 'IPv6' (case-insensitive)")


def _check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid("expected a number of seconds, such as 1.5")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        raise _Invalid("must be a finite number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise _Invalid("must be a finite number of seconds greater than 0")
    return seconds


def _check_num_attempts(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("expected a whole number, such as 3")
    if value < 1:
        raise _Invalid("must be at least 1 (1 means no retries)")
    return value


def _check_token_ttl(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("expected a whole number of seconds, such as 21600")
    if not 1 <= value <= _MAX_TOKEN_TTL:
        raise _Invalid(f"must be between 1 and {_MAX_TOKEN_TTL} seconds (IMDS's limits)")
    return value


def _check_profile_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("expected a name such as 'my-instance-role'")
    name = value.strip()
    if not name:
        raise _Invalid("empty; leave it unset to discover the name from IMDS")
    if len(name) > 128 or not set(name) <= _PROFILE_NAME_CHARS or name in (".", ".."):
        raise _Invalid("must be the name IMDS lists (letters, digits and +=,.@_-, at most 128)")
    return name


_VALIDATORS: dict[str, Callable[[object], object]] = {
    "disabled": _check_bool,
    "endpoint": _check_endpoint,
    "endpoint_mode": _check_endpoint_mode,
    "v1_fallback": _check_bool,
    "timeout": _check_timeout,
    "num_attempts": _check_num_attempts,
    "token_ttl": _check_token_ttl,
    "instance_profile_name": _check_profile_name,
    "extended_credentials": _check_bool,
}

# --- parsers: text from the environment or the config file → typed value ------------------------


def _parse_bool(text: str) -> bool:
    # Only true/false, as botocore; botocore silently reads anything else as false, we refuse it.
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise _Invalid("expected true or false")


def _parse_v1_disabled(text: str) -> bool:
    try:
        return not _parse_bool(text)
    except _Invalid:
        raise _Invalid("expected true or false (true turns the IMDSv1 fallback off)") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _Invalid("expected a number of seconds, such as 1.5") from None


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Invalid("expected a whole number, such as 3") from None


_PARSERS: dict[str, Callable[[str], object]] = {
    "disabled": _parse_bool,
    "endpoint": str,
    "endpoint_mode": str,
    "v1_fallback": _parse_v1_disabled,
    "timeout": _parse_float,
    "num_attempts": _parse_int,
    "instance_profile_name": str,
}


def _validate(name: str, value: object, source: str) -> object:
    try:
        return _VALIDATORS[name](value)
    except _Invalid as exc:
        raise ConfigError(name, value, source, str(exc)) from None


def _from_text(name: str, text: str, source: str) -> object:
    """Parse and validate a string from the environment or the file; errors quote the raw text."""
    try:
        return _VALIDATORS[name](_PARSERS[name](text.strip()))
    except _Invalid as exc:
        raise ConfigError(name, text, source, str(exc)) from None


def _load_profile(env: Mapping[str, str]) -> tuple[Mapping[str, str], str] | None:
    """The profile's options and a "path [section]" label, or None when there is no such profile.

    A missing file or profile is normal (most machines have neither); a file that exists but
    cannot be read or parsed is an error, because silently ignoring it hides the user's settings.
    """
    configured = env.get("AWS_CONFIG_FILE", "").strip()
    origin = "environment variable AWS_CONFIG_FILE" if configured else "default"
    path = os.path.expanduser(configured or os.path.join("~", ".aws", "config"))
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError("config file", path, origin, f"cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("config file", path, origin, "is not UTF-8 text") from None
    if not text.strip():  # empty (e.g. AWS_CONFIG_FILE=/dev/null): no profile, nothing to parse
        return None

    import configparser  # lazily: often nothing comes from the file

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError("config file", path, origin, f"cannot be parsed: {reason}") from None

    profile = (env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default").strip()
    section = _find_section(parser.sections(), profile)
    if section is None:
        return None
    return dict(parser.items(section)), f"{path} [{section}]"


def _find_section(sections: list[str], profile: str) -> str | None:
    """``[default]`` for the default profile, otherwise ``[profile NAME]``; never a bare ``[NAME]``.

    This is botocore's rule: a bare ``[NAME]`` in the config file is not a profile (that is the
    credentials-file format), so honouring it here would diverge from the AWS CLI and SDKs.
    ``[profile default]`` is accepted when there is no ``[default]``.
    """
    if profile == "default" and "default" in sections:
        return "default"
    for section in sections:
        kind, _, name = section.partition(" ")
        if kind == "profile" and name.strip().strip('"') == profile:
            return section
    return None


def _check_override_names(method: str, names: Mapping[str, object]) -> None:
    for name in names:
        if name not in _VALIDATORS:
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")


@dataclass(frozen=True)
class IMDSConfig:
    """Everything a client needs to know before its first request; immutable and hashable.

    Build it with :meth:`from_environment` to honour the AWS environment variables and config file
    the way botocore does, or directly for full control.  ``sources`` records where each value
    came from (``"default"``, ``"argument"``, ``"environment variable …"``, ``"<file> [section]
    key"``) so ``doctor`` and error messages can say why a value is what it is.
    """

    disabled: bool = False
    endpoint: str | None = None
    endpoint_mode: str = "IPv4"
    v1_fallback: bool = True
    timeout: float = 1.0
    num_attempts: int = 3
    token_ttl: int = 21600
    #: The name under ``iam/security-credentials/`` to read credentials from; when set, the role
    #: is not discovered (no listing request), as the AWS SDKs do with the same setting.
    instance_profile_name: str | None = None
    #: Read credentials from ``iam/security-credentials-extended/`` (which adds ``AccountId``),
    #: falling back to the classic folder where IMDS has no such folder (404).
    extended_credentials: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Validate and normalise every field, so a config that exists is a config that works."""
        given = dict(self.sources)
        sources: dict[str, str] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = _validate(f.name, getattr(self, f.name), given.get(f.name, "argument"))
            object.__setattr__(self, f.name, value)
            # Direct construction cannot tell an explicit default from an omitted one.
            sources[f.name] = given.get(f.name) or ("default" if value == f.default else "argument")
        object.__setattr__(self, "sources", sources)

    @property
    def base_url(self) -> str:
        """Where requests go: ``endpoint`` when set (it wins over the mode), else the mode's."""
        return (
            self.endpoint if self.endpoint is not None else _DEFAULT_ENDPOINTS[self.endpoint_mode]
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> IMDSConfig:
        """Resolve each setting: override (not None) > environment > config-file profile > default.

        ``env`` defaults to ``os.environ``; it is also where ``AWS_CONFIG_FILE``, ``AWS_PROFILE``
        and ``AWS_DEFAULT_PROFILE`` are read.  Empty environment variables and empty file values
        count as unset.  The file is read only if some setting is still unresolved.
        """
        _check_override_names("from_environment", overrides)
        environ: Mapping[str, str] = os.environ if env is None else env
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        pending: list[str] = []
        for name in _VALIDATORS:
            override = overrides.get(name)
            var = _ENV_VARS.get(name)
            text = environ.get(var, "") if var else ""
            if override is not None:
                values[name], sources[name] = override, "argument"
            elif text.strip():
                source = f"environment variable {var}"
                values[name], sources[name] = _from_text(name, text, source), source
            elif name in _FILE_KEYS:
                pending.append(name)
            else:
                sources[name] = "default"
        profile = _load_profile(environ) if pending else None
        for name in pending:
            key = _FILE_KEYS[name]
            if profile is not None and profile[0].get(key, "").strip():
                source = f"{profile[1]} {key}"
                values[name], sources[name] = _from_text(name, profile[0][key], source), source
            else:
                sources[name] = "default"
        return cls(**values, sources=sources)

    def replace(self, **overrides: Any) -> IMDSConfig:
        """A copy with these settings changed (None keeps the current value), marked "argument"."""
        _check_override_names("replace", overrides)
        changes = {name: value for name, value in overrides.items() if value is not None}
        sources = {**self.sources, **dict.fromkeys(changes, "argument")}
        return dataclasses.replace(self, **changes, sources=sources)

    def describe(self) -> list[tuple[str, object, str]]:
        """(setting, value, source) for every setting and the resolved ``base_url`` (``doctor``)."""
        rows: list[tuple[str, object, str]] = [
            (name, getattr(self, name), self.sources.get(name, "default")) for name in _VALIDATORS
        ]
        if self.endpoint is not None:
            url_source = self.sources.get("endpoint", "argument")
        else:
            url_source = (
                f"derived from endpoint_mode ({self.sources.get('endpoint_mode', 'default')})"
            )
        rows.append(("base_url", self.base_url, url_source))
        return rows
