"""Small building blocks the operations share; light (no pydantic)."""

from __future__ import annotations

import re

from imdsclient._fetch import fetch
from imdsclient._flow import Flow
from imdsclient._protocol import META_DATA, normalize_path, parse_listing
from imdsclient._session import Session
from imdsclient.errors import HINTS, IMDSError, InvalidPathError, MetadataNotFoundError

__all__ = [
    "BASE64_PREFIX",
    "IDENTITY_KEY",
    "KEY_ENTRY",
    "REDACTED",
    "check_role",
    "entries",
    "fetch_or_none",
    "folder",
    "is_role_name",
    "optional_text",
    "text",
]

#: Where the instance identity document is cached in ``session.cache``.
IDENTITY_KEY = "identity"
#: ``dump`` shows a leaf that is not UTF-8 text as this prefix + the base64 of its bytes.
BASE64_PREFIX = "base64:"
#: ``dump`` shows credential documents it did not fetch as this (the role name stays visible).
REDACTED = "**********"

# A listing entry: one path segment of the characters IMDS paths use, optionally ending in "/".
_ENTRY = re.compile(r"[A-Za-z0-9._\-+=,:@~]{1,255}/?")
#: A ``public-keys/`` entry: ``N=name``; the key's folder is ``N/``.
KEY_ENTRY = re.compile(r"([0-9]{1,9})=(.+)")
# IAM role names: letters, digits and +=,.@_- (up to 64; a little slack).
_ROLE = re.compile(r"[A-Za-z0-9+=,.@_\-]{1,128}")


def fetch_or_none(session: Session, path: str) -> Flow[bytes | None]:
    """The bytes at ``path``, or ``None`` when IMDS answers 404 (an expected absence)."""
    try:
        return (yield from fetch(session, path))
    except MetadataNotFoundError:
        return None


def text(body: bytes, path: str) -> str:
    """IMDS speaks UTF-8: anything else means something else answered."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise IMDSError(
            f"The value at {path} is not UTF-8 text",
            path=path,
            hint="Read it with get_bytes(), or check what answers at the endpoint.",
        ) from None


def optional_text(session: Session, path: str) -> Flow[str | None]:
    """The stripped text at ``path``, or ``None`` when IMDS has nothing there (404)."""
    body = yield from fetch_or_none(session, path)
    return None if body is None else text(body, normalize_path(path)).strip()


def entries(folder: str, body: bytes) -> list[str]:
    """A listing's entries, each one safe to append to ``folder`` (else ``IMDSError``)."""
    names = parse_listing(body)
    for entry in names:
        if not _ENTRY.fullmatch(entry) or entry.rstrip("/") in (".", ".."):
            raise IMDSError(
                f"IMDS listed an unusable entry in {folder}: {entry[:80]!r}",
                path=folder,
                hint=HINTS["bad_response"],
            )
    return names


def folder(path: str) -> str:
    """An absolute folder path ending in '/' ("" is ``/latest/meta-data/``)."""
    full = normalize_path(path) if path else META_DATA
    return full if full.endswith("/") else full + "/"


def is_role_name(name: str) -> bool:
    """Whether ``name`` can be an IAM role name (and so one safe path segment)."""
    return _ROLE.fullmatch(name) is not None and name not in (".", "..")


def check_role(role: str) -> str:
    """A role name given by the caller, or ``InvalidPathError`` before anything is sent."""
    if not is_role_name(role):
        raise InvalidPathError(
            f"{role!r} is not an IAM role name",
            hint="Give the role's name (letters, digits and +=,.@_-), or none to use the "
            "attached role.",
        )
    return role
