"""The IMDS protocol as pure rules: paths, requests, and what each answer means.

Nothing here does I/O.  :func:`classify` turns the result of one exchange into an
:class:`Outcome`; it is the protocol table of docs/design.md written once, tested row by
row, and shared by the sync and async clients.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

from imdsclient.errors import (
    HINTS,
    BadRequestError,
    EndpointDisabledError,
    IMDSConnectionError,
    IMDSError,
    IMDSTimeoutError,
    InvalidPathError,
    MetadataNotFoundError,
    ThrottledError,
    not_found_hint,
)

__all__ = [
    "IMDS_URLS",
    "MAX_BODY_BYTES",
    "MAX_PATH_CHARS",
    "META_DATA",
    "TOKEN_HEADER",
    "TOKEN_PATH",
    "TTL_HEADER",
    "Action",
    "Failure",
    "FailureKind",
    "Outcome",
    "Request",
    "Response",
    "Result",
    "SecretBytes",
    "classify",
    "describe",
    "get_request",
    "is_dropped_syn",
    "is_throttle",
    "normalize_path",
    "parse_listing",
    "retry_after",
    "token_request",
    "token_ttl_from",
]

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
META_DATA = "/latest/meta-data/"
#: IMDS's own addresses (IPv4, IPv6); connection errors name any other endpoint.
IMDS_URLS = ("http://169.254.169.254", "http://[fd00:ec2::254]")
#: Real IMDS answers are a few KiB (user-data is at most 16 KiB); anything far bigger is not IMDS.
MAX_BODY_BYTES = 1024 * 1024
#: The longest path sent.  Real IMDS paths are under 200 characters; a crawl builds at most
#: 16 levels of 255-character entries (4 114 with the prefix); httpx refuses URLs over 65 536.
MAX_PATH_CHARS = 8192
#: The longest token accepted from the PUT (real ones are 56 characters); it becomes a header.
MAX_TOKEN_CHARS = 4096
#: What a secret shows in a ``repr`` (the token in a request header).
MASK = "**********"

# Letters, digits and the punctuation IMDS paths use (MACs, tag keys, `0=name`); nothing that could
# change the host, smuggle a header, or be decoded into something else (`%`, `\`, `?`, `#`).
_PATH_CHARS = re.compile(r"[A-Za-z0-9/._\-+=,:@~]*")
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
_TOKEN_KEY = TOKEN_HEADER.lower()


@dataclass(frozen=True)
class Request:
    """One HTTP request to IMDS, independent of any HTTP library.

    Its ``repr`` masks the session token: requests travel through frames whose locals error
    reporters capture (Sentry's default, ``traceback``'s ``capture_locals``).
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds this attempt waits for the connection, when not the client's own limit.
    connect_timeout: float | None = None

    def __repr__(self) -> str:
        shown = {k: MASK if k.lower() == _TOKEN_KEY else v for k, v in self.headers.items()}
        return f"Request(method={self.method!r}, path={self.path!r}, headers={shown!r})"


@dataclass(frozen=True)
class Response:
    """An answer from the endpoint (header names lower-case).

    Its ``repr`` shows the body's size, never its bytes: a body may be a token, credentials or
    user-data.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"Response(status={self.status!r}, body=<{len(self.body)} bytes>)"


class FailureKind(enum.Enum):
    """Ways an exchange can fail below HTTP."""

    CONNECT = "connection failed"
    CONNECT_TIMEOUT = "connection timed out"
    READ_TIMEOUT = "no answer in time"
    DROPPED = "connection dropped"
    TOO_LARGE = "response too large"
    CLOSED = "client closed while the request was in flight"


@dataclass(frozen=True)
class Failure:
    """A transport failure, as a value so that :func:`classify` decides what it means."""

    kind: FailureKind
    detail: str = ""


Result = Union[Response, Failure]


class SecretBytes(bytes):
    """Bytes that show only their size in a ``repr``: a credential document on its way through
    frames whose locals an error reporter may capture.  Otherwise plain ``bytes``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} secret bytes>"


class Action(enum.Enum):
    """What the client should do next."""

    OK = "ok"
    REFRESH_TOKEN = "refresh token"
    FALLBACK_V1 = "fall back to IMDSv1"
    RETRY = "retry"
    RAISE = "raise"


