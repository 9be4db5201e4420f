"""Worst-case wall time and peak memory against hostile IMDS servers (docs/performance.md).

Every behaviour of ``tests/reliability/_hostile.py`` is played by a raw-socket server on
127.0.0.1 at the issue's pace (one byte, or one ``102`` interim answer, every 0.5 s), against
**default settings** (timeout 1 s, 3 attempts, real backoff).  For each, in a child process that
is killed at ``--limit`` seconds (a hang shows as ``> limit``):

- ``get``: ``IMDSClient().get("instance-id")``, and ``AsyncIMDSClient``'s;
- ``is_available()``;
- the CLI: ``python -m imdsclient get instance-id`` (interpreter start-up included);
- botocore: ``InstanceMetadataFetcher(timeout=1, num_attempts=1).retrieve_iam_role_credentials()``
  (its defaults; one PUT and two GETs), when botocore is installed;

next to the bound docs/retries.md documents for what that server does.  Then peak RSS
(``ru_maxrss`` of the child) of ``imdsclient dump`` against a tree of 1,500 leaves of 1 MiB
(each child capped at 2 GiB of address space) and against the default tree, and of
``imdsclient doctor`` against several behaviours.

The servers, and so the numbers, are the same for any imdsclient: to measure another tree (the
code before a change), put it first on ``PYTHONPATH``.  Loopback only; every child is ended by
its PID.

Usage: ``python benchmarks/hostile.py [--quick] [--runs N] [--limit SECONDS] [--pace SECONDS]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from _bench import clean_environment, loopback_only, machine, table

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: see docstring

from tests.reliability._hostile import BEHAVIOURS, TOKEN, Behaviour, respond
from tests.reliability._servers import Piece, RawServer, simple_answer

MiB = 1024 * 1024
#: The root of the imdsclient being measured (the first on PYTHONPATH, else this repository).
TREE = str(Path(str(__import__("imdsclient").__file__)).resolve().parent.parent)

#: Child programs: each prints {"seconds": ..., "outcome": ...}; URL is argv[1].
_TIMED = """
import json, sys, time
URL = sys.argv[1]
{imports}
start = time.perf_counter()
try:
    value = {call}
    outcome = repr(value)[:40]
except Exception as exc:
    outcome = type(exc).__name__
