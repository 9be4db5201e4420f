"""Bytes from IMDS in, typed models out; every failure is an ``imdsclient.errors`` error.

Pure functions, so the client shells and the simulator's tests share one parsing path and the
property tests can throw arbitrary bytes at them.  Nothing here ever lets ``UnicodeDecodeError``,
``json.JSONDecodeError`` or pydantic's ``ValidationError`` escape: callers catch ``IMDSError``
and nothing else.  Error messages name fields, never values, because a credentials document with
one malformed field still holds a secret in the others.
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ._models import (
    IAMCredentials,
    IAMInfo,
    InstanceIdentityDocument,
    RebalanceRecommendation,
    ScheduledEvent,
    SpotInstanceAction,
    validation_summary,
)
from .errors import HINTS, CredentialsError, IMDSError

__all__ = [
    "parse_credentials",
    "parse_iam_info",
    "parse_identity",
    "parse_public_keys_listing",
    "parse_rebalance",
    "parse_scheduled_events",
    "parse_spot_action",
]

_IDENTITY_PATH = "/latest/dynamic/instance-identity/document"
_IAM_INFO_PATH = "/latest/meta-data/iam/info"
_CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
_SPOT_PATH = "/latest/meta-data/spot/instance-action"
_REBALANCE_PATH = "/latest/meta-data/events/recommendations/rebalance"
_EVENTS_PATH = "/latest/meta-data/events/maintenance/scheduled"
_PUBLIC_KEYS_PATH = "/latest/meta-data/public-keys/"

_SUCCESS = "Success"
_MAX_DETAIL = 300
_KEY_ENTRY = re.compile(r"([0-9]{1,9})=(.+)")

_M = TypeVar("_M", bound=BaseModel)


def _bad(what: str, problem: str, path: str | None, *, credentials: bool = False) -> IMDSError:
    """An error for an unusable answer; credentials get their own class so callers can tell."""
    message = f"Unusable {what} from IMDS: {problem}"
    if credentials:
        return CredentialsError(message, path=path, hint=HINTS["bad_response"])
    return IMDSError(message, path=path, hint=HINTS["bad_response"])


def _decode(body: bytes, what: str, path: str | None, *, credentials: bool = False) -> str:
    """IMDS speaks UTF-8; anything else means something else answered."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(what, "not UTF-8 text", path, credentials=credentials) from None


def _load_json(body: bytes, what: str, path: str | None, *, credentials: bool = False) -> object:
    """Decode and parse JSON, reporting the position of a syntax error but never the text."""
    text = _decode(body, what, path, credentials=credentials)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except (ValueError, RecursionError):  # over-long integers, absurd nesting
        problem = "not usable JSON"
    raise _bad(what, problem, path, credentials=credentials) from None


def _json_kind(value: object) -> str:
    """Name a JSON value's type the way the JSON spec does, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _load_object(
    body: bytes, what: str, path: str | None, *, credentials: bool = False
) -> dict[str, object]:
    """Parse a JSON document that must be an object."""
    value = _load_json(body, what, path, credentials=credentials)
    if not isinstance(value, dict):
        problem = f"{_json_kind(value)} where a JSON object was expected"
        raise _bad(what, problem, path, credentials=credentials)
    return value


def _validate(
    model: type[_M], data: object, what: str, path: str | None, *, credentials: bool = False
) -> _M:
    """Validate, turning pydantic's error (which quotes input values) into a field summary."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem = f"not the documented shape ({validation_summary(exc)})"
        raise _bad(what, problem, path, credentials=credentials) from None


def _failure_code(
    document: dict[str, object], what: str, path: str | None
) -> CredentialsError | None:
    """IMDS reports IAM trouble as ``"Code": "<not Success>"`` with a 200 status."""
    code = document.get("Code")
    if code is None or code == _SUCCESS:
        return None
    message = document.get("Message")
    detail = message[:_MAX_DETAIL] if isinstance(message, str) else None
    code_text = code[:_MAX_DETAIL] if isinstance(code, str) else None
    summary = f"IMDS reported {what} as unavailable: Code {code_text or _json_kind(code)}"
    if detail:
        summary += f" ({detail.rstrip('.')})"
    return CredentialsError(
        summary, path=path, hint=HINTS["credentials"], code=code_text, detail=detail
    )


def parse_identity(body: bytes, *, path: str = _IDENTITY_PATH) -> InstanceIdentityDocument:
    """Parse the instance identity document."""
    what = "instance identity document"
    return _validate(InstanceIdentityDocument, _load_object(body, what, path), what, path)


def parse_iam_info(body: bytes, *, path: str = _IAM_INFO_PATH) -> IAMInfo:
    """Parse ``iam/info``; a ``Code`` other than ``Success`` raises :class:`CredentialsError`."""
    what = "IAM instance profile information"
    document = _load_object(body, what, path)
    failure = _failure_code(document, what, path)
    if failure is not None:
        raise failure
    return _validate(IAMInfo, document, what, path)


def parse_credentials(body: bytes, *, role: str, path: str | None = None) -> IAMCredentials:
    """Parse ``iam/security-credentials/<role>``, injecting ``role_name``.

    Every failure is a :class:`CredentialsError`: unusable bytes or JSON, a missing or malformed
    field, or a ``Code`` other than ``Success`` (then ``.code`` and ``.detail``, the document's
    ``Message``, are set).  No message ever contains the secret key or the token.
    """
    if path is None:
        path = _CREDENTIALS_PATH + role
    what = f"credentials for role {role!r}"
    document = _load_object(body, what, path, credentials=True)
    failure = _failure_code(document, what, path)
    if failure is not None:
        raise failure
    return _validate(IAMCredentials, {**document, "role_name": role}, what, path, credentials=True)


def parse_spot_action(body: bytes, *, path: str = _SPOT_PATH) -> SpotInstanceAction:
    """Parse ``spot/instance-action``: ``{"action": "terminate", "time": "…Z"}``."""
    what = "Spot instance action"
    return _validate(SpotInstanceAction, _load_object(body, what, path), what, path)


def parse_rebalance(body: bytes, *, path: str = _REBALANCE_PATH) -> RebalanceRecommendation:
    """Parse ``events/recommendations/rebalance``: ``{"noticeTime": "…Z"}``."""
    what = "rebalance recommendation"
    return _validate(RebalanceRecommendation, _load_object(body, what, path), what, path)


def parse_scheduled_events(body: bytes, *, path: str = _EVENTS_PATH) -> list[ScheduledEvent]:
    """Parse ``events/maintenance/scheduled``, a JSON array; an empty body means no events."""
    what = "scheduled events"
    if not _decode(body, what, path).strip():
        return []
    value = _load_json(body, what, path)
    if not isinstance(value, list):
        raise _bad(what, f"{_json_kind(value)} where a JSON array was expected", path)
    return [
        _validate(ScheduledEvent, item, f"scheduled event #{index}", path)
        for index, item in enumerate(value)
    ]


def parse_public_keys_listing(
    body: bytes, *, path: str = _PUBLIC_KEYS_PATH
) -> list[tuple[int, str]]:
    """Parse the ``public-keys/`` listing, ``0=name`` per line, into ``(index, name)`` pairs."""
    what = "public key listing"
    keys: list[tuple[int, str]] = []
    for line in _decode(body, what, path).split("\n"):
        entry = line.strip().rstrip("/")
        if not entry:
            continue
        match = _KEY_ENTRY.fullmatch(entry)
        if match is None:
            raise _bad(what, f"entry #{len(keys)} is not in the form index=name", path)
        keys.append((int(match.group(1)), match.group(2)))
    return keys
