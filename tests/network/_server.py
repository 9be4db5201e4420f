"""A long-running lab process (the simulator, the proxy) that answers on stdin and stdout."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from typing import Any, Callable

__all__ = ["Server"]


class Server:
    """A long-running lab process (the simulator, a proxy) that answers on stdin/stdout."""

    def __init__(
        self,
        process: subprocess.Popen[str],
        name: str,
        end: Callable[[subprocess.Popen[str]], None],
    ) -> None:
        self.process = process
        self._end = end
        self.name = name
        self._pending = b""

    def readline(self, timeout: float = 10.0) -> str:
        """The next stdout line, waiting at most ``timeout`` seconds.

        Read from the pipe's descriptor, never through Python's buffered reader: lines that
        reader had already pulled in would be invisible to ``select``.
        """
        line = self._next_line(timeout)
        if line is None:
            raise AssertionError(f"{self.name}: no output within {timeout:g} s")
        return line

    def _next_line(self, timeout: float) -> str | None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                err = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"{self.name} exited ({self.process.poll()}): {err}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode().strip()

    def drain(self, quiet: float = 0.3) -> list[str]:
        """Every stdout line so far, until ``quiet`` seconds pass without one."""
        lines: list[str] = []
        while (line := self._next_line(quiet)) is not None:
            lines.append(line)
        return lines

    def ask(self, command: str) -> Any:
        """Send one command line and return its JSON answer (``_labserver.py``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.readline())

    def set(self, **knobs: Any) -> None:
        """Change simulator knobs while it serves."""
        self.ask(f"set {json.dumps(knobs)}")

    def call(self, method: str, **kwargs: Any) -> None:
        """Call a simulator method, e.g. ``call("inject", kind="reset")``."""
        self.ask(f"call {method} {json.dumps(kwargs)}")

    def log(self) -> list[tuple[str, str, int | None]]:
        """The simulator's request log: (method, path, status)."""
        return [(m, p, s) for m, p, s, *_ in self.ask("log")]

    def count(self, method: str) -> int:
        """How many requests with ``method`` the simulator saw."""
        return sum(1 for m, _, _ in self.log() if m == method)

    def clear(self) -> None:
        """Forget the request log."""
        self.ask("clear")

    def stop(self) -> None:
        """End it by its PID: close stdin, then SIGTERM, then SIGKILL."""
        self._end(self.process)
