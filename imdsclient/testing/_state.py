"""Sans-IO core of the IMDS simulator: one request in, one :class:`Reply` out, no sockets.

The TCP shell (``_server.py``) and the httpx ``MockTransport`` adapter
(``SimulatorState.handle_httpx``) both drive this core, so what the unit tests check without I/O is
exactly what goes over the wire. Time comes from an injectable clock, which makes token expiry,
credential rotation and throttle windows deterministic under ``FakeClock``. Knobs are plain
attributes, safe to change from another thread while requests are being served: every decision is
taken under one lock.

This module holds the knobs, the data, the tokens, the request log and the decision itself; the
fault machinery lives in ``_faults.py``, the on-demand notices in ``_notices.py``, and the reply
and clock types in ``_wire.py`` (re-exported here).
"""

from __future__ import annotations

import base64
import enum
import json
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from imdsclient.testing import _tree
from imdsclient.testing._faults import FAULT_KINDS, TRANSPORT_FAULTS, FaultInjector, FaultKind
from imdsclient.testing._notices import Notices
from imdsclient.testing._wire import (
    CREDENTIALS_PREFIX,
    RealClock,
    Reply,
    RequestRecord,
    SimulatorClock,
    error_page,
    error_reply,
    normalise_pattern,
    ok_reply,
    path_matches,
)

if TYPE_CHECKING:
    import httpx

    from imdsclient.testing._timeline import Timeline

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

_TTL_RE = re.compile(r"[0-9]{1,6}")
# A version segment (``/2021-03-23/…``, ``/1.0/…``) is an alias of ``/latest/`` for GETs.
_VERSION_RE = re.compile(r"^/(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|1\.0)(?=/|$)")
_VERSIONED_TOKEN_RE = re.compile(r"/[^/]+/api/token/?")
_USER_DATA = "/latest/user-data"


class _Auto(enum.Enum):
    AUTO = "auto"


