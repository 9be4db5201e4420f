"""The simulator out of descriptors, memory or threads (``ulimit -n``, ``ulimit -v``): it recovers.

Each test runs the simulator in a child process whose limits ``resource.setrlimit`` lowers once
the simulator is up, floods it with idle connections from this process (loopback, bounded), lets
them go, and checks that the server then serves again, never spun (its accept failures are few
and spaced by backoff) and never printed a traceback.
"""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import IO

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and relies on Linux rlimits"
)

DEADLINE = 30.0  # seconds any one wait may take before the test fails (never reached when fine)

CHILD = textwrap.dedent(
    """
    import logging, os, resource, sys
    from imdsclient.testing import IMDSSimulator

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    kind, headroom = sys.argv[1], int(sys.argv[2])
    with IMDSSimulator() as sim:
        if kind == "files":
            used = len(os.listdir("/proc/self/fd"))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (used + headroom, hard))
        else:
            with open("/proc/self/status") as status:
                size = next(int(l.split()[1]) for l in status if l.startswith("VmSize:"))
            resource.setrlimit(resource.RLIMIT_AS, ((size << 10) + (headroom << 20), -1))
        print(sim.url, flush=True)
        sys.stdin.readline()
        print(sim.accept_errors, len(sim.internal_errors), flush=True)
    """
)


class Child:
    """The simulator in a child process, talking over its stdin/stdout/stderr."""

    def __init__(self, kind: str, headroom: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, kind, str(headroom)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        line = self._line(self.proc.stdout)
        self.port = int(line.rsplit(":", 1)[1])

    def _line(self, stream: IO[str] | None) -> str:
        return _read_line(stream).rstrip("\n")

    def wait_for_warnings(self, count: int) -> None:
        """Read stderr until ``count`` accept-failure warnings have been printed."""
        while sum("cannot accept a connection" in line for line in self.stderr) < count:
            self.stderr.append(self._line(self.proc.stderr))

    def finish(self) -> tuple[int, int, str]:
        """(accept errors, internal errors, rest of stderr) once the child has stopped."""
        out, err = self.proc.communicate("\n", timeout=DEADLINE)
        accept_errors, internal = (int(v) for v in out.split())
        return accept_errors, internal, "\n".join([*self.stderr, err])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def flood() -> Iterator[list[socket.socket]]:
    """Client sockets opened by a test; all closed afterwards."""
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def get_instance_id(port: int) -> bytes:
    request = b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def get_after_recovery(port: int, tries: int = 200) -> bytes:
    """The instance id once the server has its threads back: connections that arrive while the
    flood's handlers are still ending may be shed (reset); recovery, not the first try, is
    what is promised."""
    for _ in range(tries - 1):
        try:
            return get_instance_id(port)
        except ConnectionResetError:
            continue
    return get_instance_id(port)


def test_out_of_file_descriptors_backs_off_and_recovers(flood: list[socket.socket]) -> None:
    """ulimit -n: EMFILE on accept is reported, retried with backoff, and the server comes back."""
    child = Child("files", headroom=24)
    try:
        for _ in range(80):  # far more than the child can hold open
            flood.append(socket.create_connection(("127.0.0.1", child.port), timeout=DEADLINE))
        child.wait_for_warnings(3)
        for sock in flood:
            sock.close()
        flood.clear()
        assert get_after_recovery(child.port).endswith(b"\r\n\r\ni-1234567890abcdef0")
        accept_errors, internal, stderr = child.finish()
    finally:
        child.kill()
    assert "EMFILE" in stderr
    assert 3 <= accept_errors < 60  # backoff, not a spinning loop (which fails thousands of times)
    assert internal == 0
    assert "Traceback" not in stderr


def test_out_of_address_space_backs_off_and_recovers(flood: list[socket.socket]) -> None:
    """ulimit -v: threads cannot start; those connections are dropped, and serving resumes."""
    child = Child("memory", headroom=40)  # room for a few 8 MiB thread stacks, not for 60
    try:
        for _ in range(60):
            flood.append(socket.create_connection(("127.0.0.1", child.port), timeout=DEADLINE))
        child.wait_for_warnings(2)
        for sock in flood:
            sock.close()
        flood.clear()
        assert get_after_recovery(child.port).endswith(b"\r\n\r\ni-1234567890abcdef0")
        accept_errors, internal, stderr = child.finish()
    finally:
        child.kill()
    assert "can't start new thread" in stderr or "MemoryError" in stderr
    assert 2 <= accept_errors < 120
    assert internal == 0
    assert "Traceback" not in stderr


SERVE = textwrap.dedent(
    """
    import resource, sys
    from imdsclient._cli import main

    with open("/proc/self/status") as status:
        size = next(int(l.split()[1]) for l in status if l.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, ((size << 10) + (160 << 20), -1))
    sys.exit(main(["serve", "--port", "0"]))
    """
)


def test_ctrl_c_in_serve_under_ulimit_v_is_quiet(flood: list[socket.socket]) -> None:
    """`serve` short of memory: threads fail, a GET still works after, Ctrl-C exits 0 quietly."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        line = _read_line(proc.stdout)
        port = int(next(w for w in line.split() if w.startswith("http://")).rsplit(":", 1)[1])
        for _ in range(60):
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=DEADLINE))
        while not any("cannot accept a connection" in text for text in seen):
            seen.append(_read_line(proc.stderr))
        for sock in flood:
            sock.close()
        flood.clear()
        assert get_after_recovery(port).endswith(b"i-1234567890abcdef0")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "can't start new thread" in seen[-1]
    assert "Traceback" not in "".join(seen) + err


def _read_line(stream: IO[str] | None) -> str:
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], DEADLINE)
    assert ready, "the child process said nothing in time"
    line = stream.readline()
    assert line, "the child process ended"
    return line