@dataclass(frozen=True)
class Outcome:
    """The decision for one result; ``error`` is raised for RAISE, and for RETRY once exhausted."""

    action: Action
    error: IMDSError | None = None
    retry_after: float | None = None
    #: For FALLBACK_V1: the HINTS key explaining why (``hop_limit`` or ``legacy``).
    reason: str = ""


_OK = Outcome(Action.OK)
_REFRESH = Outcome(Action.REFRESH_TOKEN)


def normalize_path(path: str) -> str:
    """Turn user input into an IMDS path, or raise ``InvalidPathError`` (a ``ValueError``)
    before anything is sent.

    Relative paths live under ``/latest/meta-data/``; absolute paths are used as given.
    """
    if not isinstance(path, str):
        raise TypeError(f"IMDS path must be a str, not {type(path).__name__}")
    if len(path) > MAX_PATH_CHARS:
        raise ValueError(
            f"IMDS path {path[:40]!r}... is {len(path)} characters long; IMDS paths are at "
            f"most {MAX_PATH_CHARS} characters (real ones are under 200)"
        )
    if not _PATH_CHARS.fullmatch(path):
        bad = next(ch for ch in path if not _PATH_CHARS.fullmatch(ch))
        raise InvalidPathError(
            f"IMDS path {path!r} contains {bad!r}, which IMDS paths never contain"
        )
    if "//" in path:
        raise InvalidPathError(f"IMDS path {path!r} contains '//' (a scheme or another host)")
    full = path if path.startswith("/") else META_DATA + path
    if any(part in (".", "..") for part in full.split("/")):
        raise InvalidPathError(f"IMDS path {path!r} contains '.' or '..' segments")
    return full


def token_request(ttl: int) -> Request:
    """The token PUT."""
    return Request("PUT", TOKEN_PATH, {TTL_HEADER: str(ttl)})


def get_request(path: str, token: str | None) -> Request:
    """A GET, with the session token when there is one (IMDSv2) and without it for IMDSv1."""
    return Request("GET", path, {TOKEN_HEADER: token} if token is not None else {})


def token_ttl_from(response: Response, requested: int) -> tuple[str, int]:
    """Read a token answer: the token and the TTL IMDS echoed (never longer than requested)."""
    token = _usable_token(response.body)
    if token is None:  # no local holds the refused bytes: tracebacks may show locals
        raise IMDSError(
            "IMDS answered the token request with an unusable token (it must be 1 to "
            f"{MAX_TOKEN_CHARS} printable ASCII characters)",
            status=response.status,
            path=TOKEN_PATH,
            hint=HINTS["bad_response"],
        )
    try:
        echoed = int(response.headers.get(TTL_HEADER.lower(), requested))
    except ValueError:
        echoed = requested
    return token, max(1, min(echoed, requested))


def _usable_token(body: bytes) -> str | None:
    """The token in a PUT answer's body, or ``None`` when it cannot go into a header."""
    if len(body) > MAX_TOKEN_CHARS + 64:  # room for surrounding whitespace
        return None
    token = body.decode("ascii", "replace").strip()
    return token if len(token) <= MAX_TOKEN_CHARS and _TOKEN_CHARS.fullmatch(token) else None


def parse_listing(body: bytes) -> list[str]:
    """Split an IMDS listing (LF-joined; folders end in '/')."""
    return [line for line in body.decode("utf-8", "replace").splitlines() if line]


def describe(result: Result) -> str:
    """A short text for logs: the status, or what went wrong below HTTP."""
    return str(result.status) if isinstance(result, Response) else result.kind.value


def retry_after(result: Result) -> float | None:
    """The server's ``Retry-After`` in seconds, if it sent a usable one."""
    if not isinstance(result, Response):
        return None
    value = result.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP dates are not something IMDS sends; ignore rather than guess
    return seconds if seconds >= 0 else None


def is_throttle(result: Result) -> bool:
    """True for the answers IMDS gives when it throttles."""
    return isinstance(result, Response) and result.status in (429, 503)


