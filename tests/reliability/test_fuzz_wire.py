"""Fuzzing the wire: generated answers that vary in *time* and *size* as well as content.

Each example is an answer script played by a raw-socket server on 127.0.0.1: interim ``102``s,
a head sent whole or dripped, a body from 0 bytes to past the 1 MiB cap, framed exactly, too
short (extra bytes follow), too long, not at all, twice, or chunked, delivered in pieces of 1
byte to 64 KiB with pauses between them, and ending by keeping the connection, closing it,
going silent or smuggling a second answer.  The client (0.2 s timeout, backoff on a
``FakeClock``) must end every call with a value or an IMDSError, and a clean request right
after must get its own answer, never leftovers.  ``doctor`` must report, never crash.

Hypothesis is derandomized when ``CI`` is set (``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imdsclient import AsyncIMDSClient, IMDSClient, IMDSError, IMDSTimeoutError
from imdsclient._cli import main
from imdsclient.testing import FakeClock
from tests.reliability._hostile import TOKEN, within
from tests.reliability._servers import CLOSE, Piece, RawServer, hang, simple_answer

MiB = 1024 * 1024
TIMEOUT = 0.2
SECOND = b"second-answer"
WIRE = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass(frozen=True)
class Script:
    """One generated answer."""

    status: int
    size: int
    framing: str
    interim: int
    drip_head: bool
    chunk: int
    pause: float
    ending: str

    def pieces(self) -> Iterator[Piece]:
        for _ in range(self.interim):
            yield b"HTTP/1.1 102 Processing\r\n\r\n"
            yield self.pause or 0.01
        body = b"v" * self.size
        length = {"exact": self.size, "short": max(0, self.size - 5), "long": self.size + 100}
        head = [f"HTTP/1.1 {self.status} Fuzzed"]
        if self.framing in length:
            head.append(f"Content-Length: {length[self.framing]}")
        elif self.framing == "twice":
            head += [f"Content-Length: {self.size}", f"Content-Length: {self.size + 1}"]
        elif self.framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode()
        if self.drip_head:
            for byte in range(len(raw_head) - 1):
                yield raw_head[byte : byte + 1]
                yield self.pause or 0.005
            raw_head = raw_head[-1:]
        parts = [raw_head, *self._body(body)]
        if self.ending == "trailing":
            # A second answer written together with the end of this one, as a server that
            # miscounts its Content-Length would.  (A complete answer written *later* is
            # indistinguishable from an answer to the next request: see docs/reliability.md.)
            parts[-1] += b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"
        for index, part in enumerate(parts):
            yield part
            if self.pause and index < len(parts) - 1:
                yield self.pause
        if self.ending == "close":
            yield CLOSE
        elif self.ending == "hang":
            yield from hang()

    def _body(self, body: bytes) -> Iterator[bytes]:
        for start in range(0, len(body), self.chunk):
            part = body[start : start + self.chunk]
            if self.framing == "chunked":
                part = f"{len(part):x}\r\n".encode() + part + b"\r\n"
            yield part
        if self.framing == "chunked":
            yield b"0\r\n\r\n"


scripts = st.builds(
    Script,
    status=st.sampled_from([200, 200, 200, 200, 404, 429, 500, 503, 301, 401]),
    size=st.sampled_from([0, 1, 19, 300, 4096, 65536, MiB - 1, MiB + 1]),
    framing=st.sampled_from(["exact", "exact", "short", "long", "none", "twice", "chunked"]),
    interim=st.sampled_from([0, 0, 0, 1, 3]),
    drip_head=st.booleans(),
    chunk=st.sampled_from([1, 13, 1024, 65536]),
    pause=st.sampled_from([0.0, 0.0, 0.0, 0.002, 0.02]),
    ending=st.sampled_from(["keep", "keep", "close", "hang", "trailing"]),
)


class Stage:
    """The server's script for the call under test, then clean answers for the check after."""

    def __init__(self, script: Script, target: str) -> None:
        self.script, self.target, self.hostile = script, target, True

    def __call__(self, method: str, path: str) -> Iterator[Piece]:
        hits = self.target in ("both", method.lower())
        if self.hostile and hits:
            return self.script.pieces()
        if method == "PUT":
            return iter(simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600"))
        return iter(simple_answer(200, SECOND if path.endswith("second") else b"value"))


CALLS = {
    "get": (("instance-id",), str),
    "get_bytes": (("/latest/user-data",), bytes),
    "list": (("",), list),
    "dump": ((), dict),
    "is_available": ((), bool),
}


def _second(call: Any) -> Any:
    """The clean request after the call under test; a loaded machine may stall a clean exchange
    past the 0.2 s timeout, so a timeout is tried again (twice), anything else is not."""
    for _ in range(2):
        with contextlib.suppress(IMDSTimeoutError):
            return call()
    return call()


def _play(shell: str, stage: Stage, url: str, name: str) -> tuple[Any, Any]:
    """The call under test, then a clean ``get_bytes("second")`` on the same client."""
    args, _ = CALLS[name]
    options: dict[str, Any] = {"endpoint": url, "timeout": TIMEOUT, "clock": FakeClock()}

    if shell == "sync":
        with IMDSClient(**options) as client:
            try:
                first: Any = getattr(client, name)(*args)
            except IMDSError as exc:
                first = exc
            stage.hostile = False
            return first, _second(lambda: client.get_bytes("/latest/second"))

    async def run() -> tuple[Any, Any]:
        async with AsyncIMDSClient(**options) as client:
            try:
                first = await getattr(client, name)(*args)
            except IMDSError as exc:
                first = exc
            stage.hostile = False
            for _ in range(2):  # a loaded machine may stall a clean exchange past 0.2 s
                with contextlib.suppress(IMDSTimeoutError):
                    return first, await client.get_bytes("/latest/second")
            return first, await client.get_bytes("/latest/second")

    return asyncio.run(run())


@WIRE
@given(
    script=scripts,
    target=st.sampled_from(["get", "get", "put", "both"]),
    call=st.sampled_from(sorted(CALLS)),
    shell=st.sampled_from(["sync", "async"]),
)
def test_any_wire_behaviour_ends_in_a_value_or_an_imds_error(
    script: Script, target: str, call: str, shell: str
) -> None:
    """Whatever the timing and size of the answers: a value of the right type or an IMDSError,
    within the liveness bound, and the next clean request gets its own answer."""
    stage = Stage(script, target)
    with RawServer(stage) as server:
        first, second = within(30, lambda: _play(shell, stage, server.url, call))
    expected_type = CALLS[call][1]
    if call == "is_available":
        assert isinstance(first, bool)
    else:
        assert isinstance(first, (expected_type, IMDSError)), first
        if isinstance(first, IMDSError):
            assert str(first)
    assert second == SECOND  # never the smuggled bytes, never a stale answer


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in-process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@settings(WIRE, max_examples=12)
@given(script=scripts, target=st.sampled_from(["get", "put", "both"]))
def test_doctor_reports_any_wire_behaviour(quiet_doctor: None, script: Script, target: str) -> None:
    """doctor against generated answers: exit 0 or 1 with a report, never a usage exit, a
    traceback or a hang."""
    stage = Stage(script, target)
    with RawServer(stage) as server:
        code, out, err = within(
            60, lambda: run_cli("doctor", "--endpoint", server.url, "--timeout", str(TIMEOUT))
        )
    assert code in (0, 1), (code, err)
    assert "Traceback" not in out + err
    assert "token" in out
