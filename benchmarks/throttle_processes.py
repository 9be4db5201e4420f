"""Several processes sharing one instance's limit: how many requests are wasted on 429s.

Figure (docs/performance.md, #15): 4 processes, each with 8 threads sharing one ``IMDSClient``
(default settings), each thread doing a bounded number of gets, against one simulator throttling
at 256 requests/s (real-IMDS mode: a connection per request) on 127.0.0.1. Nothing is shared
between the processes, as on an instance where several programs read IMDS at once. Reported per
contender: requests the simulator saw, its 429s, the **waste** (429s / requests), errors by
class, the time to complete (from the start signal until the last process is done), and the
rate served against the limit. A 429 costs the simulator nothing, but real IMDS counts every
packet, so a request wasted on a 429 is one another program does not get.

``--baseline DIR`` runs another checkout's package (``DIR/imdsclient``, e.g. ``git archive main
imdsclient | tar -x -C DIR``) as a second contender; contenders alternate within each round
(A B, then B A) against a fresh simulator each, and the table gives medians with (min-max, IQR)
over the rounds and the per-round ratios against the baseline.

The worker processes run this same file with ``--worker`` and ``PYTHONPATH`` set to the
contender's tree; each prints one JSON line when done.

Usage: ``python benchmarks/throttle_processes.py [--rounds 3] [--baseline DIR] [--processes 4]
[--threads 8] [--gets 40] [--rps 256] [--keep-alive]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(url: str, threads: int, gets: int) -> None:
    """One process: ``threads`` threads sharing one client, ``gets`` gets each, after "go"."""
    from imdsclient import IMDSClient, IMDSError, RetryEvent

    lock = threading.Lock()
    errors: Counter[str] = Counter()
    retries = 0

    def on_retry(event: RetryEvent) -> None:
        nonlocal retries
        with lock:
            retries += 1

    with IMDSClient(endpoint=url, on_retry=on_retry) as client:

        def work() -> None:
            for _ in range(gets):
                try:
                    client.get("instance-id")
                except IMDSError as exc:
                    with lock:
                        errors[type(exc).__name__] += 1

        pool = [threading.Thread(target=work) for _ in range(threads)]
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "retries": retries, "errors": dict(errors)}), flush=True)


def _environment(tree: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("AWS_", "PYTHON", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"))
    }
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env["PYTHONPATH"] = tree
    return env


def run(tree: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run of one contender against a fresh simulator: the figures of one table cell."""
    from _bench import SimulatorProcess

    knobs = {"throttle_rps": args.rps, "log_limit": None, "keep_alive": args.keep_alive}
    with SimulatorProcess(**knobs) as sim:
        argv = [sys.executable, os.path.abspath(__file__), "--worker", sim.url]
        argv += [str(args.threads), str(args.gets)]
        procs = [
            subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=_environment(tree),
                cwd=ROOT,
            )
            for _ in range(args.processes)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline().strip()
                if line != "ready":
                    raise SystemExit(f"a worker did not start (said {line!r})")
            started = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            reports = []
            for proc in procs:
                out, _ = proc.communicate(timeout=300)
                reports.append(json.loads(out.strip().splitlines()[-1]))
            elapsed = time.perf_counter() - started
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        requests = len(sim.call("requests"))
        throttled = sim.call("count", status=429)
    errors: Counter[str] = Counter()
    for report in reports:
        errors.update(report["errors"])
    return {
        "requests": requests,
        "429s": throttled,
        "waste": 100.0 * throttled / requests,
        "errors": errors,
        "seconds": elapsed,
        "served": (requests - throttled) / elapsed,
        "retries": sum(r["retries"] for r in reports),
        "slowest": max(r["seconds"] for r in reports),
        "fastest": min(r["seconds"] for r in reports),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--processes", type=int, default=4, help="client processes (4)")
    parser.add_argument("--threads", type=int, default=8, help="threads per process (8)")
    parser.add_argument("--gets", type=int, default=40, help="gets per thread (40)")
    parser.add_argument("--rps", type=int, default=256, help="the simulator's limit (256)")
    parser.add_argument("--keep-alive", action="store_true", help="simulator keeps connections")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout's root")
    args = parser.parse_args(argv)

    from _bench import Spread, clean_environment, machine, table

    clean_environment()
    contenders = {"imdsclient": ROOT}
    if args.baseline:
        contenders["baseline"] = os.path.abspath(args.baseline)
    gets = args.processes * args.threads * args.gets
    mode = "keep-alive" if args.keep_alive else "real mode"
    print(
        f"throttle processes: {args.processes} processes x {args.threads} threads x {args.gets} "
        f"gets = {gets} gets against {args.rps} requests/s ({mode}); {args.rounds} round(s)"
    )
    print(machine())
    print()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    names = list(contenders)
    for number in range(args.rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            result = run(contenders[name], args)
            results[name].append(result)
            print(
                f"  round {number + 1} {name}: {result['requests']} requests, "
                f"{result['429s']} 429s ({result['waste']:.1f} %), {result['seconds']:.2f} s, "
                f"errors {sum(result['errors'].values())}",
                flush=True,
            )
    print()

    def spread(name: str, key: str, fmt: str) -> str:
        return Spread.of([float(r[key]) for r in results[name]]).show(fmt)

    rows = []
    total_errors = 0
    for name, runs in results.items():
        errors: Counter[str] = Counter()
        for r in runs:
            errors.update(r["errors"])
        total_errors += sum(errors.values())
        rows.append(
            [
                name,
                spread(name, "requests", "{:.0f}"),
                spread(name, "429s", "{:.0f}"),
                spread(name, "waste", "{:.1f}"),
                ", ".join(f"{k} {v}" for k, v in errors.items()) or "0",
                spread(name, "seconds", "{:.2f}"),
                spread(name, "slowest", "{:.2f}"),
                spread(name, "served", "{:.0f}"),
            ]
        )
    headers = [
        "contender",
        "requests",
        "429s",
        "waste % (429s / requests)",
        "errors (all rounds)",
        "seconds to complete",
        "slowest process, s",
        f"served/s (limit {args.rps})",
    ]
    print(table(headers, rows))
    if "baseline" in results:
        print()
        for key, what in (("waste", "waste"), ("seconds", "time to complete")):
            ratios = [
                float(a[key]) / float(b[key])
                for a, b in zip(results["imdsclient"], results["baseline"])
            ]
            print(f"{what}, imdsclient / baseline per round: {Spread.of(ratios).show('{:.2f}')}")
    return 0 if total_errors == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        from _bench import loopback_only

        worker(loopback_only(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(main())