print(json.dumps({{"seconds": time.perf_counter() - start, "outcome": outcome}}))
"""
PROGRAMS = {
    "get": (
        "from imdsclient import IMDSClient\nclient = IMDSClient(endpoint=URL)",
        "client.get('instance-id')",
    ),
    "async get": (
        "import asyncio\nfrom imdsclient import AsyncIMDSClient\n"
        "async def run():\n    async with AsyncIMDSClient(endpoint=URL) as client:\n"
        "        return await client.get('instance-id')",
        "asyncio.run(run())",
    ),
    "is_available": (
        "from imdsclient import IMDSClient\nclient = IMDSClient(endpoint=URL)",
        "client.is_available()",
    ),
    "botocore": (
        "from botocore.utils import InstanceMetadataFetcher\n"
        "fetcher = InstanceMetadataFetcher(timeout=1, num_attempts=1, base_url=URL + '/')",
        "fetcher.retrieve_iam_role_credentials()",
    ),
}
CONTENDERS = ["get", "async get", "is_available", "cli", "botocore"]

# The documented bounds (docs/retries.md, "How long a call can take") with default settings,
# for what each server does: one attempt at most T + 0.15 s (the SYN-resend slack), T = 1 s; a
# GET that keeps failing costs 3 attempts and waits of at most 0.1 + 0.2 s; throttling 10
# attempts and at most 11.1 s of waits, 18 s with Retry-After >= cap.  A token PUT that is
# answered (or times out) costs one attempt.  (get, is_available), in seconds.
_ATTEMPT = 1.0 + 0.15
_GET_FAILS = (_ATTEMPT + 3 * _ATTEMPT + 0.3, 2 * _ATTEMPT)
BOUNDS: dict[str, tuple[float, float]] = {
    "throttle-retry-after-huge": (_ATTEMPT + 10 * _ATTEMPT + 18, 2 * _ATTEMPT),
    "throttle-retry-after-tiny": (_ATTEMPT + 10 * _ATTEMPT + 11.1, 2 * _ATTEMPT),
    "endless-body": (2 * _ATTEMPT, 2 * _ATTEMPT),
    "short-content-length": (2 * _ATTEMPT, 2 * _ATTEMPT),
    "drip-put": (2 * _ATTEMPT, 2 * _ATTEMPT),
    "interim-put": (2 * _ATTEMPT, 2 * _ATTEMPT),
    "huge-token": (_ATTEMPT, _ATTEMPT),
    "utf16-token": (_ATTEMPT, _ATTEMPT),
}


def spawn(argv: list[str], limit: float, memory: int | None = None) -> tuple[float, str, int, str]:
    """Run ``argv``; (wall seconds, stdout, peak RSS in KiB, how it ended).  Killed by PID at
    ``limit``; ``memory`` caps the child's address space."""

    def cap() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    child = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=TREE,  # `-c` and `-m` put the working directory first: the measured tree's root
        preexec_fn=cap,
    )
    assert child.stdout is not None
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(child.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    ended = "exit"
    rss = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            rss = usage.ru_maxrss
            child.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.perf_counter() - started > limit:
            os.kill(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
            rss, ended = usage.ru_maxrss, "killed"
            child.returncode = -9
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    reader.join(5)
    if ended == "exit":
        ended = f"exit {child.returncode}"
    return seconds, b"".join(out).decode(errors="replace"), rss, ended


def measure(contender: str, url: str, limit: float) -> tuple[float | None, str]:
    """Seconds the contender took (``None``: killed at ``limit``) and what it ended with."""
    url = loopback_only(url)
    if contender == "cli":
        argv = [sys.executable, "-m", "imdsclient", "get", "instance-id", "--endpoint", url]
        seconds, _, _, ended = spawn(argv, limit)
        return (None, "hung") if ended == "killed" else (seconds, ended)
    imports, call = PROGRAMS[contender]
    program = _TIMED.format(imports=imports, call=call)
    wall, out, _, ended = spawn([sys.executable, "-c", program, url], limit)
    if ended == "killed":
        return None, "hung"
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return wall, "crashed"
    return float(result["seconds"]), str(result["outcome"])


def has_botocore() -> bool:
    try:
        import botocore  # noqa: F401
    except ImportError:
        return False
    return True


def show(seconds: float | None, limit: float) -> str:
    return f"> {limit:g} (hung)" if seconds is None else f"{seconds:.2f}"


def hostile_table(behaviours: Iterable[Behaviour], runs: int, limit: float, pace: float) -> str:
    contenders = [c for c in CONTENDERS if c != "botocore" or has_botocore()]
    rows = []
    for behaviour in behaviours:
        worst: dict[str, float | None] = {}
        outcomes: dict[str, str] = {}
        for contender in contenders:
            worst[contender] = 0.0
            for _ in range(runs if contender != "botocore" else 1):
                with RawServer(respond(behaviour, pace)) as server:
                    seconds, outcomes[contender] = measure(contender, server.url, limit)
                previous = worst[contender]
                worst[contender] = (
                    None if seconds is None or previous is None else max(previous, seconds)
                )
                if seconds is None:
                    break  # a hang is the worst case already
        get_bound, available_bound = BOUNDS.get(behaviour.name, _GET_FAILS)
        rows.append(
            [
                f"`{behaviour.name}`",
                *(show(worst[c], limit) for c in ("get", "async get", "is_available", "cli")),
                f"{get_bound:.3g} / {available_bound:.3g}",
                show(worst["botocore"], limit) if "botocore" in worst else "-",
                outcomes["get"],
                outcomes.get("botocore", "-"),
            ]
        )
        print(f"  {' | '.join(rows[-1])}", file=sys.stderr)
    headers = ["behaviour", "get", "async get", "is_available", "CLI `get`"]
    headers += ["bound: get / is_available", "botocore", "get ended with", "botocore ended with"]
    return table(headers, rows)


class BigTree:
    """1,500 leaves of 1 MiB - 1 under meta-data/, streamed (the issue's 3.0 GiB case)."""

    def __call__(self, method: str, path: str) -> Iterator[Piece]:
        if method == "PUT":
            yield from simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
            return
        if path.endswith("/"):
            yield from simple_answer(200, "\n".join(f"leaf-{n:04d}" for n in range(1500)).encode())
            return
        yield f"HTTP/1.1 200 OK\r\nContent-Length: {MiB - 1}\r\n\r\n".encode()
        for _ in range(15):
            yield b"x" * 65536
        yield b"x" * 65535


def memory_table(limit: float, pace: float, doctor_for: list[Behaviour]) -> str:
    """Peak RSS of `dump` and `doctor` (children), with how they ended."""
    rows = []
    cli = [sys.executable, "-m", "imdsclient"]

    def row(what: str, responder: Callable[[str, str], Any] | None, argv: list[str]) -> None:
        if responder is None:
            from imdsclient.testing import IMDSSimulator

            with IMDSSimulator() as sim:
                seconds, _, rss, ended = spawn([*argv, "--endpoint", sim.url], limit, 2048 * MiB)
        else:
            with RawServer(responder) as server:
                url = loopback_only(server.url)
                seconds, _, rss, ended = spawn([*argv, "--endpoint", url], limit, 2048 * MiB)
        shown = "hung" if ended == "killed" else ended
        rows.append([what, f"{rss / 1024:.0f} MiB", f"{seconds:.2f} s", shown])
        print(f"  {what}: {rows[-1][1:]}", file=sys.stderr)

    row("`dump`, default tree (simulator)", None, [*cli, "dump"])
    row("`dump`, 1,500 leaves of 1 MiB", BigTree(), [*cli, "dump"])
    row("`doctor`, simulator", None, [*cli, "doctor"])
    for behaviour in doctor_for:
        row(f"`doctor`, `{behaviour.name}`", respond(behaviour, pace), [*cli, "doctor"])
    return table(["run", "peak RSS", "wall", "ended"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few behaviours, one run each")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the worst is shown")
    parser.add_argument("--limit", type=float, default=40.0, help="kill a child after this")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between drips")
    args = parser.parse_args()
    clean_environment()
    behaviours = list(BEHAVIOURS)
    if args.quick:
        names = {"drip-head", "interim-102", "short-content-length", "huge-token"}
        behaviours = [b for b in behaviours if b.name in names]
        args.runs = 1
    import imdsclient

    print(f"# Hostile servers: {machine()}; imdsclient from {Path(imdsclient.__file__).parent}")
    print(f"pace {args.pace:g} s, limit {args.limit:g} s, worst of {args.runs} run(s)\n")
    print(hostile_table(behaviours, args.runs, args.limit, args.pace))
    print()
    doctor = [b for b in BEHAVIOURS if b.name in ("drip-head", "interim-102", "huge-head")]
    print(memory_table(args.limit * 3, args.pace, [] if args.quick else doctor))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
