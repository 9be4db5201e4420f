"""What every typed operation with a model shares: the pydantic base, UTC datetimes, and
turning bytes into a validated model where every failure is an ``imdsclient.errors`` error.

Models keep unknown fields (``extra="allow"``: AWS adds fields without notice), are frozen (a
cached value cannot be changed by one caller for all the others), and expose snake_case
attributes while accepting IMDS's own camelCase / PascalCase / kebab-case keys.  Datetimes are
always timezone-aware UTC.  Messages name fields, never values: a credentials document with one
malformed field still holds a secret in the others.

Importing this module imports pydantic, so only operations that build a model import it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from imdsclient.errors import HINTS, CredentialsError, IMDSError

__all__ = [
    "MAX_JSON_DEPTH",
    "IMDSModel",
    "UtcDatetime",
    "bad_answer",
    "decode",
    "failure_code",
    "format_utc",
    "json_kind",
    "load_json",
    "load_object",
    "validate",
    "validation_summary",
]

# "21 Jan 2026 09:00:00 GMT" (scheduled events), optionally with an RFC 1123 weekday prefix.
# Parsed by hand because strptime's %b depends on the process locale.
_IMDS_TIME = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+(?:GMT|UTC)",
    re.ASCII | re.IGNORECASE,
)


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


def _parse_imds_time(value: object) -> object:
    """Turn IMDS's ``21 Jan 2026 09:00:00 GMT`` into a datetime; leave anything else to pydantic."""
    if not isinstance(value, str):
        return value
    match = _IMDS_TIME.fullmatch(value.strip())
    if match is None:
        return value  # ISO 8601 and friends: pydantic's own datetime parsing
    day, month_name, year, hour, minute, second = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError("unknown month name")
    # Out-of-range parts raise ValueError, which pydantic reports as a validation error.
    return datetime(
        int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
    )


def _to_utc(value: datetime) -> datetime:
    """Naive means UTC (IMDS has no other zone); aware values are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00; pydantic only wraps ValueError
        raise ValueError("datetime out of range in UTC") from None


#: A datetime that is always timezone-aware UTC; accepts ISO 8601 and IMDS's event format.
UtcDatetime = Annotated[datetime, BeforeValidator(_parse_imds_time), AfterValidator(_to_utc)]


def format_utc(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: the form AWS SDKs and ``credential_process`` expect."""
    return _to_utc(value).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def validation_summary(exc: ValidationError, *, limit: int = 5) -> str:
    """Describe a ValidationError by field location and error kind only.

    pydantic's own ``str()`` quotes the offending input, which may be a secret (a credentials
    document with one malformed field still holds the other ones), so messages are built from
    this summary instead.
    """
    parts: list[str] = []
    errors = exc.errors(include_url=False)
    for error in errors[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "document"
        if len(where) > 80:
            where = where[:77] + "..."
        kind = error["type"]
        parts.append(
            f"missing field {where!r}" if kind == "missing" else f"invalid {where!r} [{kind}]"
        )
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


class IMDSModel(BaseModel):
    """Shared configuration: frozen, aliases accepted alongside field names, extras kept."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


# -- bytes to models --------------------------------------------------------------------------

_SUCCESS = "Success"


_MAX_DETAIL = 300


_M = TypeVar("_M", bound=BaseModel)


def bad_answer(
    what: str, problem: str, path: str | None, *, credentials: bool = False
) -> IMDSError:
    """An error for an unusable answer; credentials get their own class so callers can tell."""
    message = f"Unusable {what} from IMDS: {problem}"
    if credentials:
        return CredentialsError(message, path=path, hint=HINTS["bad_response"])
    return IMDSError(message, path=path, hint=HINTS["bad_response"])


def decode(body: bytes, what: str, path: str | None, *, credentials: bool = False) -> str:
    """IMDS speaks UTF-8; anything else means something else answered."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_answer(what, "not UTF-8 text", path, credentials=credentials) from None


#: IMDS documents nest two or three levels; anything past this is not IMDS, and past ~1000
#: levels pydantic's serializer gives up (``model_dump`` raising ``ValueError``).
MAX_JSON_DEPTH = 32


def load_json(body: bytes, what: str, path: str | None, *, credentials: bool = False) -> object:
    """Decode and parse JSON, reporting the position of a syntax error but never the text;
    nesting deeper than :data:`MAX_JSON_DEPTH` is refused."""
    text = decode(body, what, path, credentials=credentials)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except (ValueError, RecursionError):  # over-long integers, absurd nesting
        problem = "not usable JSON"
    else:
        if _depth_within(value, MAX_JSON_DEPTH):
            return value
        problem = f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    raise bad_answer(what, problem, path, credentials=credentials) from None


def _depth_within(value: object, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` arrays and objects deep (no recursion)."""
    level: list[object] = [value]
    for _ in range(limit + 1):  # each round looks one level deeper
        children: list[object] = []
        found = False
        for item in level:
            if isinstance(item, dict):
                found = True
                children.extend(item.values())
            elif isinstance(item, list):
                found = True
                children.extend(item)
        if not found:
            return True
        level = children
    return False


def json_kind(value: object) -> str:
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


def load_object(
    body: bytes, what: str, path: str | None, *, credentials: bool = False
) -> dict[str, object]:
    """Parse a JSON document that must be an object."""
    value = load_json(body, what, path, credentials=credentials)
    if not isinstance(value, dict):
        problem = f"{json_kind(value)} where a JSON object was expected"
        raise bad_answer(what, problem, path, credentials=credentials)
    return value


def validate(
    model: type[_M], data: object, what: str, path: str | None, *, credentials: bool = False
) -> _M:
    """Validate, turning pydantic's error (which quotes input values) into a field summary."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem = f"not the documented shape ({validation_summary(exc)})"
        raise bad_answer(what, problem, path, credentials=credentials) from None


def failure_code(
    document: dict[str, object], what: str, path: str | None
) -> CredentialsError | None:
    """IMDS reports IAM trouble as ``"Code": "<not Success>"`` with a 200 status."""
    code = document.get("Code")
    if code is None or code == _SUCCESS:
        return None
    message = document.get("Message")
    detail = message[:_MAX_DETAIL] if isinstance(message, str) else None
    code_text = code[:_MAX_DETAIL] if isinstance(code, str) else None
    summary = f"IMDS reported {what} as unavailable: Code {code_text or json_kind(code)}"
    if detail:
        summary += f" ({detail.rstrip('.')})"
    return CredentialsError(
        summary, path=path, hint=HINTS["credentials"], code=code_text, detail=detail
    )
