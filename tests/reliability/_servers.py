"""A tiny raw-socket HTTP/1.1 server on 127.0.0.1 for tests that need to see (and script) the wire.

It records every accepted connection (the client's port) and every request (port, method,
path), and answers with whatever ``respond(method, path)`` yields, in turn:

- ``bytes``: written as they are (so an answer can be streamed without being held whole);
- a ``float``: a pause of that many seconds (cut short when the server closes);
- :data:`CLOSE`: hang up now.

The helpers below build hostile answers from those pieces (:func:`drip`, :func:`interim`,
:func:`hang`); ``tests/reliability/_hostile.py`` names the behaviours the suite and
``benchmarks/hostile.py`` share.  Loopback only, and every pause ends when ``close()`` is called,
so a test never waits on a server thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Union

__all__ = ["CLOSE", "Piece", "RawServer", "drip", "hang", "interim", "simple_answer"]


class _Close:
    def __repr__(self) -> str:
        return "CLOSE"


#: Yielded by a script: hang up the connection now.
CLOSE = _Close()
Piece = Union[bytes, float, _Close]
Respond = Callable[[str, str], Iterable[Piece]]


def simple_answer(status: int, body: bytes = b"", *headers: str) -> list[bytes]:
    """One complete keep-alive answer with a Content-Length."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return [("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body]


def drip(data: bytes, every: float, size: int = 1) -> Iterator[Piece]:
    """``data`` ``size`` bytes at a time, ``every`` seconds apart (a slow-drip server)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
        yield every


def interim(every: float, count: int = 100_000) -> Iterator[Piece]:
    """``102 Processing`` interim answers, ``every`` seconds apart, ``count`` of them."""
    for _ in range(count):
        yield b"HTTP/1.1 102 Processing\r\n\r\n"
        yield every


def hang(seconds: float = 3600.0) -> Iterator[Piece]:
    """Say nothing for ``seconds`` (until the server closes), then hang up."""
    yield seconds
    yield CLOSE


class RawServer:
    """Accepts on 127.0.0.1 (ephemeral port) until ``close()``; one thread per connection."""

    def __init__(self, respond: Respond | None = None) -> None:
        self.respond = respond
        self.connections: list[int] = []
        self.requests: list[tuple[int, str, str]] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, (_, port) = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self.connections.append(port)
                self._conns.append(conn)
            if self.respond is None:
                conn.close()
                continue
            thread = threading.Thread(target=self._serve, args=(conn, port), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        assert self.respond is not None
        conn.settimeout(5)
        buf = b""
        with contextlib.suppress(OSError), conn:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
                with self._lock:
                    self.requests.append((port, method, path))
                for piece in self.respond(method, path):
                    if isinstance(piece, _Close):
                        return
                    if isinstance(piece, float):
                        if self._stop.wait(piece):
                            return
                        continue
                    conn.sendall(piece)
                    with self._lock:
                        self.sent += len(piece)

    def close(self) -> None:
        self._stop.set()
        self._accepter.join()
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
