"""What the simulator core hands to its shells: replies, the request log entry, error pages, clock.

These are the small pieces that the decision (``_state.py``), the fault machinery (``_faults.py``)
and the TCP shell (``_server.py``) all build on. Kept in one leaf module, they can be shared
without those modules importing each other.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal, NamedTuple, Protocol

from imdsclient.testing import _tree

__all__ = [
    "CREDENTIALS_PREFIX",
    "REASONS",
    "RealClock",
    "Reply",
    "RequestRecord",
    "SimulatorClock",
    "error_page",
    "error_reply",
    "http_date",
    "normalise_pattern",
    "ok_reply",
    "path_matches",
]

CREDENTIALS_PREFIX = _tree.META_DATA + "iam/security-credentials/"

REASONS: dict[int, str] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(second: float) -> str:
    """RFC 9110 date (``Sun, 06 Nov 1994 08:49:37 GMT``) without importing email.utils."""
    t = time.gmtime(int(second))
    day, month = _DAYS[t.tm_wday], _MONTHS[t.tm_mon - 1]
    return f"{day}, {t.tm_mday:02d} {month} {t.tm_year} {time.strftime('%H:%M:%S', t)} GMT"


class SimulatorClock(Protocol):
    """What the simulator needs from time; ``FakeClock`` and ``imdsclient._clock`` clocks fit."""

    def monotonic(self) -> float:
        """Seconds that never go back: token expiry and throttle windows."""

    def time(self) -> float:
        """Seconds since the epoch: credential expiry, event times, the request log."""


class RealClock:
    """The default :class:`SimulatorClock`: the process's own clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class Reply(NamedTuple):
    """The core's decision for one request.

    ``action`` is ``"send"`` (write status, headers, body), ``"reset"`` (abort the connection with
    a TCP RST) or ``"hang"`` (never answer; hold the connection until the peer or the server
    closes it). The shell adds ``Content-Length``, ``Date`` and ``Server``.
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    action: Literal["send", "reset", "hang"] = "send"


class RequestRecord(NamedTuple):
    """One request as the simulator saw it; ``status`` is None when it was reset or left hanging."""

    method: str
    path: str
    headers: Mapping[str, str]
    """Header names lower-cased."""
    status: int | None
    time: float
    """Wall time (the simulator clock's ``time()``)."""


def error_page(status: int) -> bytes:
    """The XHTML page IMDS sends with every error status (404 and friends)."""
    title = f"{status} - {REASONS.get(status, 'Error')}"
    return (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        f" <head>\n  <title>{title}</title>\n </head>\n"
        f" <body>\n  <h1>{title}</h1>\n </body>\n"
        "</html>\n"
    ).encode("ascii")


def error_reply(status: int, *extra: tuple[str, str]) -> Reply:
    """An error answer: ``status``, the XHTML error page, and any ``extra`` headers."""
    return Reply(status, error_page(status), (("Content-Type", "text/html"), *extra))


def ok_reply(body: bytes, content_type: str = "text/plain") -> Reply:
    """A 200 answer with ``body``."""
    return Reply(200, body, (("Content-Type", content_type),))


def path_matches(path: str, pattern: str | None) -> bool:
    """``pattern`` ending in ``/`` matches a subtree; otherwise the path, with or without ``/``."""
    if pattern is None:
        return True
    if pattern.endswith("/"):
        return path.startswith(pattern) or path == pattern[:-1]
    return path.rstrip("/") == pattern


def normalise_pattern(path: str | None) -> str | None:
    """Relative paths are under ``/latest/meta-data/``; None (any path) stays None."""
    if path is None:
        return None
    return path if path.startswith("/") else _tree.META_DATA + path