AUTO = _Auto.AUTO
"""Default of ``iam_role``: the default role with the default tree, no role with a custom tree."""


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
        timeline: Timeline | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock: SimulatorClock = clock if clock is not None else RealClock()
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
        self._faults = FaultInjector(self._clock)
        self._notices = Notices(self._clock)

        self.http_tokens = http_tokens
        self.endpoint_enabled = endpoint_enabled
        self.legacy = legacy
        self.hop_limit_drop = hop_limit_drop
        self.throttle_rps = throttle_rps
        self.throttle_status = throttle_status
        self.throttle_retry_after = throttle_retry_after
        self.tags_enabled = tags_enabled
        self._timeline: Timeline | None = None
        if timeline is not None:
            self.play(timeline)

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
            self._faults.reset_window()

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
        key = normalise_pattern(path)
        assert key is not None
        body = value if isinstance(value, bytes) else value.encode("utf-8")
        with self._lock:
            self._overrides[key] = body

    def delete(self, path: str) -> None:
        """Make ``path`` and everything under it answer 404 (until ``set`` puts a value back)."""
        key = normalise_pattern(path)
        assert key is not None
        prefix = key.rstrip("/") + "/"
        with self._lock:
            for existing in list(self._overrides):
                if path_matches(existing, prefix):
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
        with self._lock:
            self._faults.throttle_next(count, status, retry_after)

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
        with self._lock:
            self._faults.inject(kind, count, path, status, code)

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
        with self._lock:
            self._faults.set_rate(rate, kinds, seed, path)

    def clear_faults(self) -> None:
        """Drop pending injected faults, forced throttling and the fault rate."""
        with self._lock:
            self._faults.clear()

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
        with self._lock:
            self._notices.schedule_spot(action, at)

    def cancel_spot_interruption(self) -> None:
        """Withdraw the spot notice: ``spot/instance-action`` answers 404 again."""
        with self._lock:
            self._notices.cancel_spot()

    def recommend_rebalance(self, *, at: datetime | None = None) -> None:
        """Publish ``events/recommendations/rebalance`` with ``noticeTime`` (default: now)."""
        with self._lock:
            self._notices.recommend_rebalance(at)

    def clear_rebalance_recommendation(self) -> None:
        """Withdraw the rebalance recommendation (404 again)."""
        with self._lock:
            self._notices.clear_rebalance()

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
            return self._notices.add_event(
                code, not_before, not_after, not_before_deadline, description, state, event_id
            )

    def clear_scheduled_events(self) -> None:
        """Empty the scheduled events list: ``[]`` (also on a custom tree without events)."""
        with self._lock:
            self._notices.clear_events()

    def play(self, timeline: Timeline) -> None:
        """Start ``timeline`` (in place of any playing): from now on each request first applies
        the steps whose time has come, in order (``imdsclient.testing.Timeline``)."""
        with self._lock:
            timeline.start(self._clock)
            self._timeline = timeline

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
        pattern = normalise_pattern(path)
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and path_matches(r.path.split("?", 1)[0], pattern)
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
            if self._timeline is not None:
                self._timeline.advance(self, self._clock)
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
        faults = self._faults
        throttled = faults.throttle(
            now, self._throttle_rps, self._throttle_status, self.throttle_retry_after
        )
        if throttled is not None:
            return throttled
        fault = faults.draw(path)
        if fault is not None and fault.kind in TRANSPORT_FAULTS:
            return fault.transport_reply()
        reply = self._protocol(method, path, headers, now)
        if reply.status == 200 and method != "PUT":
            reply = faults.spoil_body(path, reply, fault)
        return reply

    def _protocol(self, method: str, path: str, headers: dict[str, str], now: float) -> Reply:
        if not self.endpoint_enabled:
            return error_reply(403)
        if method == "PUT":
            return self._put(path, headers, now)
        if method not in ("GET", "HEAD"):
            return error_reply(405, ("Allow", "GET, HEAD, PUT"))
        legacy = self._legacy is not None
        if not legacy and path.rstrip("/") == TOKEN_PATH:
            return error_reply(405, ("Allow", "PUT"))
        if not legacy:
            token = headers.get(TOKEN_HEADER)
            if token is not None:
                expires = self._tokens.get(token)
                if expires is None or now >= expires:
                    return error_reply(401)
            elif self._http_tokens == "required":
                return error_reply(401)
        return self._lookup(_VERSION_RE.sub("/latest", path, count=1))

    def _put(self, path: str, headers: dict[str, str], now: float) -> Reply:
        if self._legacy is not None:
            return error_reply(self._legacy)
        if path.rstrip("/") != TOKEN_PATH:
            if _VERSIONED_TOKEN_RE.fullmatch(path):
                return error_reply(403)
            return error_reply(405, ("Allow", "GET, HEAD"))
        if self.hop_limit_drop:
            return Reply(0, action="hang")
        if "x-forwarded-for" in headers:
            return error_reply(403)
        raw_ttl = headers.get(TTL_HEADER, "")
        if not _TTL_RE.fullmatch(raw_ttl) or not 1 <= int(raw_ttl) <= MAX_TOKEN_TTL:
            return error_reply(400)
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
        now = self._clock.time()
        out = self._notices.overlay()
        role = self._iam_role
        if role is not None:
            rotator = self._rotator
            out[_tree.META_DATA + "iam/info"] = lambda: _tree.iam_info_document(
                role, self._account_id, rotator.current(now).issued
            )
            out[CREDENTIALS_PREFIX + role] = lambda: _tree.credentials_document(
                rotator.current(now)
            )
        return out

    def _hidden(self, key: str) -> bool:
        if not self.tags_enabled and path_matches(key, _tree.META_DATA + "tags/"):
            return True
        return any(path_matches(key, gone) for gone in self._deleted)

    def _lookup(self, path: str) -> Reply:
        overlay = self._overlay()
        leaf = path.rstrip("/")
        if leaf:
            body = self._leaf(leaf, overlay)
            if body is not None:
                content_type = "application/octet-stream" if leaf == _USER_DATA else "text/plain"
                return ok_reply(body, content_type)
        listing = self._listing(leaf + "/", overlay)
        if listing is None:
            return error_reply(404)
        return ok_reply(listing)

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
