"""Start-up cost of ``python -m imdsclient get instance-id`` against a bare httpx script.

Target (docs/performance.md): the CLI takes at most 1.3x the wall time of ``python -c "import
httpx; ..."`` doing the same token PUT + GET. Both talk to an in-process simulator on 127.0.0.1,
and runs alternate (CLI, httpx, CLI, httpx, ...) so that machine noise hits both alike.

A default ``httpx.Client`` loads the certifi CA bundle even for plain-HTTP URLs (tens of ms),
which imdsclient skips for ``http://`` endpoints. So a second, stricter baseline is measured too,
for information: the same script with ``verify=False`` (no CA bundle), i.e. the least an httpx
program can pay. The target applies to the first ratio, as the target words it.

Usage: ``python benchmarks/cli_startup.py [--runs 15]``; prints the medians, the spread
(min-max and interquartile range) and the ratios of the medians. Exit status 1 when over target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from imdsclient.testing import IMDSSimulator

TARGET = 1.3

_HTTPX_SCRIPT = """\
import httpx
with httpx.Client(base_url={url!r}, trust_env=False{extra}) as c:
    token = c.put("/latest/api/token",
                  headers={{"X-aws-ec2-metadata-token-ttl-seconds": "21600"}}).text
    print(c.get("/latest/meta-data/instance-id",
                headers={{"X-aws-ec2-metadata-token": token}}).text)
"""


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout.strip()


def _describe(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    q1, _, q3 = statistics.quantiles(ms, n=4)
    return (
        f"{name:<10} median {statistics.median(ms):6.1f} ms   "
        f"min {ms[0]:6.1f}  max {ms[-1]:6.1f}  IQR {q3 - q1:5.1f} ms  (n={len(ms)})"
    )


def main() -> int:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (at least 7)")
    parser.add_argument(
        "--keep-alive", action="store_true", help="simulator keeps connections (default: real mode)"
    )
    args = parser.parse_args()
    runs = max(7, args.runs)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AWS_", "PYTHON"))}
    env["AWS_CONFIG_FILE"] = os.devnull
    with IMDSSimulator(log_limit=1000, keep_alive=args.keep_alive) as sim:
        cli = [sys.executable, "-m", "imdsclient", "--endpoint", sim.url, "get", "instance-id"]
        commands = {
            "cli": cli,
            "httpx": [sys.executable, "-c", _HTTPX_SCRIPT.format(url=sim.url, extra="")],
            "httpx-lean": [
                sys.executable,
                "-c",
                _HTTPX_SCRIPT.format(url=sim.url, extra=", verify=False"),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # warm the OS caches and check that each works
            _time(argv, env)
        for _ in range(runs):
            outputs = set()
            for name, argv in commands.items():
                elapsed, out = _time(argv, env)
                times[name].append(elapsed)
                outputs.add(out)
            assert len(outputs) == 1, outputs
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    print(f"python {sys.version.split()[0]}, {runs} alternating runs each")
    for name, samples in times.items():
        print(_describe(name, samples))
    ratio = medians["cli"] / medians["httpx"]
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"ratio    cli/httpx {ratio:.2f}x (target <= {TARGET}x: {verdict})")
    print(f"         cli/httpx-lean {medians['cli'] / medians['httpx-lean']:.2f}x (information)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