def is_dropped_syn(result: Result) -> bool:
    """True for a connect timeout: the connection request got no answer (dropped or lost)."""
    return isinstance(result, Failure) and result.kind is FailureKind.CONNECT_TIMEOUT


def classify(
    result: Result, *, path: str, endpoint_seen: bool, endpoint: str | None = None
) -> Outcome:
    """Decide what one result means (docs/design.md, "The protocol"), for the PUT and GETs.

    ``endpoint_seen`` says whether the endpoint has answered this client before: connection
    failures are retried only then, so that off EC2 the first call fails fast.  ``endpoint``
    names the endpoint in connection errors (given when it is not IMDS's own address).
    """
    if isinstance(result, Failure):
        return _classify_failure(result, path=path, endpoint_seen=endpoint_seen, where=endpoint)
    status = result.status
    is_put = path == TOKEN_PATH
    if status == 200:
        return _OK
    if 300 <= status < 400:
        return _raise(
            IMDSError(f"IMDS answered {status} (a redirect) for {path}", hint=HINTS["redirect"]),
            status,
            path,
        )
    if status in (429, 503):
        return Outcome(
            Action.RETRY,
            ThrottledError(f"IMDS kept answering {status} for {path}", status=status, path=path),
            retry_after=retry_after(result),
        )
    if status >= 500:
        return Outcome(
            Action.RETRY, IMDSError(f"IMDS answered {status} for {path}", status=status, path=path)
        )
    if status == 400:
        return _raise(BadRequestError(f"IMDS answered 400 Bad Request for {path}"), status, path)
    if status == 403:
        return _raise(
            EndpointDisabledError(f"IMDS answered 403 Forbidden for {path}"), status, path
        )
    if is_put:
        if status in (404, 405):
            return Outcome(Action.FALLBACK_V1, reason="legacy")
        return _raise(IMDSError(f"IMDS answered {status} to the token request"), status, path)
    if status == 401:
        return _REFRESH
    if status == 404:
        return _raise(
            MetadataNotFoundError(f"IMDS has nothing at {path} (404)", hint=not_found_hint(path)),
            status,
            path,
        )
    return _raise(IMDSError(f"IMDS answered an unexpected {status} for {path}"), status, path)


def _raise(error: IMDSError, status: int, path: str) -> Outcome:
    error.status, error.path = status, path
    return Outcome(Action.RAISE, error)


def _classify_failure(
    failure: Failure, *, path: str, endpoint_seen: bool, where: str | None
) -> Outcome:
    kind = failure.kind
    what = f"{kind.value} for {path}" + (f" at {where}" if where else "")
    what += f" ({failure.detail})" if failure.detail else ""
    if kind is FailureKind.TOO_LARGE:
        return Outcome(Action.RAISE, IMDSError(f"IMDS {what}", path=path, hint=HINTS["too_large"]))
    if kind is FailureKind.CLOSED:
        closed = IMDSConnectionError(
            f"The request for {path} was cut short: the client was closed while it was in flight",
            path=path,
            hint=HINTS["closed"],
        )
        return Outcome(Action.RAISE, closed)
    if kind is FailureKind.READ_TIMEOUT and path == TOKEN_PATH:
        # Connected, but the PUT's answer never came back: the hop limit drops it (containers).
        return Outcome(Action.FALLBACK_V1, reason="hop_limit")
    if kind is FailureKind.CONNECT_TIMEOUT:
        # Nothing answered the SYN (and its resend): a DROP rule, packet loss, or not on EC2.
        error: IMDSError = IMDSTimeoutError(
            f"IMDS {what}", path=path, hint=HINTS["connect_timeout"]
        )
    elif kind is FailureKind.READ_TIMEOUT:
        error = IMDSTimeoutError(f"IMDS {what}", path=path)
    else:
        error = IMDSConnectionError(f"IMDS {what}", path=path)
    if kind is FailureKind.CONNECT and not endpoint_seen:
        return Outcome(Action.RAISE, error)  # refused or no route: nothing there, fail fast
    if kind is FailureKind.CONNECT_TIMEOUT and not endpoint_seen:
        # Both SYNs of the attempt went unanswered: one more at once, briefly (exchange()).
        return Outcome(Action.RETRY, error, retry_after=0.0)
    return Outcome(Action.RETRY, error)
