"""32 threads and 1000 asyncio tasks sharing one client: token PUTs, errors, and throughput.

Target (docs/performance.md): 32 threads / 1000 async tasks sharing a client make one PUT and no
errors. Throughput is compared with a floor doing the same work with bare httpx and a token
fetched beforehand:

- threads: 32 threads sharing one ``httpx.Client`` (the shape of ``IMDSClient`` inside), and, as
  a second reference, 32 threads each with its own ``httpx.Client``;
- tasks: 1000 tasks sharing one ``httpx.AsyncClient``, each request gated by an
  ``asyncio.Semaphore(64)`` (the pool size). Without the semaphore, 1000 requests queue inside
  httpcore's pool, whose hand-over is quadratic in the number of waiters: measured here at ~45
  calls/s, ten times slower than either client. That ungated run is shown once for reference
  (skipped with ``--quick``), and the ratio uses the gated floor.

Both httpx floors use ``IMDSClient``'s pool limits (64 connections, 32 kept alive), so the
comparison is about the client code, not the pool size. The simulator runs in a child process
on 127.0.0.1. Each round builds a fresh ``IMDSClient``/``AsyncIMDSClient`` (so its one token PUT
is counted), clears the simulator's log, and alternates with the floor. Exit status 1 when a
round of ours made more than one PUT or any call failed.

Usage: ``python benchmarks/concurrency.py [--quick] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable

import httpx
from _bench import SimulatorProcess, Spread, clean_environment, machine, table

from imdsclient import AsyncIMDSClient, IMDSClient

PATH = "/latest/meta-data/instance-id"
TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32)
THREADS = 32
TASKS = 1000


def _token(url: str) -> dict[str, str]:
    with httpx.Client(base_url=url, trust_env=False) as client:
        token = client.put("/latest/api/token", headers=TTL).raise_for_status().text
    return {"X-aws-ec2-metadata-token": token}


def run_threads(work: Callable[[int], None], threads: int) -> float:
    """Start ``threads`` threads at once on ``work(index)``; seconds until all are done."""
    barrier = threading.Barrier(threads + 1)

    def body(index: int) -> None:
        barrier.wait()
        work(index)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


class Tally:
    """Errors seen by worker threads or tasks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors = 0

    def error(self) -> None:
        with self.lock:
            self.errors += 1


def ours_threads(url: str, per_thread: int, tally: Tally) -> float:
    with IMDSClient(endpoint=url) as client:

        def work(_: int) -> None:
            for _ in range(per_thread):
                try:
                    client.get("instance-id")
                except Exception:
                    tally.error()

        return run_threads(work, THREADS)


def floor_threads_shared(url: str, per_thread: int, tally: Tally) -> float:
    headers = _token(url)
    with httpx.Client(base_url=url, trust_env=False, limits=LIMITS, timeout=30) as client:

        def work(_: int) -> None:
            for _ in range(per_thread):
                try:
                    client.get(PATH, headers=headers).raise_for_status()
                except Exception:
                    tally.error()

        return run_threads(work, THREADS)


def floor_threads_own(url: str, per_thread: int, tally: Tally) -> float:
    headers = _token(url)
    clients = [httpx.Client(base_url=url, trust_env=False, timeout=30) for _ in range(THREADS)]

    def work(index: int) -> None:
        for _ in range(per_thread):
            try:
                clients[index].get(PATH, headers=headers).raise_for_status()
            except Exception:
                tally.error()

    try:
        return run_threads(work, THREADS)
    finally:
        for client in clients:
            client.close()


async def _gather(make_call: Callable[[], object], per_task: int) -> float:
    async def task() -> None:
        for _ in range(per_task):
            await make_call()  # type: ignore[misc]

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(TASKS)))
    return time.perf_counter() - started


def ours_tasks(url: str, per_task: int, tally: Tally) -> float:
    async def main() -> float:
        async with AsyncIMDSClient(endpoint=url) as client:

            async def call() -> None:
                try:
                    await client.get("instance-id")
                except Exception:
                    tally.error()

            return await _gather(call, per_task)

    return asyncio.run(main())


