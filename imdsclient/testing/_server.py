"""The simulator's TCP shell: a small threaded HTTP/1.x server around the sans-IO core.

Written on raw sockets rather than ``http.server`` for three reasons. Speed: each answer is built
as one byte string and written with a single ``sendall`` on a ``TCP_NODELAY`` socket, which
avoids the ~40 ms Nagle/delayed-ACK stall per keep-alive request. Control: faults need to reset or
hold a connection, PUT answers need their own IP TTL, and ``stop()`` must close every live
connection (hung ones included) and join every thread at once. Resources: connections are capped
and time out when idle, and the accept loop backs off and recovers when the process runs out of
descriptors, memory or threads, instead of dying or spinning.

Like real IMDS, the server closes the connection after every answer (``Connection: close``);
``keep_alive=True`` keeps HTTP/1.1 connections open instead. Bad input of any kind is answered
with 400/405/413/431 and the connection closed; nothing a client sends can raise out of a server
thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from typing import IO, Literal, TypeVar

from imdsclient.testing._faults import FaultKind
from imdsclient.testing._http import BadRequest, Head, parse_head, read_head, serialise
from imdsclient.testing._state import AUTO, TOKEN_HEADER, TTL_HEADER, SimulatorState, _Auto
from imdsclient.testing._timeline import Timeline
from imdsclient.testing._wire import Reply, SimulatorClock, error_page, http_date

__all__ = ["DEFAULT_TTL", "IMDSSimulator"]

logger = logging.getLogger("imdsclient.testing")
_Sim = TypeVar("_Sim", bound="IMDSSimulator")

DEFAULT_TTL = 64
"""IP TTL / IPv6 hop limit of every answer that is not a PUT answer (what IMDS uses)."""

_BACKLOG = 1024
_MAX_BACKOFF = 1.0
_MAX_LATENCY = 60.0  # seconds: more than any client waits for one answer
_MAX_INTERNAL_ERRORS = 100
_RESOURCE_ERRORS = (OSError, MemoryError, RuntimeError)  # RuntimeError: "can't start new thread"


class IMDSSimulator(SimulatorState):
    """A fake EC2 Instance Metadata Service on a real socket (127.0.0.1, ephemeral port).

    Use it as a context manager (or ``start()``/``stop()``) and point a client at ``.url``. Every
    knob below is also an attribute that may be changed while the server runs (except ``tree``,
    ``host``, ``port``, ``clock``, ``log_limit`` and the start-up ones marked *at start*). The
    defaults are what a real, ordinary on-demand instance does; ``docs/testing.md`` lists how the
    simulator still differs from real IMDS.

    Args:
        tree: path → body (``str`` or exact ``bytes``); replaces the default instance data.
            Keys may be relative to ``/latest/meta-data/``. Folder listings are derived from the
            leaves unless given explicitly (keys ending in ``/``).
        http_tokens: ``"required"`` answers token-less GETs with 401 (IMDSv1 off).
        endpoint_enabled: False answers everything with 403.
        host: the address to listen on (loopback by default).
        port: the port to listen on; 0 picks a free port.
        clock: ``monotonic()`` and ``time()`` source, e.g. ``FakeClock``; default real time.
        legacy: 404 or 405 makes the token PUT fail like an IMDSv1-only service.
        hop_limit_drop: the token PUT is never answered (hop limit too low in a container).
        throttle_rps: serve at most this many requests per second, throttle the rest.
        throttle_status: 429 (default) or 503 for throttled requests.
        throttle_retry_after: if set, throttled answers carry ``Retry-After`` with this value.
        tags_enabled: True serves ``tags/instance/`` (``InstanceMetadataTags=enabled``); by
            default tags are 404, as on a real instance.
        iam_role: role whose rotating credentials are generated; None: no instance profile.
            Default: ``"baskinc-role"`` with the default tree, None with a custom tree.
        credential_lifetime: seconds generated credentials stay valid (default 6 h).
        credential_refresh_margin: new credentials appear when less than this is left (15 min).
        credentials_expired: serve credentials whose ``Expiration`` has passed, as IMDS does when
            it cannot renew them.
        identity_credentials: serve the instance identity role
            (``identity-credentials/ec2/…``). Default: on with the default tree, off with yours.
        instance_life_cycle: ``on-demand``, ``spot``, ``scheduled`` or ``capacity-block``;
            None: the tree's value (``on-demand``).
        placement_group: serve ``placement/group-name``.
        partition_number: serve ``placement/partition-number`` (1-7).
        host_id: serve ``placement/host-id`` (a Dedicated Host).
        autoscaling_lifecycle_state: serve ``autoscaling/target-lifecycle-state``.
        elastic_inference: an accelerator id: serve ``elastic-inference/associations/<id>``.
        spot_interruption: *at start*: publish a spot notice with this action.
        rebalance_recommendation: *at start*: publish a rebalance recommendation.
        scheduled_events: *at start*: events to add, each a code (``"system-reboot"``) or the
            keyword arguments of ``add_scheduled_event`` as a mapping.
        fault_rate: *at start*: fail this share of requests (see ``fault_rate()``).
        fault_kinds: *at start*: the kinds ``fault_rate`` draws from.
        fault_seed: *at start*: the seed of the fault dice.
        log_limit: how many requests ``.requests`` keeps (oldest dropped); None: unbounded.
        keep_alive: keep HTTP/1.1 connections open between requests. Default False: like
            IMDS, every answer says ``Connection: close`` and the connection is closed.
        http_version: ``"1.1"`` (default) or ``"1.0"``: the version of the status line (some
            captures of IMDS show ``HTTP/1.0 200 OK``); 1.0 always closes.
        max_connections: connections served at once; more wait in the listen backlog.
        idle_timeout: seconds a connection may sit without sending a (complete) request.
        latency: seconds each answer waits before it is sent: a stand-in for a link that is
            slower than loopback (0, the default: at once).
        put_response_hop_limit: IP TTL / IPv6 hop limit of PUT answers (the instance's
            ``HttpPutResponseHopLimit``, 1-64); everything else leaves with 64. None: the OS
            default for everything.
        request_log: a text stream that gets one line per request (no secrets in it).
        timeline: a ``Timeline`` of lifecycle changes to play on the simulator's clock.
    """

    def __init__(
        self,
        tree: Mapping[str, str | bytes] | None = None,
        *,
        http_tokens: Literal["optional", "required"] = "optional",
        endpoint_enabled: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
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
        keep_alive: bool = False,
        http_version: Literal["1.0", "1.1"] = "1.1",
        max_connections: int = 256,
        idle_timeout: float = 60.0,
        latency: float = 0.0,
        put_response_hop_limit: int | None = None,
        request_log: IO[str] | None = None,
        timeline: Timeline | None = None,
    ) -> None:
        super().__init__(
            tree,
            http_tokens=http_tokens,
            endpoint_enabled=endpoint_enabled,
            clock=clock,
            legacy=legacy,
            hop_limit_drop=hop_limit_drop,
            throttle_rps=throttle_rps,
            throttle_status=throttle_status,
            throttle_retry_after=throttle_retry_after,
            tags_enabled=tags_enabled,
            iam_role=iam_role,
            credential_lifetime=credential_lifetime,
            credential_refresh_margin=credential_refresh_margin,
            credentials_expired=credentials_expired,
            identity_credentials=identity_credentials,
            instance_life_cycle=instance_life_cycle,
            placement_group=placement_group,
            partition_number=partition_number,
            host_id=host_id,
            autoscaling_lifecycle_state=autoscaling_lifecycle_state,
            elastic_inference=elastic_inference,
            spot_interruption=spot_interruption,
            rebalance_recommendation=rebalance_recommendation,
            scheduled_events=scheduled_events,
            fault_rate=fault_rate,
            fault_kinds=fault_kinds,
            fault_seed=fault_seed,
            log_limit=log_limit,
            timeline=timeline,
        )
        self.host = host
        self.port = port
        self.keep_alive = keep_alive
        self.http_version = http_version
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.latency = latency
        self.put_response_hop_limit = put_response_hop_limit
        self.request_log = request_log
        self.internal_errors: list[BaseException] = []
        """Unexpected exceptions caught in server threads (a simulator bug if not empty)."""
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        # Guards the connection table and counters; notified when a connection ends (a slot
        # frees up, or a descriptor does) and on stop().
        self._conns_cond = threading.Condition()
        self._conns: dict[socket.socket, threading.Thread] = {}
        # Every connection thread still alive; a thread leaves _conns a moment before it ends,
        # so stop() joins these too (pruned as new connections arrive).
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self._accept_errors = 0
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = False
        self._date_second = -1
        self._date = ""

    # ---------------------------------------------------------------- shell knobs

    @property
    def http_version(self) -> Literal["1.0", "1.1"]:
        """``"1.1"`` or ``"1.0"``: the HTTP version of every status line."""
        return self._http_version

    @http_version.setter
    def http_version(self, value: Literal["1.0", "1.1"]) -> None:
        if value not in ("1.0", "1.1"):
            raise ValueError(f"http_version must be '1.0' or '1.1', not {value!r}")
        self._http_version = value

    @property
    def max_connections(self) -> int:
        """How many connections are served at once; further ones wait to be accepted."""
        return self._max_connections

    @max_connections.setter
    def max_connections(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_connections must be at least 1, not {value!r}")
        self._max_connections = value
        cond = getattr(self, "_conns_cond", None)
        if cond is not None:
            with cond:
                cond.notify_all()

    @property
    def idle_timeout(self) -> float:
        """Seconds a connection may wait for its next request before it is closed."""
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"idle_timeout must be a number of seconds above 0, not {value!r}")
        self._idle_timeout = float(value)

    @property
    def latency(self) -> float:
        """Seconds each answer waits before it is sent (0: none)."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        if not number or not 0 <= value <= _MAX_LATENCY:
            raise ValueError(f"latency must be 0..{_MAX_LATENCY:g} seconds, not {value!r}")
        self._latency = float(value)

    @property
    def put_response_hop_limit(self) -> int | None:
        """IP TTL (IPv6 hop limit) of PUT answers, 1-64; None leaves the OS default."""
        return self._put_response_hop_limit

    @put_response_hop_limit.setter
    def put_response_hop_limit(self, value: int | None) -> None:
        valid = value is None or (isinstance(value, int) and not isinstance(value, bool))
        if not valid or (value is not None and not 1 <= value <= 64):
            raise ValueError(f"put_response_hop_limit must be None or 1..64, not {value!r}")
        self._put_response_hop_limit = value

    # ---------------------------------------------------------------- counters

    @property
    def connections(self) -> int:
        """How many TCP connections have been accepted and served since start."""
        with self._conns_cond:
            return self._accepted

    @property
    def open_connections(self) -> int:
        """How many connections are open right now."""
        with self._conns_cond:
            return len(self._conns)

    @property
    def accept_errors(self) -> int:
        """How many times accepting a connection failed (descriptors, memory, threads)."""
        with self._conns_cond:
            return self._accept_errors

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:49152``."""
        if self._listener is None:
            raise RuntimeError("the simulator is not running; call start() or use `with`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self: _Sim) -> _Sim:
        """Bind, listen and serve from a daemon thread; returns self."""
        if self._started:
            raise RuntimeError("an IMDSSimulator can be started once")
        self._started = True
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(_BACKLOG)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_forever, name=f"imds-simulator:{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection (hung ones too) and join all threads."""
        if self._stopping.is_set() or not self._started:
            return
        self._stopping.set()
        with self._conns_cond:
            self._conns_cond.notify_all()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join()
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        with self._conns_cond:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._conns_cond:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self: _Sim) -> _Sim:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- accepting

    def _accept_forever(self) -> None:
        """The accept thread: it ends with stop() and nothing else."""
        while not self._stopping.is_set():
            try:
                self._accept_loop()
            except Exception as exc:  # a bug, or MemoryError in the loop itself: keep accepting
                self._internal_error(exc)
                self._stopping.wait(0.1)

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake_r
        assert listener is not None
        assert wake is not None
        delay = 0.0
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while self._wait_for_slot():
                ready = selector.select()
                if self._stopping.is_set() or any(key.fileobj is wake for key, _ in ready):
                    return
                try:
                    conn, _addr = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue  # the client gave up in the meantime
                except _RESOURCE_ERRORS as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM, MemoryError
                    delay = self._back_off(exc, delay)
                    continue
                try:
                    self._spawn(conn)
                except _RESOURCE_ERRORS as exc:  # no thread (ulimit -v, -u) or no memory
                    conn.close()
                    delay = self._back_off(exc, delay)
                    continue
                delay = 0.0

    def _wait_for_slot(self) -> bool:
        """Block while ``max_connections`` are open; False once the server is stopping."""
        with self._conns_cond:
            while len(self._conns) >= self._max_connections and not self._stopping.is_set():
                self._conns_cond.wait()
        return not self._stopping.is_set()

    def _back_off(self, exc: BaseException, delay: float) -> float:
        """Count and report a failed accept, then wait before the next try (never spin).

        The wait doubles from 10 ms up to 1 s, and ends early when a connection closes (which
        frees a descriptor and a thread) or the server stops.
        """
        delay = min(max(delay * 2, 0.01), _MAX_BACKOFF)
        with self._conns_cond:
            self._accept_errors += 1
        if isinstance(exc, OSError) and exc.errno is not None:
            reason = f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "IMDS simulator: cannot accept a connection (%s); retrying in %.2f s", reason, delay
        )
        with self._conns_cond:
            if not self._stopping.is_set():
                self._conns_cond.wait(delay)
        return delay

    def _spawn(self, conn: socket.socket) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(conn,), name="imds-simulator-conn", daemon=True
        )
        with self._conns_cond:
            self._conns[conn] = thread
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            self._accepted += 1
        try:
            thread.start()
        except BaseException:
            with self._conns_cond:
                self._conns.pop(conn, None)
                self._threads.remove(thread)
                self._accepted -= 1
            raise

    def _internal_error(self, exc: BaseException) -> None:
        if len(self.internal_errors) < _MAX_INTERNAL_ERRORS:
            self.internal_errors.append(exc)

    # ---------------------------------------------------------------- one connection

    def _serve_connection(self, conn: socket.socket) -> None:
        try:
            peer = _peer(conn)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._put_response_hop_limit is not None:
                _set_hops(conn, DEFAULT_TTL)
            self._request_loop(conn, peer)
        except (OSError, MemoryError):
            pass  # the peer went away, idle timeout, stop(), or no memory left: either way, done
        except Exception as exc:  # a simulator bug must not kill the test process
            self._internal_error(exc)
            with contextlib.suppress(OSError):
                conn.sendall(self._serialise(Reply(500, error_page(500)), "GET", close=True))
        finally:
            with self._conns_cond:
                self._conns.pop(conn, None)
                self._conns_cond.notify_all()
            conn.close()

    def _request_loop(self, conn: socket.socket, peer: str) -> None:
        buf = bytearray()
        while not self._stopping.is_set():
            reader = _RequestDeadline(conn, self._idle_timeout)
            try:
                raw, buf = read_head(reader, buf)
                if raw is None:
                    return
                head = parse_head(raw)
            except BadRequest as bad:
                self._answer_bad(conn, bad, peer)
                return
            while len(buf) < head.length:
                chunk = reader.recv(65536)
                if not chunk:
                    return
                buf += chunk
            del buf[: head.length]
            reply = self.handle(head.method, head.target, head.headers)
            self._log_request(peer, head, reply)
            if reply.action == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if reply.action == "hang":
                conn.settimeout(None)  # held until the client gives up or stop() shuts us
                while conn.recv(65536):
                    pass
                return
            close = not (self.keep_alive and head.keep_alive and self._http_version == "1.1")
            if self._latency:
                self._delay(self._latency)
            self._write(conn, self._serialise(reply, head.method, close=close), head.method, close)
            if close:
                return

    def _write(self, conn: socket.socket, data: bytes, method: str, close: bool) -> None:
        """Send one answer; a PUT answer leaves with ``put_response_hop_limit`` as its TTL."""
        hops = self._put_response_hop_limit if method == "PUT" else None
        if hops is not None:
            _set_hops(conn, hops)
        self._sendall(conn, data)
        if hops is not None and not close:
            _set_hops(conn, DEFAULT_TTL)  # the connection lives on: later answers get 64

    def _delay(self, seconds: float) -> None:
        """Hold an answer back (a seam: tests count the waits); stop() ends the wait early."""
        self._stopping.wait(seconds)

    def _sendall(self, conn: socket.socket, data: bytes) -> None:
        """Write one answer (a seam: tests read the socket's TTL here)."""
        conn.sendall(data)

    def _answer_bad(self, conn: socket.socket, bad: BadRequest, peer: str) -> None:
        self.record(bad.method, bad.target, {}, bad.status)
        self._log_line(peer, bad.method or "-", bad.target or "-", str(bad.status), "malformed")
        reply = Reply(bad.status, error_page(bad.status), (("Content-Type", "text/html"),))
        conn.sendall(self._serialise(reply, "GET", close=True))

    def _serialise(self, reply: Reply, method: str, *, close: bool) -> bytes:
        second = int(self._clock.time())
        if second != self._date_second:
            self._date, self._date_second = http_date(second), second
        return serialise(
            reply,
            head_only=method == "HEAD",
            close=close,
            date=self._date,
            version=self._http_version,
        )

    # ---------------------------------------------------------------- the request log

    def _log_request(self, peer: str, head: Head, reply: Reply) -> None:
        if self.request_log is None:
            return
        status = str(reply.status) if reply.action == "send" else reply.action
        if head.method == "PUT" and TTL_HEADER in head.headers:
            auth = f"ttl={_printable(head.headers[TTL_HEADER])}"
        else:
            auth = "token" if TOKEN_HEADER in head.headers else "no-token"
        self._log_line(peer, head.method, head.target, status, f"{len(reply.body)}B {auth}")

    def _log_line(self, peer: str, method: str, target: str, status: str, detail: str) -> None:
        """``<time> <peer> "<METHOD> <target>" <status> <detail>``; never a header value."""
        stream = self.request_log
        if stream is None:
            return
        when = http_date(self._clock.time())[5:-4]  # "01 Jan 2026 00:00:00"
        line = f'{when} {peer} "{_printable(method)} {_printable(target)}" {status} {detail}\n'
        with self._log_lock, contextlib.suppress(OSError, ValueError):  # closed or full stream
            stream.write(line)
            stream.flush()


