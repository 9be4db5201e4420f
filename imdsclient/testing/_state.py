"""Sans-IO core of the IMDS simulator: one request in, one :class:`Reply` out, no sockets.

The TCP shell (``_server.py``) and the httpx ``MockTransport`` adapter
(``SimulatorState.handle_httpx``) both drive this core, so what the unit tests check without I/O is
exactly what goes over the wire. Time comes from an injectable clock, which makes token expiry,
credential rotation and throttle windows deterministic under ``FakeClock``. Knobs are plain
attributes, safe to change from another thread while requests are being served: every decision is
taken under one lock.
"""

from __future__ import annotations

import base64
import enum
import json
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from imdsclient.testing import _tree

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AUTO",
    "FAULT_KINDS",
    "FaultKind",
    "Reply",
    "RequestRecord",
    "SimulatorClock",
    "SimulatorState",
    "error_page",
]

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
MAX_TOKEN_TTL = 21600
_MAX_TOKENS = 10_000

FaultKind = Literal["error", "reset", "hang", "empty", "bad_json", "credentials_error"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "error",
    "reset",
    "hang",
    "empty",
    "bad_json",
    "credentials_error",
)
_TRANSPORT_FAULTS = frozenset({"error", "reset", "hang", "empty"})

_TTL_RE = re.compile(r"[0-9]{1,6}")
# A version segment (``/2021-03-23/…``, ``/1.0/…``) is an alias of ``/latest/`` for GETs.
_VERSION_RE = re.compile(r"^/(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|1\.0)(?=/|$)")
_VERSIONED_TOKEN_RE = re.compile(r"/[^/]+/api/token/?")
_USER_DATA = "/latest/user-data"
_CREDENTIALS_PREFIX = _tree.META_DATA + "iam/security-credentials/"

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


class _Auto(enum.Enum):
    AUTO = "auto"


AUTO = _Auto.AUTO
"""Default of ``iam_role``: the default role with the default tree, no role with a custom tree."""


class SimulatorClock(Protocol):
    """What the simulator needs from time; ``FakeClock`` and ``imdsclient._clock`` clocks fit."""

    def monotonic(self) -> float:
        """Seconds that never go back: token expiry and throttle windows."""

    def time(self) -> float:
        """Seconds since the epoch: credential expiry, event times, the request log."""


class _RealClock:
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


class _Fault:
    __slots__ = ("code", "kind", "path", "remaining", "status")

    def __init__(
        self, kind: FaultKind, remaining: int, path: str | None, status: int, code: str
    ) -> None:
        self.kind = kind
        self.remaining = remaining
        self.path = path
        self.status = status
        self.code = code


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


def _error(status: int, *extra: tuple[str, str]) -> Reply:
    return Reply(status, error_page(status), (("Content-Type", "text/html"), *extra))


def _ok(body: bytes, content_type: str = "text/plain") -> Reply:
    return Reply(200, body, (("Content-Type", content_type),))


def _path_matches(path: str, pattern: str | None) -> bool:
    """``pattern`` ending in ``/`` matches a subtree; otherwise the path, with or without ``/``."""
    if pattern is None:
        return True
    if pattern.endswith("/"):
        return path.startswith(pattern) or path == pattern[:-1]
    return path.rstrip("/") == pattern


def _normalise_pattern(path: str | None) -> str | None:
    if path is None:
        return None
    return path if path.startswith("/") else _tree.META_DATA + path


