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
from typing import TYPE_CHECKING, Literal

from imdsclient.testing import _tree, _versions
from imdsclient.testing._faults import FAULT_KINDS, TRANSPORT_FAULTS, FaultInjector, FaultKind
from imdsclient.testing._instance import InstanceKnobs
from imdsclient.testing._notices import NoticeMethods, Notices
from imdsclient.testing._signing import DOCUMENT, IdentitySigner
from imdsclient.testing._wire import (
    CREDENTIALS_PREFIX,
    RealClock,
    Reply,
    RequestRecord,
    SimulatorClock,
    error_page,
    error_reply,
    http_date,
    normalise_pattern,
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
_VERSIONED_TOKEN_RE = re.compile(r"/[^/]+/api/token/?")
_SLASHES = re.compile(r"//+")  # IMDS reads /latest//meta-data/x as /latest/meta-data/x
_USER_DATA = "/latest/user-data"
_LATEST = "/latest/"
_IDENTITY = _tree.META_DATA + "identity-credentials/ec2/"


class _Auto(enum.Enum):
    AUTO = "auto"


AUTO = _Auto.AUTO
"""Default of ``iam_role`` and ``identity_credentials``: on with the default tree, else off."""


class SimulatorState(InstanceKnobs, NoticeMethods):
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
        tags_enabled: bool = False,
        iam_role: str | _Auto | None = AUTO,
        credential_lifetime: float = 6 * 3600,
        credential_refresh_margin: float = 15 * 60,
        credentials_expired: bool = False,
        identity_credentials: bool | _Auto = AUTO,
        instance_life_cycle: str | None = None,
        placement_group: str | None = None,
        partition_number: int | None = None,
        host_id: str | None = None,
        autoscaling_lifecycle_state: str | None = None,
        elastic_inference: str | None = None,
        spot_interruption: Literal["terminate", "stop", "hibernate"] | None = None,
        rebalance_recommendation: bool = False,
        scheduled_events: Iterable[str | Mapping[str, object]] = (),
        fault_rate: float = 0.0,
        fault_kinds: Iterable[FaultKind] = ("error", "reset"),
        fault_seed: int | None = None,
        log_limit: int | None = 100_000,
        timeline: Timeline | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock: SimulatorClock = clock if clock is not None else RealClock()
        self._last_modified = http_date(self._clock.time())  # "launch": when the data was written
        source = _tree.default_tree() if tree is None else tree
        self._leaves, self._listings = _tree.normalise_tree(source)
        self._overrides: dict[str, bytes] = {}
        self._deleted: set[str] = set()
        if iam_role is AUTO:
            iam_role = _tree.DEFAULT_ROLE if tree is None else None
        self._iam_role: str | None = iam_role
        self._rotator = _tree.CredentialRotator(credential_lifetime, credential_refresh_margin)
        self._identity = _tree.CredentialRotator(credential_lifetime, credential_refresh_margin)
        self._account_id = self._find_account_id()
        self._tokens: dict[str, float] = {}
        self._log: deque[RequestRecord] = deque(maxlen=log_limit)
        self._faults = FaultInjector(self._clock)
        self._notices = Notices(self._clock)
        self._signer = IdentitySigner()

        self.http_tokens = http_tokens
        self.endpoint_enabled = endpoint_enabled
        self.legacy = legacy
        self.hop_limit_drop = hop_limit_drop
        self.throttle_rps = throttle_rps
        self.throttle_status = throttle_status
        self.throttle_retry_after = throttle_retry_after
        self.tags_enabled = tags_enabled
        self.credentials_expired = credentials_expired
        self.identity_credentials = (
            tree is None if identity_credentials is AUTO else bool(identity_credentials)
        )
        self._init_instance_knobs(
            instance_life_cycle=instance_life_cycle,
            placement_group=placement_group,
            partition_number=partition_number,
            host_id=host_id,
            autoscaling_lifecycle_state=autoscaling_lifecycle_state,
            elastic_inference=elastic_inference,
        )
        if spot_interruption is not None:
            self.schedule_spot_interruption(spot_interruption)
        if rebalance_recommendation:
            self.recommend_rebalance()
        for event in scheduled_events:
            if isinstance(event, str):
                self.add_scheduled_event(event)
            else:
                self.add_scheduled_event(**event)  # type: ignore[arg-type]
        if fault_rate:
            self.fault_rate(fault_rate, fault_kinds, seed=fault_seed)
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
        """Issue new role (and instance identity) credentials now, as IMDS does ahead of expiry."""
        with self._lock:
            self._rotator.rotate(self._clock.time())
            self._identity.rotate(self._clock.time())

    @property
    def identity_certificates(self) -> Mapping[str, Mapping[str, str]]:
        """``{region: {kind: PEM}}`` that verify this simulator's signed identity bodies.

        For the region of the document it serves; its keys are not AWS's, so its documents
        verify only with these (``verify_identity(..., certificates=sim.identity_certificates)``).
        Needs the ``[verify]`` extra (``ImportError`` otherwise).
        """
        with self._lock:
            document = self._leaf(DOCUMENT, {})
        return self._signer.certificates(document)

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
        path = _SLASHES.sub("/", target.split("?", 1)[0].split("#", 1)[0])
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
        return self._route(path)

    def _put(self, path: str, headers: dict[str, str], now: float) -> Reply:
        if self._legacy == 405:
            return error_reply(405, ("Allow", "GET, HEAD"))
        if self._legacy is not None:
            return error_reply(self._legacy)
        if path.rstrip("/") != TOKEN_PATH:
            if _VERSIONED_TOKEN_RE.fullmatch(path):
                return error_reply(403)
            return error_reply(405, ("Allow", "GET, HEAD"))
        if "x-forwarded-for" in headers:
            return error_reply(403)  # refused before the hop limit matters: a 403, not a hang
        if self.hop_limit_drop:
            return Reply(0, action="hang")
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
            parsed = json.loads(doc or b"{}")
        except ValueError:  # a tree may hold a broken document on purpose
            parsed = None
        value = parsed.get("accountId") if isinstance(parsed, dict) else None
        return value if isinstance(value, str) else "123456789012"

    def _overlay(self) -> dict[str, Callable[[], bytes]]:
        """Generated leaves: credentials, notices, events, instance knobs. They beat the tree."""
        now = self._clock.time()
        expired = self.credentials_expired
        out = self._notices.overlay()
        out.update(self._signer.overlay(self._leaf(DOCUMENT, {}), self._clock.time))
        out.update(self._instance_overlay())
        role = self._iam_role
        if role is not None:
            rotator = self._rotator
            out[_tree.META_DATA + "iam/info"] = lambda: _tree.iam_info_document(
                role, self._account_id, rotator.current(now, expired=expired).issued
            )
            out[CREDENTIALS_PREFIX + role] = lambda: _tree.credentials_document(
                rotator.current(now, expired=expired)
            )
        if self.identity_credentials:
            identity = self._identity
            out[_IDENTITY + "info"] = lambda: _tree.identity_info_document(
                self._account_id, identity.current(now, expired=expired).issued
            )
            out[_IDENTITY + "security-credentials/ec2-instance"] = lambda: (
                _tree.credentials_document(identity.current(now, expired=expired))
            )
        return out

    def _hidden(self, key: str) -> bool:
        if not self.tags_enabled and path_matches(key, _tree.META_DATA + "tags/"):
            return True
        if key in self._signer.hidden:
            return True
        return any(path_matches(key, gone) for gone in self._deleted)

    def _version_list(self) -> bytes:
        """The ``/`` listing: the tree's (or ``set("/")``'s), else the versions real IMDS lists."""
        listed = self._overrides.get("/", self._listings.get("/"))
        return listed if listed is not None else "\n".join(_versions.DEFAULT_VERSIONS).encode()

    def _route(self, path: str) -> Reply:
        """``/`` lists the versions; ``/<version>/…`` is served if ``/`` lists it, else 404."""
        if path == "/":
            return self._answer(self._version_list())
        split = _versions.split_version(path)
        listed = self._version_list().decode("utf-8", "replace").split("\n")
        if split is None or split[0] not in listed:
            return error_reply(404)
        version, rest = split
        return self._lookup(_LATEST + rest, version)

    def _answer(self, body: bytes, content_type: str = "text/plain") -> Reply:
        """A 200 with the headers IMDS puts on metadata: ``Accept-Ranges`` and ``Last-Modified``."""
        headers = (
            ("Content-Type", content_type),
            ("Accept-Ranges", "none"),
            ("Last-Modified", self._last_modified),
        )
        return Reply(200, body, headers)

    def _in_version(self, key: str, version: str) -> bool:
        """Whether ``key`` (``/latest/…``) exists under ``version`` (it does under ``latest``)."""
        if version == _versions.LATEST or not key.startswith(_LATEST):
            return True
        return _versions.available(key[len(_LATEST) :], version)

    def _lookup(self, path: str, version: str = _versions.LATEST) -> Reply:
        overlay = self._overlay()
        leaf = path.rstrip("/")
        if leaf:
            body = self._leaf(leaf, overlay, version)
            if body is not None:
                content_type = "application/octet-stream" if leaf == _USER_DATA else "text/plain"
                return self._answer(body, content_type)
        listing = self._listing(leaf + "/", overlay, version)
        if listing is None:
            return error_reply(404)
        return self._answer(listing)

    def _leaf(
        self, key: str, overlay: dict[str, Callable[[], bytes]], version: str = _versions.LATEST
    ) -> bytes | None:
        if not self._in_version(key, version):
            return None
        if key in self._overrides:
            return self._overrides[key]
        if self._hidden(key):
            return None
        make = overlay.get(key)
        if make is not None:
            return make()
        return self._leaves.get(key)

    def _listing(
        self, folder: str, overlay: dict[str, Callable[[], bytes]], version: str = _versions.LATEST
    ) -> bytes | None:
        if not self._in_version(folder, version):
            return None
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
        if version != _versions.LATEST:
            keys = {k for k in keys if self._in_version(k, version)}
        names = _tree.derive_listing(folder, keys)
        return "\n".join(names).encode("utf-8") if names else None
