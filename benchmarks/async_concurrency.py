"""Async under concurrency: 1000 tasks on one client against aiobotocore, async dump against sync.

Two figures of #15, each a ratio to a floor measured in the same rounds:

- **1000 tasks.** 1000 asyncio tasks sharing one warm ``AsyncIMDSClient``, each one
  ``get("instance-id")``, all started at once; the floor is aiobotocore's
  ``AioInstanceMetadataFetcher`` with its HTTP session held (``async with
  fetcher._session.acquire()``, so every request reuses one aiohttp session) and its token
  fetched beforehand, doing the same 1000 GETs (``_get_request``) at once. Target: at most 2x.
- **dump.** ``await AsyncIMDSClient.dump()`` against ``IMDSClient.dump()`` of a tree of 1000
  leaves (10 folders of 100, served by the simulator as its whole tree), both clients warm;
  each child dumps ``DUMPS`` times and reports the median. Target: at most 1x (the async crawl
  keeps several requests in flight).

Each contender runs in a fresh child process and times only its work (wall and CPU), so that
``--baseline DIR`` (another checkout's root, e.g. ``git archive main``) can run that tree's
imdsclient in the same rounds as this one: ``imdsclient (baseline)``, whose ratio is to the same
round's floor. The simulator runs in its own process on 127.0.0.1, in the real-IMDS mode
(``Connection: close``) and then keep-alive; the simulator counts connections and PUTs per run.
Rounds are interleaved (A B A B ..., the order rotated each round); figures are medians with
(min-max, IQR).

``--latency S`` makes the simulator hold every answer back S seconds (its ``latency`` knob): a
stand-in for a link slower than loopback, where a crawl's reads in flight overlap their waits.

Usage: ``python benchmarks/async_concurrency.py [--quick] [--rounds R] [--mode real|keep-alive]
[--latency S] [--baseline DIR]``. Exit status 1 when a target is missed or a call of ours failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _bench import SimulatorProcess, Spread, clean_environment, loopback_only, machine, table

TASKS = 1000
#: Dumps per child process; its figure is their median (one dump is ~0.2 s: a single one swings
#: with whatever else the machine does in that instant).
DUMPS = 5
TREE = {f"bench/f{i // 100:02d}/leaf-{i:04d}": f"value-{i}" for i in range(1000)}
TREE["instance-id"] = "i-0123456789abcdef0"
ID_PATH = "/latest/meta-data/instance-id"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# -- the contenders, run in a child process -------------------------------------------------


def _timed(work: Callable[[], int]) -> dict[str, float]:
    """Wall and CPU seconds of ``work()``, which returns its number of failed calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    errors = work()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "errors": errors}


async def _atimed(work: Callable[[], Awaitable[int]]) -> dict[str, float]:
    """The async twin of :func:`_timed`."""
    wall, cpu = time.perf_counter(), time.process_time()
    errors = await work()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "errors": errors}


async def _failures(calls: Callable[[], list[Awaitable[Any]]]) -> int:
    """Run the calls at once; how many raised."""
    outcomes = await asyncio.gather(*calls(), return_exceptions=True)
    return sum(isinstance(o, BaseException) for o in outcomes)


async def _ours_tasks(url: str) -> dict[str, float]:
    from imdsclient import AsyncIMDSClient

    async with AsyncIMDSClient(endpoint=url) as client:
        await client.get("instance-id")  # warm: the token
        return await _atimed(
            lambda: _failures(lambda: [client.get("instance-id") for _ in range(TASKS)])
        )


async def _aiobotocore_tasks(url: str) -> dict[str, float]:
    from aiobotocore.utils import AioInstanceMetadataFetcher

    # base_url, env and config given: nothing is read from the environment or ~/.aws.
    fetcher = AioInstanceMetadataFetcher(
        timeout=1, num_attempts=1, base_url=loopback_only(url), env={}, config={}
    )
    async with fetcher._session.acquire():  # the session held for all 1000 lookups
        token = await fetcher._fetch_metadata_token()

        async def lookup() -> None:
            response = await fetcher._get_request(ID_PATH, None, token)
            await response.text

        return await _atimed(lambda: _failures(lambda: [lookup() for _ in range(TASKS)]))


async def _async_dump(url: str) -> dict[str, float]:
    from imdsclient import AsyncIMDSClient

    async with AsyncIMDSClient(endpoint=url) as client:
        await client.get("instance-id")

        async def dump() -> int:
            return 0 if _leaves(await client.dump()) == len(TREE) - 1 else 1

        return _median_of([await _atimed(dump) for _ in range(DUMPS)])


