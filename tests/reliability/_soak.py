"""The chaos soak: threads and asyncio tasks sharing clients while the simulator misbehaves.

Used at CI size by ``test_chaos_soak.py`` and at full size by ``benchmarks/chaos_soak.py``.

About a fifth of all requests (the token PUT included) fail at random with a seeded
``fault_rate``: 500s, connection resets, truncated JSON, and rare hangs that the client's short
timeout cuts off. On top of that, workers occasionally (seeded dice) force 429/503 bursts with
``throttle_next``, invalidate every token, or make the next token PUT fail. Retries sleep on a
``FakeClock``, so nothing waits for real except the hangs.

The simulator's ``empty`` fault (200 with no body) is not used: an empty value is a valid IMDS
answer, so no client can tell it from the truth, and it would count as a wrong value here.

Expected values come from the simulator over plain httpx before any fault is switched on, so
they do not depend on the client under test.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from imdsclient import AsyncIMDSClient, IMDSClient, IMDSError
from imdsclient._retry import RetryEvent
from imdsclient.testing import FakeClock, IMDSSimulator
from imdsclient.testing._state import FaultKind

__all__ = ["OPERATIONS", "SoakReport", "open_fds", "rss_bytes", "soak"]

TOKEN_PATH = "/latest/api/token"

#: (method, path) pairs the workers call; values are checked against ``expected_values``.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "instance-id"),
    ("get", "ami-id"),
    ("get", "placement/region"),
    ("get", "placement/availability-zone"),
    ("get", "local-ipv4"),
    ("get", "mac"),
    ("get", "/latest/dynamic/instance-identity/signature"),
    ("get_bytes", "/latest/user-data"),
    ("get_json", "/latest/dynamic/instance-identity/document"),
    ("list", ""),
    ("list", "placement/"),
)

#: Fault kinds drawn by ``fault_rate`` (repeats weight the draw): hangs are 1 in 14 faults.
FAULT_KINDS: tuple[FaultKind, ...] = ("error",) * 6 + ("reset",) * 5 + ("bad_json",) * 2 + ("hang",)


@dataclass
class SoakReport:
    """What a soak saw; ``problems()`` lists every broken invariant."""

    calls: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    untyped: list[str] = field(default_factory=list)
    retries: int = 0
    chaos: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    leaked_threads: list[str] = field(default_factory=list)
    fds_before: int = 0
    fds_after: int = 0
    peak_bytes: int | None = None
    growth_bytes: int | None = None
    rss_before: int = 0
    rss_after: int = 0

    def problems(self, *, fd_slack: int = 4, peak_limit: int | None = None) -> list[str]:
        """Every invariant that does not hold, as sentences (empty when all is well)."""
        found = []
        if self.ok + sum(self.errors.values()) != self.calls:
            found.append(
                f"{self.calls} calls but {self.ok} ok + {sum(self.errors.values())} errors"
            )
        if self.wrong:
            found.append(f"{len(self.wrong)} wrong values, e.g. {self.wrong[:3]}")
        if self.untyped:
            found.append(f"{len(self.untyped)} failures not IMDSError, e.g. {self.untyped[:3]}")
        if self.leaked_threads:
            found.append(f"leaked threads: {self.leaked_threads}")
        if self.fds_after - self.fds_before > fd_slack:
            found.append(f"open fds grew from {self.fds_before} to {self.fds_after}")
        if peak_limit is not None and self.peak_bytes is not None and self.peak_bytes > peak_limit:
            found.append(f"traced memory peaked at {self.peak_bytes} bytes (> {peak_limit})")
        return found


def open_fds() -> int:
    """How many file descriptors this process has open (Linux: /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process (Linux: /proc/self/status), 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def expected_values(url: str) -> dict[tuple[str, str], Any]:
    """Each operation's true value, read with plain httpx (not the client under test)."""
    values: dict[tuple[str, str], Any] = {}
    with httpx.Client(base_url=url, trust_env=False, timeout=5) as http:
        for method, path in OPERATIONS:
            full = path if path.startswith("/") else "/latest/meta-data/" + path
            body = http.get(full).raise_for_status().content
            if method == "get":
                values[(method, path)] = body.decode()
            elif method == "get_bytes":
                values[(method, path)] = body
            elif method == "get_json":
                values[(method, path)] = json.loads(body)
            else:
                values[(method, path)] = [line for line in body.decode().splitlines() if line]
    return values


class _Run:
    """Shared state of one soak: the simulator, the tallies, and the dice for chaos actions."""

    def __init__(self, sim: IMDSSimulator, expected: dict[tuple[str, str], Any], chaos: float):
        self.sim = sim
        self.expected = expected
        self.chaos_rate = chaos
        self.lock = threading.Lock()
        self.report = SoakReport()

    def on_retry(self, event: RetryEvent) -> None:
        with self.lock:
            self.report.retries += 1

    def maybe_chaos(self, rng: random.Random) -> None:
        """Occasionally make the simulator throttle, forget tokens, or fail the next PUT."""
        if rng.random() >= self.chaos_rate:
            return
        action = rng.choice(("throttle", "invalidate", "put_error", "put_reset"))
        if action == "throttle":
            self.sim.throttle_next(rng.randint(1, 4), status=rng.choice((429, 503)))
        elif action == "invalidate":
            self.sim.invalidate_tokens()
        elif action == "put_error":
            self.sim.inject("error", path=TOKEN_PATH, status=rng.choice((500, 503)))
        else:
            self.sim.inject("reset", path=TOKEN_PATH)
        with self.lock:
            self.report.chaos[action] += 1

    def judge(self, op: tuple[str, str], value: Any, error: BaseException | None) -> None:
        with self.lock:
            report = self.report
            report.calls += 1
            if error is None:
                report.ok += 1
                if value != self.expected[op]:
                    report.wrong.append(f"{op}: {value!r:.80}")
                return
            report.errors[type(error).__name__] += 1
            if not isinstance(error, IMDSError):
                report.untyped.append(f"{op}: {error!r:.120}")


def _sync_worker(run: _Run, client: IMDSClient, calls: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(calls):
        run.maybe_chaos(rng)
        op = rng.choice(OPERATIONS)
        try:
            value = getattr(client, op[0])(op[1])
        except Exception as exc:
            run.judge(op, None, exc)
        else:
            run.judge(op, value, None)


async def _async_workers(run: _Run, url: str, tasks: int, calls: int, seed: int) -> None:
    async with AsyncIMDSClient(
        endpoint=url, timeout=run_timeout, clock=FakeClock(), on_retry=run.on_retry
    ) as client:

        async def worker(index: int, share: int) -> None:
            rng = random.Random(seed * 1_000_003 + index)
            for _ in range(share):
                run.maybe_chaos(rng)
                op = rng.choice(OPERATIONS)
                try:
                    value = await getattr(client, op[0])(op[1])
                except Exception as exc:
                    run.judge(op, None, exc)
                else:
                    run.judge(op, value, None)

        shares = [calls // tasks + (i < calls % tasks) for i in range(tasks)]
        await asyncio.gather(*(worker(i, n) for i, n in enumerate(shares) if n))


run_timeout = 0.2  # seconds per attempt: cuts hangs short


def soak(
    *,
    calls: int,
    threads: int = 8,
    tasks: int = 32,
    fault_rate: float = 0.2,
    chaos_rate: float = 0.02,
    seed: int = 7,
    trace_memory: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SoakReport:
    """Make ``calls`` calls (half from ``threads`` threads sharing an ``IMDSClient``, half from
    ``tasks`` asyncio tasks sharing an ``AsyncIMDSClient``) under random faults.
    """
    gc.collect()
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = open_fds()
    rss_before = rss_bytes()
    if trace_memory:
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    with IMDSSimulator(log_limit=2000) as sim:
        run = _Run(sim, expected_values(sim.url), chaos_rate)
        sim.fault_rate(fault_rate, FAULT_KINDS, seed=seed)
        sync_calls, async_calls = calls - calls // 2, calls // 2
        with IMDSClient(
            endpoint=sim.url, timeout=run_timeout, clock=FakeClock(), on_retry=run.on_retry
        ) as client:
            shares = [sync_calls // threads + (i < sync_calls % threads) for i in range(threads)]
            pool = [
                threading.Thread(target=_sync_worker, args=(run, client, n, seed + i))
                for i, n in enumerate(shares)
            ]
            pool.append(
                threading.Thread(
                    target=asyncio.run,
                    args=(_async_workers(run, sim.url, tasks, async_calls, seed),),
                )
            )
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
        sim.fault_rate(0)
        statuses = Counter(str(r.status) for r in sim.requests)
        if sim.internal_errors:
            run.report.untyped.append(f"simulator errors: {sim.internal_errors[:3]!r}")
    report = run.report
    report.seconds = time.perf_counter() - started
    report.statuses = statuses
    if trace_memory:
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        report.peak_bytes = peak - baseline
        report.growth_bytes = current - baseline
    gc.collect()
    report.leaked_threads = [
        t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()
    ]
    report.fds_after = open_fds()
    report.fds_before = fds_before
    report.rss_before, report.rss_after = rss_before, rss_bytes()
    if progress is not None:
        progress(f"{report.calls} calls in {report.seconds:.1f} s")
    return report
