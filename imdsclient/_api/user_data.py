"""The user data: the exact bytes as served (binary and gzip safe)."""

from __future__ import annotations

from imdsclient._api._common import fetch_or_none
from imdsclient._flow import Flow, operation
from imdsclient._session import Session

__all__ = ["USER_DATA_PATH", "user_data"]

USER_DATA_PATH = "/latest/user-data"


@operation()
def user_data(session: Session) -> Flow[bytes | None]:
    """The exact bytes of the user data, or ``None`` when there is none."""
    return (yield from fetch_or_none(session, USER_DATA_PATH))
