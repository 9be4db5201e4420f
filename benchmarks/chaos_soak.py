"""The chaos soak at full size: 10 000 calls under ~20 % random faults, in under a minute.

The same engine as ``tests/reliability/test_chaos_soak.py`` (``tests/reliability/_soak.py``):
half the calls from 16 threads sharing an ``IMDSClient``, half from 64 asyncio tasks sharing an
``AsyncIMDSClient``, against an in-process simulator on 127.0.0.1 whose seeded ``fault_rate``
fails ~20 % of requests (500, reset, truncated JSON, rare hangs cut off by a 0.2 s timeout),
while workers force 429/503 bursts, invalidate tokens and fail token PUTs. Retries sleep on a
``FakeClock``. Checked: no wrong value, every failure an ``IMDSError``, no leaked thread or file
descriptor. Memory: the big run reports resident-set growth (tracemalloc would triple its
time); a second, smaller run under tracemalloc reports the traced peak.

Usage: ``python benchmarks/chaos_soak.py [--quick] [--calls N] [--seed S]``. Exit status 1 when
an invariant is broken.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _bench import clean_environment, machine, table

from tests.reliability._soak import SoakReport, soak

MiB = 1024 * 1024
PEAK_LIMIT = 32 * MiB


def row(name: str, report: SoakReport) -> list[str]:
    errors = ", ".join(f"{k} {v}" for k, v in report.errors.most_common()) or "0"
    faults = sum(report.statuses[s] for s in ("500", "None", "429", "503", "401"))
    memory = (
        f"peak {report.peak_bytes / MiB:.1f} MiB traced"
        if report.peak_bytes is not None
        else f"RSS {report.rss_before / MiB:.0f} -> {report.rss_after / MiB:.0f} MiB"
    )
    return [
        name,
        f"{report.seconds:.1f}",
        f"{report.calls} / {report.ok}",
        errors,
        str(len(report.wrong)),
        str(len(report.untyped)),
        f"{report.retries}",
        f"{faults} of {sum(report.statuses.values())}",
        str(len(report.leaked_threads)),
        f"{report.fds_before} -> {report.fds_after}",
        memory,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--calls", type=int, help="calls in the big run (default 10 000)")
    parser.add_argument("--seed", type=int, default=2024, help="fault and workload seed")
    args = parser.parse_args(argv)
    calls = args.calls or (500 if args.quick else 10_000)
    traced_calls = 200 if args.quick else 1_000
    clean_environment()

    big = soak(calls=calls, threads=16, tasks=64, seed=args.seed, trace_memory=False)
    traced = soak(calls=traced_calls, threads=8, tasks=16, seed=args.seed + 1, trace_memory=True)
    problems = [f"big run: {p}" for p in big.problems()]
    problems += [f"traced run: {p}" for p in traced.problems(peak_limit=PEAK_LIMIT)]

    print(f"chaos soak (seed {args.seed}); {machine()}")
    headers = [
        "run",
        "s",
        "calls / ok",
        "errors (all IMDSError)",
        "wrong",
        "untyped",
        "retries",
        "fault answers of requests",
        "leaked threads",
        "fds",
        "memory",
    ]
    print(table(headers, [row("16 threads + 64 tasks", big), row("traced", traced)]))
    chaos = ", ".join(f"{k} {v}" for k, v in sorted(big.chaos.items()))
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(big.statuses.items()))
    print(f"chaos actions (big run): {chaos}")
    print(f"simulator answers (big run, last 2000 logged; None = reset or hang): {statuses}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"invariants: {'all held' if not problems else 'BROKEN'}")
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
