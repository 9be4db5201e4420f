"""HTTP/1.x framing for the simulator's TCP shell: read and parse a request head, write an answer.

Pure functions over bytes and sockets, no simulator state: ``_server.py`` drives them. Anything a
client can send that is not a well-formed IMDS request raises :class:`BadRequest` with the status
to answer (400, 413, 431); nothing here raises anything else for bad input.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

from imdsclient.testing._wire import REASONS, Reply

__all__ = ["MAX_BODY", "MAX_HEAD", "BadRequest", "Head", "parse_head", "read_head", "serialise"]

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/(1\.[01])")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²", which int() refuses


class BadRequest(Exception):
    """The request cannot be served; answer ``status`` and close the connection."""

    def __init__(self, status: int, method: str = "", target: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.method = method
        self.target = target


class Head(NamedTuple):
    """A parsed request head. ``keep_alive``: what the client asked for (HTTP/1.1 default on)."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    keep_alive: bool
    length: int


class Receiver(Protocol):
    """Where a request's bytes come from (a socket, or one read under a deadline)."""

    def recv(self, size: int, /) -> bytes: ...


def read_head(conn: Receiver, buf: bytearray) -> tuple[bytes | None, bytearray]:
    """Return the request head (up to the blank line) and what follows it.

    ``None`` as the head: the peer closed the connection before sending a complete head.
    """
    start = 0
    while True:
        match = _HEAD_END.search(buf, start)
        if match is not None:
            return bytes(buf[: match.start()]), buf[match.end() :]
        first_eol = buf.find(b"\n")
        if first_eol >= 0 and not _REQUEST_LINE.fullmatch(
            buf[:first_eol].rstrip(b"\r").decode("latin-1")
        ):
            raise BadRequest(400)
        if len(buf) > MAX_HEAD:
            raise BadRequest(431)
        start = max(0, len(buf) - 3)
        chunk = conn.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk


def parse_head(head: bytes) -> Head:
    """Validate a request head the way IMDS needs it; :class:`BadRequest` otherwise."""
    if len(head) > MAX_HEAD:
        raise BadRequest(431)
    lines = head.decode("latin-1").split("\n")
    match = _REQUEST_LINE.fullmatch(lines[0].rstrip("\r"))
    if match is None:
        raise BadRequest(400)
    method, target, version = match.groups()
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        name, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME.fullmatch(name):
            raise BadRequest(400, method, target)
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if not target.startswith("/"):
        raise BadRequest(400, method, target)
    if version == "1.1" and "host" not in headers:
        raise BadRequest(400, method, target)
    if "transfer-encoding" in headers:
        raise BadRequest(400, method, target)  # IMDS requests have no body worth chunking
    raw_length = headers.get("content-length", "0")
    if not _DIGITS.fullmatch(raw_length):
        raise BadRequest(400, method, target)
    length = int(raw_length)
    if length > MAX_BODY:
        raise BadRequest(413, method, target)
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version == "1.1" or "keep-alive" in connection)
    return Head(method, target, version, headers, keep_alive, length)


def serialise(reply: Reply, *, head_only: bool, close: bool, date: str, version: str) -> bytes:
    """The whole answer as one byte string, so that it leaves in one segment.

    After the core's own headers come ``Content-Length``, ``Date``, ``Server: EC2ws`` and
    ``Connection``, in the order real IMDS sends them.
    """
    lines = [f"HTTP/{version} {reply.status} {REASONS.get(reply.status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in reply.headers)
    lines.append(f"Content-Length: {len(reply.body)}")
    lines.append(f"Date: {date}")
    lines.append("Server: EC2ws")
    lines.append("Connection: close" if close else "Connection: keep-alive")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + reply.body