class SimulatorState:
    """Everything the simulated IMDS knows and decides, without any I/O.

    Construct it directly to drive it in-process (``handle`` or ``httpx.MockTransport(state.
    handle_httpx)``); :class:`~imdsclient.testing.IMDSSimulator` is this plus a TCP server. See the
    ``IMDSSimulator`` docstring and ``docs/testing.md`` for the knobs.
    """

    def __init__(
        self,
        tree: Mapping[str, str | bytes] | None = None,
        *,
        http_tokens: Literal["optional", "required"] = "optional",
        endpoint_enabled: bool = True,
        clock: SimulatorClock | None = None,
        legacy: Literal[404, 405] | None = None,
        hop_limit_drop: bool = False,
        throttle_rps: int | None = None,
        throttle_status: Literal[429, 503] = 429,
        throttle_retry_after: int | None = None,
        tags_enabled: bool = True,
        iam_role: str | _Auto | None = AUTO,
        credential_lifetime: float = 6 * 3600,
        credential_refresh_margin: float = 15 * 60,
        log_limit: int | None = 100_000,
    ) -> None:
        self._lock = threading.RLock()
        self._clock: SimulatorClock = clock if clock is not None else _RealClock()
        source = _tree.default_tree() if tree is None else tree
        self._leaves, self._listings = _tree.normalise_tree(source)
        self._overrides: dict[str, bytes] = {}
        self._deleted: set[str] = set()
        if iam_role is AUTO:
            iam_role = _tree.DEFAULT_ROLE if tree is None else None
        self._iam_role: str | None = iam_role
        self._rotator = _tree.CredentialRotator(credential_lifetime, credential_refresh_margin)
        self._account_id = self._find_account_id()
        self._tokens: dict[str, float] = {}
        self._log: deque[RequestRecord] = deque(maxlen=log_limit)
        self._faults: list[_Fault] = []
        self._fault_rate = 0.0
        self._fault_kinds: tuple[FaultKind, ...] = ()
        self._fault_path: str | None = None
        self._rng = random.Random()  # noqa: S311 -- fault dice, not cryptography
        self._forced_throttle: list[tuple[int, int, int | None]] = []  # [remaining, status, retry]
        self._window: deque[float] = deque()
        self._spot: tuple[str, float] | None = None
        self._rebalance: float | None = None
        self._events: list[dict[str, str]] = []
        self._events_touched = False  # until then the tree's own scheduled list (if any) is served
        self._event_serial = 0

        self.http_tokens = http_tokens
        self.endpoint_enabled = endpoint_enabled
        self.legacy = legacy
        self.hop_limit_drop = hop_limit_drop
        self.throttle_rps = throttle_rps
        self.throttle_status = throttle_status
        self.throttle_retry_after = throttle_retry_after
        self.tags_enabled = tags_enabled

    # ---------------------------------------------------------------- knobs with validation

    @property
    def http_tokens(self) -> Literal["optional", "required"]:
        """``"required"``: a GET without a token gets 401 (IMDSv1 disabled on the instance)."""
        return self._http_tokens

    @http_tokens.setter
    def http_tokens(self, value: Literal["optional", "required"]) -> None:
        if value not in ("optional", "required"):
            raise ValueError(f"http_tokens must be 'optional' or 'required', not {value!r}")
        self._http_tokens = value

    @property
    def legacy(self) -> Literal[404, 405] | None:
        """404 or 405: an IMDS (or something in between) that does not know the token PUT."""
        return self._legacy

    @legacy.setter
    def legacy(self, value: Literal[404, 405] | None) -> None:
        if value not in (None, 404, 405):
            raise ValueError(f"legacy must be None, 404 or 405, not {value!r}")
        self._legacy = value

    @property
    def throttle_rps(self) -> int | None:
        """Serve at most this many requests in any one-second window; the rest get throttled."""
        return self._throttle_rps

    @throttle_rps.setter
    def throttle_rps(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"throttle_rps must be None or at least 1, not {value!r}")
        with self._lock:
            self._throttle_rps = value
            self._window.clear()

    @property
    def throttle_status(self) -> Literal[429, 503]:
        """Status of a throttled answer: 429 (default) or 503."""
        return self._throttle_status

    @throttle_status.setter
    def throttle_status(self, value: Literal[429, 503]) -> None:
        if value not in (429, 503):
            raise ValueError(f"throttle_status must be 429 or 503, not {value!r}")
        self._throttle_status = value

    @property
    def iam_role(self) -> str | None:
        """Role whose credentials are generated; None means no instance profile (``iam/`` 404)."""
        return self._iam_role

    @iam_role.setter
    def iam_role(self, value: str | None) -> None:
        if value is not None and (not value or "/" in value):
            raise ValueError(f"iam_role must be a role name or None, not {value!r}")
        with self._lock:
            self._iam_role = value

    # ---------------------------------------------------------------- data

    def set(self, path: str, value: str | bytes) -> None:
        """Serve ``value`` at ``path`` (absolute, or relative to ``/latest/meta-data/``).

        A path ending in ``/`` sets that folder's listing verbatim. Wins over everything else,
        including generated values and ``delete``.
        """
        key = _normalise_pattern(path)
        assert key is not None
        body = value if isinstance(value, bytes) else value.encode("utf-8")
        with self._lock:
            self._overrides[key] = body

    def delete(self, path: str) -> None:
        """Make ``path`` and everything under it answer 404 (until ``set`` puts a value back)."""
        key = _normalise_pattern(path)
        assert key is not None
        prefix = key.rstrip("/") + "/"
        with self._lock:
            for existing in list(self._overrides):
                if _path_matches(existing, prefix):
                    del self._overrides[existing]
            self._deleted.add(prefix)

    def rotate_credentials(self) -> None:
        """Issue new role credentials now, as IMDS does ahead of expiry."""
        with self._lock:
            self._rotator.rotate(self._clock.time())

    # ---------------------------------------------------------------- tokens

    def invalidate_tokens(self) -> None:
        """Forget every issued token: the next GET using one gets 401."""
        with self._lock:
            self._tokens.clear()

    @property
    def tokens_issued(self) -> int:
        """How many tokens are currently valid (expired ones may still be counted)."""
        with self._lock:
            return len(self._tokens)

    # ---------------------------------------------------------------- throttling and faults

    def throttle_next(
        self, count: int, status: Literal[429, 503] = 429, retry_after: int | None = None
    ) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After`` if given)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._forced_throttle.append((count, status, retry_after))

    def inject(
        self,
        kind: FaultKind,
        *,
        count: int = 1,
        path: str | None = None,
        status: int = 500,
        code: str = "AssumeRoleUnauthorizedAccess",
    ) -> None:
        """Make the next ``count`` matching requests fail with ``kind``.

        ``error`` answers ``status`` (500 by default; 502/504 work too), ``reset`` aborts the
        connection, ``hang`` never answers, ``empty`` answers 200 with no body. ``bad_json``
        truncates the next JSON body and ``credentials_error`` turns the next credentials document
        into ``{"Code": code, ...}``; these two only count requests they apply to. ``path`` limits
        the fault to one path (or a subtree when it ends in ``/``).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(_Fault(kind, count, _normalise_pattern(path), status, code))

    def fault_rate(
        self,
        rate: float,
        kinds: Iterable[FaultKind] = ("error", "reset"),
        *,
        seed: int | None = None,
        path: str | None = None,
    ) -> None:
        """Fail each matching request with probability ``rate``, the kind drawn from ``kinds``.

        A ``seed`` makes the sequence of faults reproducible. ``rate=0`` turns it off. Random
        faults answer 500 for ``error`` and use ``AssumeRoleUnauthorizedAccess`` for credentials.
        """
        kinds = tuple(kinds)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {rate!r}")
        if rate and not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; choose from {FAULT_KINDS}")
        with self._lock:
            self._fault_rate = rate
            self._fault_kinds = kinds
            self._fault_path = _normalise_pattern(path)
            self._rng = random.Random(seed)  # noqa: S311 -- fault dice, not cryptography

    def clear_faults(self) -> None:
        """Drop pending injected faults, forced throttling and the fault rate."""
        with self._lock:
            self._faults.clear()
            self._forced_throttle.clear()
            self._fault_rate = 0.0

    # ---------------------------------------------------------------- notices and events

    def schedule_spot_interruption(
        self,
        action: Literal["terminate", "stop", "hibernate"] = "terminate",
        *,
        at: datetime | None = None,
    ) -> None:
        """Publish a spot interruption notice (``spot/instance-action``), by default 2 min ahead.

        ``terminate`` also publishes the older ``spot/termination-time``.
        """
        if action not in ("terminate", "stop", "hibernate"):
            raise ValueError(f"unknown spot action {action!r}")
        with self._lock:
            when = at.timestamp() if at is not None else self._clock.time() + 120
            self._spot = (action, when)

    def cancel_spot_interruption(self) -> None:
        """Withdraw the spot notice: ``spot/instance-action`` answers 404 again."""
        with self._lock:
            self._spot = None

    def recommend_rebalance(self, *, at: datetime | None = None) -> None:
        """Publish ``events/recommendations/rebalance`` with ``noticeTime`` (default: now)."""
        with self._lock:
            self._rebalance = at.timestamp() if at is not None else self._clock.time()

    def clear_rebalance_recommendation(self) -> None:
        """Withdraw the rebalance recommendation (404 again)."""
        with self._lock:
            self._rebalance = None

    def add_scheduled_event(
        self,
        code: str = "system-reboot",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        not_before_deadline: datetime | None = None,
        description: str | None = None,
        state: str = "active",
        event_id: str | None = None,
    ) -> str:
        """Add an entry to ``events/maintenance/scheduled`` and return its ``EventId``.

        Defaults: starts in 7 days, a 2-hour window, deadline 14 days out.
        """
        with self._lock:
            start = not_before.timestamp() if not_before else self._clock.time() + 7 * 86400
            end = not_after.timestamp() if not_after else start + 2 * 3600
            deadline = not_before_deadline.timestamp() if not_before_deadline else start + 7 * 86400
            self._events_touched = True
            self._event_serial += 1
            ident = event_id or f"instance-event-{self._event_serial:017x}"
            self._events.append(
                {
                    "NotBefore": _tree.format_event_time(start),
                    "Code": code,
                    "Description": description or f"The instance is scheduled for {code}",
                    "EventId": ident,
                    "NotAfter": _tree.format_event_time(end),
                    "NotBeforeDeadline": _tree.format_event_time(deadline),
                    "State": state,
                }
            )
            return ident

    def clear_scheduled_events(self) -> None:
        """Empty the scheduled events list: ``[]`` (also on a custom tree without events)."""
        with self._lock:
            self._events_touched = True
            self._events.clear()

    # ---------------------------------------------------------------- request log

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """How many logged requests match all the given filters (``path`` as in ``inject``)."""
        pattern = _normalise_pattern(path)
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and _path_matches(r.path.split("?", 1)[0], pattern)
            and (status is None or r.status == status)
        )

    def record(
        self, method: str, path: str, headers: Mapping[str, str], status: int | None
    ) -> None:
        """Log a request the shell answered itself (malformed input)."""
        entry = RequestRecord(method, path, dict(headers), status, self._clock.time())
        with self._lock:
            self._log.append(entry)

    # ---------------------------------------------------------------- the decision

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        """Decide the answer to one request (``target`` is the request-target, query allowed)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        path = target.split("?", 1)[0].split("#", 1)[0]
        with self._lock:
            reply = self._decide(method, path, lowered)
            status = reply.status if reply.action == "send" else None
            self._log.append(RequestRecord(method, target, lowered, status, self._clock.time()))
        return reply

    def handle_httpx(self, request: httpx.Request) -> httpx.Response:
        """An ``httpx.MockTransport`` handler: ``httpx.MockTransport(sim.handle_httpx)``.

        ``reset`` raises ``httpx.ReadError`` and ``hang`` raises ``httpx.ReadTimeout`` at once,
        since an in-memory transport cannot wait for a client timeout.
        """
        import httpx  # imported here: the simulator itself never needs httpx

        target = request.url.raw_path.decode("ascii")
        reply = self.handle(request.method, target, dict(request.headers.items()))
        if reply.action == "reset":
            raise httpx.ReadError("connection reset by peer (simulated)", request=request)
        if reply.action == "hang":
            raise httpx.ReadTimeout("no answer (simulated)", request=request)
        body = b"" if request.method == "HEAD" else reply.body
        return httpx.Response(reply.status, headers=list(reply.headers), content=body)

    def _decide(self, method: str, path: str, headers: dict[str, str]) -> Reply:
        now = self._clock.monotonic()
        throttled = self._throttle(now)
        if throttled is not None:
            return throttled
        fault = self._take_fault(path, _TRANSPORT_FAULTS)
        if fault is None and self._fault_rate and _path_matches(path, self._fault_path):  # noqa: SIM102
            # Two steps on purpose: the dice are only rolled for requests the rate applies to.
            if self._rng.random() < self._fault_rate:
                kind = self._rng.choice(self._fault_kinds)
                fault = _Fault(kind, 1, None, 500, "AssumeRoleUnauthorizedAccess")
        if fault is not None and fault.kind in _TRANSPORT_FAULTS:
            return self._transport_fault(fault)
        reply = self._protocol(method, path, headers, now)
        if reply.status == 200 and method != "PUT":
            reply = self._body_fault(path, reply, fault)
        return reply

    def _throttle(self, now: float) -> Reply | None:
        if self._forced_throttle:
            remaining, status, retry_after = self._forced_throttle[0]
            if remaining <= 1:
                self._forced_throttle.pop(0)
            else:
                self._forced_throttle[0] = (remaining - 1, status, retry_after)
            return self._throttled(status, retry_after)
        limit = self._throttle_rps
        if limit is None:
            return None
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return self._throttled(self._throttle_status, self.throttle_retry_after)
        window.append(now)
        return None

    @staticmethod
    def _throttled(status: int, retry_after: int | None) -> Reply:
        if retry_after is None:
            return _error(status)
        return _error(status, ("Retry-After", str(retry_after)))

    def _take_fault(self, path: str, kinds: frozenset[str]) -> _Fault | None:
        for fault in self._faults:
            if fault.kind in kinds and _path_matches(path, fault.path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _transport_fault(fault: _Fault) -> Reply:
        if fault.kind == "reset":
            return Reply(0, action="reset")
        if fault.kind == "hang":
            return Reply(0, action="hang")
        if fault.kind == "empty":
            return _ok(b"")
        return _error(fault.status)

    def _body_fault(self, path: str, reply: Reply, fault: _Fault | None) -> Reply:
        is_json = reply.body.lstrip()[:1] in (b"{", b"[")
        is_creds = is_json and path.startswith(_CREDENTIALS_PREFIX) and path != _CREDENTIALS_PREFIX
        if fault is None and self._faults:
            kinds = {"bad_json"} if is_json else set()
            if is_creds:
                kinds.add("credentials_error")
            fault = self._take_fault(path, frozenset(kinds)) if kinds else None
        if fault is None:
            return reply
        if fault.kind == "bad_json" and is_json:
            return _ok(reply.body.rstrip()[: len(reply.body.rstrip()) // 2])
        if fault.kind == "credentials_error" and is_creds:
            document = {
                "Code": fault.code,
                "Message": f"EC2 cannot retrieve credentials for the role ({fault.code}).",
                "LastUpdated": _tree.format_iso(self._clock.time()),
            }
            return _ok(_tree.pretty_json(document))
        return reply

    def _protocol(self, method: str, path: str, headers: dict[str, str], now: float) -> Reply:
        if not self.endpoint_enabled:
            return _error(403)
        if method == "PUT":
            return self._put(path, headers, now)
        if method not in ("GET", "HEAD"):
            return _error(405, ("Allow", "GET, HEAD, PUT"))
        legacy = self._legacy is not None
        if not legacy and path.rstrip("/") == TOKEN_PATH:
            return _error(405, ("Allow", "PUT"))
        if not legacy:
            token = headers.get(TOKEN_HEADER)
            if token is not None:
                expires = self._tokens.get(token)
                if expires is None or now >= expires:
                    return _error(401)
            elif self._http_tokens == "required":
                return _error(401)
        return self._lookup(_VERSION_RE.sub("/latest", path, count=1))

    def _put(self, path: str, headers: dict[str, str], now: float) -> Reply:
        if self._legacy is not None:
            return _error(self._legacy)
        if path.rstrip("/") != TOKEN_PATH:
            if _VERSIONED_TOKEN_RE.fullmatch(path):
                return _error(403)
            return _error(405, ("Allow", "GET, HEAD"))
        if self.hop_limit_drop:
            return Reply(0, action="hang")
        if "x-forwarded-for" in headers:
            return _error(403)
        raw_ttl = headers.get(TTL_HEADER, "")
        if not _TTL_RE.fullmatch(raw_ttl) or not 1 <= int(raw_ttl) <= MAX_TOKEN_TTL:
            return _error(400)
        ttl = int(raw_ttl)
        token = base64.b64encode(os.urandom(42)).decode("ascii")
        if len(self._tokens) >= _MAX_TOKENS:
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}
            while len(self._tokens) >= _MAX_TOKENS:
                del self._tokens[next(iter(self._tokens))]
        self._tokens[token] = now + ttl
        return Reply(
            200,
            token.encode("ascii"),
            (("Content-Type", "text/plain"), ("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", str(ttl))),
        )

    # ---------------------------------------------------------------- the tree view

    def _find_account_id(self) -> str:
        doc = self._leaves.get("/latest/dynamic/instance-identity/document")
        try:
            value = json.loads(doc or b"{}").get("accountId")
        except ValueError:
            value = None
        return value if isinstance(value, str) else "123456789012"

    def _overlay(self) -> dict[str, Callable[[], bytes]]:
        """Generated leaves: credentials, notices and events; they win over the static tree."""
        md = _tree.META_DATA
        now = self._clock.time()
        out: dict[str, Callable[[], bytes]] = {}
        role = self._iam_role
        if role is not None:
            rotator = self._rotator
            out[md + "iam/info"] = lambda: _tree.iam_info_document(
                role, self._account_id, rotator.current(now).issued
            )
            out[_CREDENTIALS_PREFIX + role] = lambda: _tree.credentials_document(
                rotator.current(now)
            )
        if self._spot is not None:
            action, when = self._spot
            notice = {"action": action, "time": _tree.format_iso(when)}
            out[md + "spot/instance-action"] = lambda: json.dumps(notice).encode()
            if action == "terminate":
                out[md + "spot/termination-time"] = lambda: _tree.format_iso(when).encode()
        if self._rebalance is not None:
            notice_time = {"noticeTime": _tree.format_iso(self._rebalance)}
            out[md + "events/recommendations/rebalance"] = lambda: json.dumps(notice_time).encode()
        scheduled = md + "events/maintenance/scheduled"
        if self._events_touched:
            out[scheduled] = lambda: json.dumps(self._events, indent=2).encode()
        return out

    def _hidden(self, key: str) -> bool:
        if not self.tags_enabled and _path_matches(key, _tree.META_DATA + "tags/"):
            return True
        return any(_path_matches(key, gone) for gone in self._deleted)

    def _lookup(self, path: str) -> Reply:
        overlay = self._overlay()
        leaf = path.rstrip("/")
        if leaf:
            body = self._leaf(leaf, overlay)
            if body is not None:
                content_type = "application/octet-stream" if leaf == _USER_DATA else "text/plain"
                return _ok(body, content_type)
        listing = self._listing(leaf + "/", overlay)
        if listing is None:
            return _error(404)
        return _ok(listing)

    def _leaf(self, key: str, overlay: dict[str, Callable[[], bytes]]) -> bytes | None:
        if key in self._overrides:
            return self._overrides[key]
        if self._hidden(key):
            return None
        make = overlay.get(key)
        if make is not None:
            return make()
        return self._leaves.get(key)

    def _listing(self, folder: str, overlay: dict[str, Callable[[], bytes]]) -> bytes | None:
        if folder in self._overrides:
            return self._overrides[folder]
        hidden = self._hidden(folder)
        explicit = None if hidden else self._listings.get(folder)
        if explicit is not None:
            return explicit
        keys = {k for k in self._overrides if k.startswith(folder)}
        if not hidden:
            for source in (overlay, self._leaves, self._listings):
                keys.update(k for k in source if k.startswith(folder) and not self._hidden(k))
        names = _tree.derive_listing(folder, keys)
        return "\n".join(names).encode("utf-8") if names else None
