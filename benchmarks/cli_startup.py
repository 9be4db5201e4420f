"""Start-up cost of ``python -m imdsclient get instance-id`` against a bare httpx script.

DESIGN §7: the CLI must take at most 1.3x the wall time of ``python -c "import httpx; ..."``
doing the same token PUT + GET. Both talk to an in-process simulator on 127.0.0.1, and runs
alternate (CLI, httpx, CLI, httpx, ...) so that machine noise hits both alike.

Usage: ``python benchmarks/cli_startup.py [--runs 15]``; prints the medians, the spread
(min-max and interquartile range) and the ratio of the medians. Exit status 1 when over target.
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
with httpx.Client(base_url={url!r}, trust_env=False) as c:
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
        f"{name:<8} median {statistics.median(ms):6.1f} ms   "
        f"min {ms[0]:6.1f}  max {ms[-1]:6.1f}  IQR {q3 - q1:5.1f} ms  (n={len(ms)})"
    )


def main() -> int:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (at least 7)")
    runs = max(7, parser.parse_args().runs)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AWS_", "PYTHON"))}
    env["AWS_CONFIG_FILE"] = os.devnull
    with IMDSSimulator(log_limit=1000) as sim:
        cli = [sys.executable, "-m", "imdsclient", "--endpoint", sim.url, "get", "instance-id"]
        bare = [sys.executable, "-c", _HTTPX_SCRIPT.format(url=sim.url)]
        for argv in (cli, bare):  # warm the OS caches and check that both work
            _time(argv, env)
        cli_times: list[float] = []
        bare_times: list[float] = []
        for _ in range(runs):
            elapsed, out = _time(cli, env)
            cli_times.append(elapsed)
            elapsed, out2 = _time(bare, env)
            bare_times.append(elapsed)
            assert out == out2, (out, out2)
    ratio = statistics.median(cli_times) / statistics.median(bare_times)
    print(f"python {sys.version.split()[0]}, {runs} alternating runs each")
    print(_describe("cli", cli_times))
    print(_describe("httpx", bare_times))
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"ratio    {ratio:.2f}x (target <= {TARGET}x: {verdict})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