def floor_tasks(url: str, per_task: int, tally: Tally, *, gate: int | None = 64) -> float:
    headers = _token(url)

    async def main() -> float:
        async with httpx.AsyncClient(
            base_url=url, trust_env=False, limits=LIMITS, timeout=30
        ) as client:
            semaphore = asyncio.Semaphore(gate or TASKS)

            async def call() -> None:
                try:
                    async with semaphore:
                        (await client.get(PATH, headers=headers)).raise_for_status()
                except Exception:
                    tally.error()

            return await _gather(call, per_task)

    return asyncio.run(main())


Runner = Callable[[str, int, Tally], float]
THREAD_FLOOR = "httpx, one shared client"
TASK_FLOOR = "httpx, one shared client, Semaphore(64)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5)")
    parser.add_argument(
        "--keep-alive", action="store_true", help="simulator keeps connections (default: real mode)"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 4)
    per_thread = 10 if args.quick else 50  # 32 x 50 = 1600 calls per round
    per_task = 1  # 1000 calls per round
    clean_environment()

    groups: dict[str, tuple[int, dict[str, Runner]]] = {
        f"{THREADS} threads": (
            THREADS * per_thread,
            {
                "imdsclient (one client)": lambda u, _, t: ours_threads(u, per_thread, t),
                THREAD_FLOOR: lambda u, _, t: floor_threads_shared(u, per_thread, t),
                "httpx, a client per thread": lambda u, _, t: floor_threads_own(u, per_thread, t),
            },
        ),
        f"{TASKS} tasks": (
            TASKS * per_task,
            {
                "imdsclient (one client)": lambda u, _, t: ours_tasks(u, per_task, t),
                TASK_FLOOR: lambda u, _, t: floor_tasks(u, per_task, t),
            },
        ),
    }
    rows: list[list[str]] = []
    ok = True
    mode = "keep-alive" if args.keep_alive else "real IMDS (Connection: close)"
    print(f"simulator mode: {mode}")
    with SimulatorProcess(log_limit=None, keep_alive=args.keep_alive) as sim:
        for group, (total, runners) in groups.items():
            rates: dict[str, list[float]] = {name: [] for name in runners}
            puts: dict[str, list[int]] = {name: [] for name in runners}
            errors: dict[str, int] = dict.fromkeys(runners, 0)
            names = list(runners)
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    sim.call("clear_requests")
                    tally = Tally()
                    elapsed = runners[name](sim.url, total, tally)
                    rates[name].append(total / elapsed)
                    puts[name].append(sim.call("count", "PUT"))
                    errors[name] += tally.errors
            floor = rates[THREAD_FLOOR if THREAD_FLOOR in rates else TASK_FLOOR]
            for name in names:
                ratio = Spread.of([a / b for a, b in zip(rates[name], floor)])
                put_text = "/".join(str(p) for p in sorted(set(puts[name])))
                rows.append(
                    [
                        group,
                        name,
                        Spread.of(rates[name]).show("{:.0f}"),
                        ratio.show("{:.2f}"),
                        put_text,
                        str(errors[name]),
                    ]
                )
            mine = "imdsclient (one client)"
            ok = ok and errors[mine] == 0 and all(p == 1 for p in puts[mine])
        if not args.quick:  # the ungated async floor, once: it is slow (see the docstring)
            sim.call("clear_requests")
            tally = Tally()
            rate = TASKS * per_task / floor_tasks(sim.url, per_task, tally, gate=None)
            rows.append(
                [
                    f"{TASKS} tasks",
                    "httpx, one shared client, ungated (1 run)",
                    f"{rate:.0f}",
                    "-",
                    str(sim.call("count", "PUT")),
                    str(tally.errors),
                ]
            )
    print(f"concurrency: {rounds} alternating rounds; {machine()}")
    headers = ["load", "contender", "calls/s median (min-max, IQR)", "x floor", "PUTs", "errors"]
    print(table(headers, rows))
    print("x floor: per-round ratio of calls/s to the shared httpx client (threads) and to the")
    print("Semaphore(64)-gated shared httpx.AsyncClient (tasks); higher is better.")
    print("PUTs for the httpx floors are their one pre-fetch of the token.")
    print(f"one PUT and zero errors per round for imdsclient: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
