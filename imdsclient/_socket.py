"""The sync client's HTTP/1.1 over a blocking socket, for ``http://`` endpoints.

IMDS speaks plain HTTP/1.1 on a link-local address, one short answer per request.  Sending that
through httpcore cost a one-shot ``get`` most of its start-up (httpcore, h11, anyio, ssl and
certifi are imported for one exchange) and a warm ``get`` a state machine per byte (#15).  This
module sends the same request bytes and reads the answer itself, under the same guarantees as
the httpcore streams of :mod:`imdsclient._core_pool`:

- every connect, write and read gets at most what is left of the attempt
  (:func:`~imdsclient._transport._limit`), so a drip or endless ``1xx`` answers end in time;
- the head is bounded (128 KiB) and must be well formed (no folded lines, no garbage); the body
  is framed by ``Content-Length``, ``Transfer-Encoding: chunked``, or the end of the
  connection, and its reader (:class:`~imdsclient._transport._Body`) stops at the size cap;
- a connection is kept for the next request only after a final answer whose one
  ``Content-Length`` (:func:`~imdsclient._transport._content_length`) ended exactly there,
  without ``Connection: close``; before reuse an idle connection must have nothing to read.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator

from imdsclient._protocol import Request
from imdsclient._transport import (
    _HEAD_END,
    _MAX_HEAD,
    _REFUSED,
    _WITH_BODY,
    ConnectError,
    ConnectTimeout,
    LocalProtocolError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    WriteError,
    WriteTimeout,
    _content_length,
    _Endpoint,
    _limit,
    _Opened,
    _readable,
)

_MAX_IDLE = 32
_IDLE_EXPIRY = 30.0
_RECV = 65536

# What h11 accepts: a status line, and header lines of a token, a colon and a value.
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?\r?")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*\r?")
_TARGET = re.compile(r"/[\x21-\x7e]*")
_VALUE = re.compile(r"[^\x00\r\n]*")


class SocketPool:
    """The idle keep-alive connections of one client, and the ones in use (so ``close`` can
    abort them: a thread blocked reading one ends with ``FailureKind.CLOSED``)."""

    def __init__(self, endpoint: _Endpoint) -> None:
        self.endpoint = endpoint
        self._address = (endpoint.host.decode(), endpoint.port or 80)
        host, *rest = endpoint.headers
        self._host = b"%s: %s\r\n" % host
        self._rest = b"".join(b"%s: %s\r\n" % header for header in rest)
        self._lock = threading.Lock()
        self._idle: list[tuple[_Connection, float]] = []
        self._busy: set[_Connection] = set()
        self._closed = False

    def open(self, request: Request) -> _Opened:
        """Send ``request`` and read the answer's head; the body is read by the caller."""
        head = self._head(request)
        connection = self._take(request)
        try:
            connection.send(head)
            status, headers = connection.answer()
        except BaseException:
            self._done(connection)
            raise
        return status, headers, connection.body(), lambda: self._done(connection)

    def _head(self, request: Request) -> bytes:
        """The request's head: the bytes httpx sends, in its order."""
        if not _TARGET.fullmatch(request.path):
            raise LocalProtocolError("an invalid request target")
        lines = [f"{request.method} {request.path} HTTP/1.1\r\n".encode(), self._host]
        if request.method in _WITH_BODY:
            lines.append(b"Content-Length: 0\r\n")
        lines.append(self._rest)
        for name, value in request.headers.items():
            if not _VALUE.fullmatch(value):
                raise LocalProtocolError(f"an invalid value for the {name} header")
            lines.append(f"{name}: {value}\r\n".encode())
        lines.append(b"\r\n")
        return b"".join(lines)

    def _take(self, request: Request) -> _Connection:
        """An idle connection still good to use, or a new one."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                raise ConnectError(_REFUSED)
            while self._idle:
                connection, since = self._idle.pop()
                if now - since < _IDLE_EXPIRY and not _readable(connection.sock):
                    self._busy.add(connection)
                    return connection
                connection.sock.close()
        connection = _Connection(self._connect(request), self.endpoint.timeout)
        if not self._register(connection):  # closed while connecting
            connection.sock.close()
            raise ConnectError(_REFUSED)
        return connection

    def _register(self, connection: _Connection) -> bool:
        with self._lock:
            if not self._closed:
                self._busy.add(connection)
            return not self._closed

    def _connect(self, request: Request) -> socket.socket:
        given = self.endpoint.timeouts_for(request)["connect"]
        try:
            sock = socket.create_connection(self._address, _limit(given, ConnectTimeout))
        except socket.timeout as exc:
            raise ConnectTimeout(str(exc)) from exc
        except OSError as exc:  # refused, unreachable, ...: the errno stays on the cause
            raise ConnectError(str(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _done(self, connection: _Connection) -> None:
        """Keep ``connection`` for the next request if its answer allows it, or close it."""
        with self._lock:
            self._busy.discard(connection)
            if connection.reusable() and not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append((connection, time.monotonic()))
                return
        connection.sock.close()

    def close(self) -> None:
        """Close the idle connections; abort the ones in use (their owner closes them)."""
        with self._lock:
            self._closed = True
            idle, busy, self._idle, self._busy = self._idle, self._busy, [], set()
        for connection, _ in idle:
            connection.sock.close()
        for connection in busy:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)


class _Connection:
    """One connection and what it has read of the current answer."""

    __slots__ = ("buffer", "chunked", "complete", "keep", "left", "sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock, self.timeout = sock, timeout
        self.buffer = bytearray()
        self.keep = self.complete = self.chunked = False
        self.left: int | None = None  # body bytes to read; None: until the connection ends

    def reusable(self) -> bool:
        return self.keep and self.complete and not self.buffer

    def send(self, data: bytes) -> None:
        self.keep = self.complete = False
        self.sock.settimeout(_limit(self.timeout, WriteTimeout))
        try:
            self.sock.sendall(data)
        except socket.timeout as exc:
            raise WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise WriteError(str(exc)) from exc

    def _recv(self) -> bytes:
        """What is buffered, or what arrives within what is left of the attempt."""
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            return data
        self.sock.settimeout(_limit(self.timeout, ReadTimeout))
        try:
            return self.sock.recv(_RECV)
        except socket.timeout as exc:
            raise ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise ReadError(str(exc)) from exc

    def _until(self, end: re.Pattern[bytes], what: str) -> bytes:
        """The bytes up to ``end`` (consumed, not returned), at most ``_MAX_HEAD`` of them."""
        buffer = bytearray()
        while True:
            found = end.search(buffer)
            if found is not None:
                self.buffer = buffer[found.end() :] + self.buffer
                return bytes(buffer[: found.start()])
            if len(buffer) > _MAX_HEAD:
                raise RemoteProtocolError(f"{what} over {_MAX_HEAD} bytes")
            data = self._recv()
            if not data:
                raise RemoteProtocolError(f"the server closed the connection in the {what}")
            buffer += data

    def answer(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Read heads until a final one (``1xx`` answers are skipped); set up the body."""
        interim = False
        while True:
            head = self._until(_HEAD_END, "answer's head")
            version, status, headers = _parse(head)
            if status >= 200:
                break
            if status == 101:
                raise RemoteProtocolError("an unexpected 101 Switching Protocols")
            interim = True
        length = _content_length(head)
        options = b",".join(v for k, v in headers if k.lower() == b"connection").lower()
        close = b"close" in (option.strip() for option in options.split(b",")) or version == b"0"
        self.keep = length is not None and not interim and not close
        self.chunked, self.left = False, length
        if length is None:
            encodings = [v.strip().lower() for k, v in headers if k.lower() == b"transfer-encoding"]
            if status in (204, 304):
                self.left = 0
            elif encodings:
                if encodings != [b"chunked"]:
                    raise RemoteProtocolError("a Transfer-Encoding other than chunked")
                self.chunked = True
            elif any(k.lower() == b"content-length" for k, _ in headers):
                raise RemoteProtocolError("a Content-Length that does not frame the body")
        return status, headers

    def body(self) -> Iterator[bytes]:
        """The body's bytes as they arrive; ``complete`` once it ended where it said."""
        if self.chunked:
            yield from self._chunks()
        elif self.left is None:
            while data := self._recv():
                yield data
        else:
            yield from self._exactly(self.left)
        self.complete = True

    def _exactly(self, size: int) -> Iterator[bytes]:
        while size > 0:
            data = self._recv()
            if not data:
                raise RemoteProtocolError("the server closed the connection in the body")
            if len(data) > size:
                self.buffer, data = bytearray(data[size:]), data[:size]
            size -= len(data)
            yield data

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size = self._until(_LINE_END, "chunk size").split(b";", 1)[0].strip()
            if not (0 < len(size) <= 16 and all(c in _HEX for c in size)):
                raise RemoteProtocolError("an invalid chunk size")
            if size.strip(b"0") == b"":
                break
            yield from self._exactly(int(size, 16))
            if self._until(_LINE_END, "chunk end"):
                raise RemoteProtocolError("a chunk longer than it said")
        while self._until(_LINE_END, "trailer"):  # trailers: each bounded, the attempt bounds all
            pass


_LINE_END = re.compile(rb"\r?\n")
_HEX = b"0123456789abcdefABCDEF"


def _parse(head: bytes) -> tuple[bytes, int, list[tuple[bytes, bytes]]]:
    """A head's HTTP minor version, status and header fields; garbage is a protocol error."""
    status_line, *lines = head.split(b"\n")
    status = _STATUS.fullmatch(status_line)
    if status is None:
        raise RemoteProtocolError("an answer that is not HTTP/1.x")
    headers = []
    for line in lines:
        field = _FIELD.fullmatch(line)
        if field is None:  # folded, no colon, bad name
            raise RemoteProtocolError("a malformed header line")
        headers.append((field[1], field[2]))
    return status[1], int(status[2]), headers
