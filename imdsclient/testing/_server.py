"""The simulator's TCP shell: a small threaded HTTP/1.1 server around the sans-IO core.

Written on raw sockets rather than ``http.server`` for two reasons. Speed: each answer is built as
one byte string and written with a single ``sendall`` on a ``TCP_NODELAY`` socket, which avoids
the ~40 ms Nagle/delayed-ACK stall per keep-alive request. Control: faults need to reset or hold a
connection, and ``stop()`` must close every live connection (hung ones included) and join every
thread at once. Bad input of any kind is answered with 400/405/413/431 and the connection closed;
nothing a client sends can raise out of a server thread.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Literal

from imdsclient.testing._state import AUTO, SimulatorState, _Auto
from imdsclient.testing._timeline import Timeline
from imdsclient.testing._wire import REASONS, Reply, SimulatorClock, error_page

__all__ = ["IMDSSimulator", "serve"]

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/(1\.[01])")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²", which int() refuses


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date(second: int) -> str:
    """RFC 9110 date (``Sun, 06 Nov 1994 08:49:37 GMT``) without importing email.utils."""
    t = time.gmtime(second)
    day, month = _DAYS[t.tm_wday], _MONTHS[t.tm_mon - 1]
    return f"{day}, {t.tm_mday:02d} {month} {t.tm_year} {time.strftime('%H:%M:%S', t)} GMT"


class _BadRequest(Exception):
    def __init__(self, status: int, method: str = "", target: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.method = method
        self.target = target


class IMDSSimulator(SimulatorState):
    """A fake EC2 Instance Metadata Service on a real socket (127.0.0.1, ephemeral port).

    Use it as a context manager (or ``start()``/``stop()``) and point a client at ``.url``. Every
    knob below is also an attribute that may be changed while the server runs.

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
        tags_enabled: False makes ``tags/instance/`` answer 404 (tags not allowed in metadata).
        iam_role: role whose rotating credentials are generated; None: no instance profile.
            Default: ``"baskinc-role"`` with the default tree, None with a custom tree.
        credential_lifetime: seconds generated credentials stay valid (default 6 h).
        credential_refresh_margin: new credentials appear when less than this is left (15 min).
        log_limit: how many requests ``.requests`` keeps (oldest dropped); None: unbounded.
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
        tags_enabled: bool = True,
        iam_role: str | _Auto | None = AUTO,
        credential_lifetime: float = 6 * 3600,
        credential_refresh_margin: float = 15 * 60,
        log_limit: int | None = 100_000,
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
            log_limit=log_limit,
            timeline=timeline,
        )
        self.host = host
        self.port = port
        self.internal_errors: list[BaseException] = []
        """Unexpected exceptions caught in server threads (a simulator bug if not empty)."""
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        # Every connection thread still alive; a thread leaves _conns a moment before it ends,
        # so stop() joins these too (pruned as new connections arrive).
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._started = False
        self._date_second = -1
        self._date = ""

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:49152``."""
        if self._listener is None:
            raise RuntimeError("the simulator is not running; call start() or use `with`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> IMDSSimulator:
        """Bind, listen and serve from a daemon thread; returns self."""
        if self._started:
            raise RuntimeError("an IMDSSimulator can be started once")
        self._started = True
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"imds-simulator:{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection (hung ones too) and join all threads."""
        if self._stopping.is_set() or not self._started:
            return
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join()
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        with self._conns_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._conns_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> IMDSSimulator:
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- accepting

    def _accept_loop(self) -> None:
        assert self._listener is not None
        assert self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is not self._listener or self._stopping.is_set():
                        return
                    try:
                        conn, _addr = self._listener.accept()
                    except OSError:
                        continue
                    self._spawn(conn)

    def _spawn(self, conn: socket.socket) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(conn,), name="imds-simulator-conn", daemon=True
        )
        with self._conns_lock:
            self._conns[conn] = thread
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    # ---------------------------------------------------------------- one connection

    def _serve_connection(self, conn: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._request_loop(conn)
        except OSError:
            pass  # the peer went away, or stop() shut the socket: either way, done
        except Exception as exc:  # a simulator bug must not kill the test process
            self.internal_errors.append(exc)
            with contextlib.suppress(OSError):
                conn.sendall(self._serialise(Reply(500, error_page(500)), False, True))
        finally:
            with self._conns_lock:
                self._conns.pop(conn, None)
            conn.close()

    def _request_loop(self, conn: socket.socket) -> None:
        buf = bytearray()
        while not self._stopping.is_set():
            try:
                head, buf = self._read_head(conn, buf)
            except _BadRequest as bad:
                self._answer_bad(conn, bad)
                return
            if head is None:
                return
            try:
                method, target, headers, keep_alive, length = self._parse_head(head)
            except _BadRequest as bad:
                self._answer_bad(conn, bad)
                return
            while len(buf) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            del buf[:length]
            reply = self.handle(method, target, headers)
            if reply.action == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if reply.action == "hang":
                while conn.recv(65536):  # until the client gives up or stop() shuts us
                    pass
                return
            conn.sendall(self._serialise(reply, method == "HEAD", not keep_alive))
            if not keep_alive:
                return

    def _read_head(self, conn: socket.socket, buf: bytearray) -> tuple[bytes | None, bytearray]:
        """Return the request head (up to the blank line) and what follows it."""
        start = 0
        while True:
            match = _HEAD_END.search(buf, start)
            if match is not None:
                return bytes(buf[: match.start()]), buf[match.end() :]
            first_eol = buf.find(b"\n")
            if first_eol >= 0 and not _REQUEST_LINE.fullmatch(
                buf[:first_eol].rstrip(b"\r").decode("latin-1")
            ):
                raise _BadRequest(400)
            if len(buf) > MAX_HEAD:
                raise _BadRequest(431)
            start = max(0, len(buf) - 3)
            chunk = conn.recv(65536)
            if not chunk:
                return None, buf
            buf += chunk

    @staticmethod
    def _parse_head(head: bytes) -> tuple[str, str, dict[str, str], bool, int]:
        if len(head) > MAX_HEAD:
            raise _BadRequest(431)
        lines = head.decode("latin-1").split("\n")
        match = _REQUEST_LINE.fullmatch(lines[0].rstrip("\r"))
        if match is None:
            raise _BadRequest(400)
        method, target, version = match.groups()
        headers: dict[str, str] = {}
        for raw in lines[1:]:
            line = raw.rstrip("\r")
            name, sep, value = line.partition(":")
            if not sep or not _HEADER_NAME.fullmatch(name):
                raise _BadRequest(400, method, target)
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if not target.startswith("/"):
            raise _BadRequest(400, method, target)
        if version == "1.1" and "host" not in headers:
            raise _BadRequest(400, method, target)
        if "transfer-encoding" in headers:
            raise _BadRequest(400, method, target)  # IMDS requests have no body worth chunking
        raw_length = headers.get("content-length", "0")
        if not _DIGITS.fullmatch(raw_length):
            raise _BadRequest(400, method, target)
        length = int(raw_length)
        if length > MAX_BODY:
            raise _BadRequest(413, method, target)
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (version == "1.1" or "keep-alive" in connection)
        return method, target, headers, keep_alive, length

    def _answer_bad(self, conn: socket.socket, bad: _BadRequest) -> None:
        self.record(bad.method, bad.target, {}, bad.status)
        reply = Reply(bad.status, error_page(bad.status), (("Content-Type", "text/html"),))
        conn.sendall(self._serialise(reply, False, True))

    def _serialise(self, reply: Reply, head_only: bool, close: bool) -> bytes:
        """The whole answer as one byte string, so it leaves in one segment."""
        second = int(self._clock.time())
        if second != self._date_second:
            self._date, self._date_second = _http_date(second), second
        lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}"]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        lines.append(f"Content-Length: {len(reply.body)}")
        lines.append(f"Date: {self._date}")
        lines.append("Server: EC2ws")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + reply.body


def serve(
    host: str = "127.0.0.1",
    port: int = 1338,
    *,
    stop: threading.Event | None = None,
    out: IO[str] | None = None,
    **knobs: object,
) -> None:
    """Run a simulator in the foreground until Ctrl-C (or until ``stop`` is set).

    Prints the URL first, so scripts can read it. ``knobs`` are ``IMDSSimulator`` keywords. The
    request log is capped at 10 000 entries, since a long-running server has no reader for it.
    """
    stream = out if out is not None else sys.stdout
    knobs.setdefault("log_limit", 10_000)
    simulator = IMDSSimulator(host=host, port=port, **knobs)  # type: ignore[arg-type]
    with simulator:
        print(f"IMDS simulator listening on {simulator.url} (Ctrl-C to stop)", file=stream)
        stream.flush()
        waiter = stop if stop is not None else threading.Event()
        try:
            while not waiter.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