def _peer(conn: socket.socket) -> str:
    try:
        address = conn.getpeername()
    except OSError:
        return "-"
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"{host}:{address[1]}"


def _set_hops(conn: socket.socket, hops: int) -> None:
    """Set the IP TTL (IPv4) or unicast hop limit (IPv6) of what ``conn`` sends from now on."""
    with contextlib.suppress(OSError):
        if conn.family == socket.AF_INET6:
            conn.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
        else:
            conn.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)


def _printable(text: str, limit: int = 200) -> str:
    """Request text made safe for a log line: ASCII printable, escapes for the rest, bounded."""
    out = "".join(c if " " <= c <= "~" and c != '"' else f"\\x{ord(c):02x}" for c in text)
    return out if len(out) <= limit else out[:limit] + "..."


class _RequestDeadline:
    """A connection's reads for one request, all ended by one deadline.

    A per-read timeout alone lets a peer that drips a byte at a time (or withholds a declared
    body) hold a connection and a server thread for ever; here the whole request must arrive
    within ``idle_timeout`` of the simulator starting to wait for it.
    """

    def __init__(self, conn: socket.socket, seconds: float) -> None:
        self._conn = conn
        self._until = time.monotonic() + seconds

    def recv(self, size: int, /) -> bytes:
        left = self._until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within idle_timeout")
        self._conn.settimeout(left)
        return self._conn.recv(size)