def _sync_dump(url: str) -> dict[str, float]:
    from imdsclient import IMDSClient

    with IMDSClient(endpoint=url) as client:
        client.get("instance-id")
        timed = [
            _timed(lambda: 0 if _leaves(client.dump()) == len(TREE) - 1 else 1)
            for _ in range(DUMPS)
        ]
        return _median_of(timed)


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """One contender's figure from its ``DUMPS`` dumps: median wall and CPU, all errors."""
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def _leaves(tree: dict[str, Any]) -> int:
    """Leaves under ``bench/`` (the 1000 of ``TREE``)."""

    def count(node: Any) -> int:
        return sum(count(v) for v in node.values()) if isinstance(node, dict) else 1

    return count(tree.get("bench", {}))


CHILDREN: dict[str, Callable[[str], dict[str, float]]] = {
    "ours-tasks": lambda url: asyncio.run(_ours_tasks(url)),
    "aiobotocore-tasks": lambda url: asyncio.run(_aiobotocore_tasks(url)),
    "async-dump": lambda url: asyncio.run(_async_dump(url)),
    "sync-dump": _sync_dump,
}


def _child(kind: str, url: str) -> int:
    print(json.dumps(CHILDREN[kind](loopback_only(url))))
    return 0


# -- the parent: rounds, counts, table -------------------------------------------------------

OURS, BASE = "imdsclient", "imdsclient (baseline)"
FIGURES: dict[str, tuple[dict[str, str], str, float]] = {
    # figure: ({contender: child kind}, floor contender, target ratio)
    f"{TASKS} tasks, one client": (
        {OURS: "ours-tasks", BASE: "ours-tasks", "aiobotocore, session held": "aiobotocore-tasks"},
        "aiobotocore, session held",
        2.0,
    ),
    "dump of 1000 leaves": (
        {
            f"{OURS} async dump": "async-dump",
            f"{BASE} async dump": "async-dump",
            "imdsclient sync dump": "sync-dump",
        },
        "imdsclient sync dump",
        1.0,
    ),
}


def _run_child(kind: str, url: str, tree: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    argv = [sys.executable, os.path.abspath(__file__), "--child", kind, url]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def measure(
    mode: str, rounds: int, baseline: str | None, latency: float
) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    ok = True
    keep_alive = mode == "keep-alive"
    with SimulatorProcess(tree=TREE, log_limit=None, keep_alive=keep_alive, latency=latency) as sim:
        for figure, (contenders, floor, target) in FIGURES.items():
            names = [n for n in contenders if baseline or "baseline" not in n]
            runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            for r in range(rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    before = sim.call("connections")
                    tree = baseline if "baseline" in name else ROOT
                    result = _run_child(contenders[name], sim.url, tree or ROOT)
                    result["connections"] = sim.call("connections") - before
                    runs[name].append(result)
            for name in names:
                walls = [x["wall"] for x in runs[name]]
                ratio = Spread.of([x["wall"] / f["wall"] for x, f in zip(runs[name], runs[floor])])
                cpu = Spread.of([x["cpu"] / f["cpu"] for x, f in zip(runs[name], runs[floor])])
                errors = sum(int(x["errors"]) for x in runs[name])
                conns = sorted({int(x["connections"]) for x in runs[name]})
                rows.append(
                    [
                        mode,
                        figure,
                        name,
                        Spread.of(walls).show("{:.2f}"),
                        "1.00" if name == floor else ratio.show("{:.2f}"),
                        "1.00" if name == floor else cpu.show("{:.2f}"),
                        f"{min(conns)}-{max(conns)}" if len(conns) > 1 else str(conns[0]),
                        str(errors),
                    ]
                )
                if name.startswith(OURS + " async") or name == OURS:
                    met = ratio.median <= target and errors == 0
                    ok = ok and met
                    print(
                        f"{mode}, {figure}: {ratio.median:.2f}x (target <= {target:g}x) "
                        f"{'met' if met else 'MISSED'}",
                        flush=True,
                    )
    return rows, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round per mode")
    parser.add_argument("--rounds", type=int, help="alternating rounds per figure (default 5)")
    parser.add_argument("--mode", choices=("real", "keep-alive"), help="one mode only")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout's root")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="S", help="the simulator's answer delay"
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(*args.child)
    clean_environment()
    rounds = args.rounds or (1 if args.quick else 5)
    baseline = os.path.abspath(args.baseline) if args.baseline else None
    rows: list[list[str]] = []
    ok = True
    for mode in [args.mode] if args.mode else ["real", "keep-alive"]:
        mode_rows, mode_ok = measure(mode, rounds, baseline, args.latency)
        rows += mode_rows
        ok = ok and mode_ok
    delay = f"answers held back {args.latency * 1000:g} ms; " if args.latency else ""
    print(f"async concurrency: {rounds} alternating rounds per figure; {delay}{machine()}")
    headers = [
        "mode",
        "figure",
        "contender",
        "seconds, median (min-max, IQR)",
        "x floor, wall (per round)",
        "x floor, CPU",
        "connections per run",
        "errors",
    ]
    print(table(headers, rows))
    print(
        "x floor: this contender's time / the floor's (aiobotocore; sync dump) in the same round."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
