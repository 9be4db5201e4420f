"""Plain values: any path as text, bytes, JSON or a listing, and whether IMDS answers at all."""

from __future__ import annotations

from typing import Any

from imdsclient._api._common import text
from imdsclient._fetch import fetch
from imdsclient._flow import Flow, operation
from imdsclient._protocol import META_DATA, normalize_path, parse_listing
from imdsclient._session import Session
from imdsclient.errors import IMDSError, MetadataNotFoundError

__all__ = ["get_bytes", "get_json", "get_text", "is_available", "listing"]


@operation("get")
def get_text(session: Session, path: str) -> Flow[str]:
    """The value at ``path`` (relative paths are under ``/latest/meta-data/``)."""
    return text((yield from fetch(session, path)), normalize_path(path))


@operation()
def get_bytes(session: Session, path: str) -> Flow[bytes]:
    """The exact bytes served at ``path``."""
    return (yield from fetch(session, path))


@operation()
def get_json(session: Session, path: str) -> Flow[Any]:
    """The value at ``path`` parsed as JSON."""
    import json  # here: `get` never needs it

    body = yield from fetch(session, path)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurd nesting, which IMDS never sends
        raise IMDSError(
            f"The value at {normalize_path(path)} is not valid JSON", path=normalize_path(path)
        ) from None


@operation("list")
def listing(session: Session, path: str = "") -> Flow[list[str]]:
    """The entries of a folder; names ending in '/' are folders."""
    folder = path if path.endswith("/") or path == "" else path + "/"
    body = yield from fetch(session, folder or META_DATA)
    return parse_listing(body)


@operation()
def is_available(session: Session) -> Flow[bool]:
    """Whether IMDS answers; one quick attempt, never raises."""
    try:
        yield from fetch(session, "instance-id", single_attempt=True)
    except MetadataNotFoundError:
        return True  # it answered
    except IMDSError:
        return False
    return True
