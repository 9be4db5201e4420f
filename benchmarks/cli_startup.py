"""Start-up cost of the command line: one value, six values in one call, and the alternatives.

Targets (docs/performance.md):

- ``python -m imdsclient get instance-id`` takes at most 1.3x the wall time of ``python -c
  "import httpx; ..."`` doing the same token PUT + GET;
- ``get`` of six paths in one call takes at most 1.3x a single ``get``.

For information, beside them: six separate ``get`` processes (six tokens), amazon-ec2-utils'
``ec2-metadata`` (the bash script, when installed: Debian's ``amazon-ec2-utils``) asked for the
same six values, and a curl one-liner reading them with one token (one PUT, then one curl for
the six GETs). ``ec2-metadata`` hard-codes ``http://169.254.169.254``: it is run from a copy
whose base URL is the simulator's, and the copy is refused if that address is left anywhere
in it. Everything talks to an in-process simulator on 127.0.0.1.

Runs alternate (each contender once per round, in the same order) so that machine noise hits
all alike; the table shows medians with min-max and IQR of the wall time, and of the CPU time
(user + system of the process and its children: much less sensitive than wall time to other
jobs on a busy machine), the ratios of the medians, and the median and spread of the
per-round ratio for the two targets.

A default ``httpx.Client`` loads the certifi CA bundle even for plain-HTTP URLs (tens of ms),
which imdsclient skips for ``http://`` endpoints, so ``httpx-lean`` (``verify=False``) is shown
too, for information: the least an httpx program can pay.

``--baseline DIR`` adds ``get 1 (baseline)``: the same single ``get`` run from another checkout
of the package (e.g. ``git archive main | tar -x -C /tmp/base``), to compare start-up before
and after a change in the same rounds.

Usage: ``python benchmarks/cli_startup.py [--runs 15] [--baseline DIR]``. Exit status 1 when
over a target.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import loopback_only, machine

from imdsclient.testing import IMDSSimulator

TARGET = 1.3
SIX = [
    "instance-id",
    "instance-type",
    "ami-id",
    "placement/availability-zone",
    "local-ipv4",
    "local-hostname",
]
#: The same six, as ec2-metadata's options.
EC2_METADATA_FLAGS = ["-i", "-t", "-a", "-z", "-o", "-h"]
_REAL_IMDS = "169.254.169.254"

_HTTPX_SCRIPT = """\
import httpx
with httpx.Client(base_url={url!r}, trust_env=False{extra}) as c:
    token = c.put("/latest/api/token",
                  headers={{"X-aws-ec2-metadata-token-ttl-seconds": "21600"}}).text
    print(c.get("/latest/meta-data/instance-id",
                headers={{"X-aws-ec2-metadata-token": token}}).text)
"""

_CURL = """\
t=$(curl -s --noproxy '*' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \\
  {url}/latest/api/token) &&
curl -s --noproxy '*' -f -H "X-aws-ec2-metadata-token: $t" -w '\\n' {urls}
"""


def _environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("AWS_", "PYTHON", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"))
    }
    env["AWS_CONFIG_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def _ec2_metadata_copy(url: str, into: Path) -> Path | None:
    """ec2-metadata pointed at ``url``, or None when it is not installed (or not patchable)."""
    found = shutil.which("ec2-metadata")
    if found is None:
        return None
    script = Path(found).read_text(encoding="utf-8")
    line = f'METADATA_BASEURL="http://{_REAL_IMDS}"'
    if line not in script:
        return None
    patched = script.replace(line, f'METADATA_BASEURL="{loopback_only(url)}"')
    if _REAL_IMDS in patched:  # never run anything that could still reach the real IMDS
        return None
    copy = into / "ec2-metadata"
    copy.write_text(patched, encoding="utf-8")
    return copy


def _cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, stdout)."""
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:6]} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, _cpu() - cpu, done.stdout


def _values(name: str, out: str) -> list[str]:
    """The six values a contender printed (ec2-metadata prints `name: value`)."""
    lines = out.strip("\n").splitlines()
    if name == "ec2-metadata":
        return [line.split(": ", 1)[1] for line in lines]
    return lines


def _spread(samples: list[float], scale: float = 1000.0, unit: str = "ms") -> str:
    ordered = sorted(s * scale for s in samples)
    q1, _, q3 = statistics.quantiles(ordered, n=4)
    return (
        f"{statistics.median(ordered):7.1f} {unit} "
        f"(min {ordered[0]:.1f}, max {ordered[-1]:.1f}, IQR {q3 - q1:.1f})"
    )


def main() -> int:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (at least 7)")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout's root, for get 1")
    parser.add_argument(
        "--keep-alive", action="store_true", help="simulator keeps connections (default: real mode)"
    )
    options = parser.parse_args()
    runs = max(7, options.runs)
    env = _environment()
    baseline_env = {**env, "PYTHONPATH": os.path.abspath(options.baseline or ".")}
    python = [sys.executable, "-m", "imdsclient"]
    simulator = IMDSSimulator(log_limit=1000, keep_alive=options.keep_alive)
    with simulator as sim, tempfile.TemporaryDirectory() as tmp:
        url = loopback_only(sim.url)
        single: dict[str, list[list[str]]] = {
            "get 1": [[*python, "--endpoint", url, "get", "instance-id"]],
            "httpx": [[sys.executable, "-c", _HTTPX_SCRIPT.format(url=url, extra="")]],
            "httpx-lean": [
                [sys.executable, "-c", _HTTPX_SCRIPT.format(url=url, extra=", verify=False")]
            ],
        }
        if options.baseline:
            single["get 1 (baseline)"] = [[*python, "--endpoint", url, "get", "instance-id"]]
        six: dict[str, list[list[str]]] = {
            "get 6 (one call)": [[*python, "--endpoint", url, "get", *SIX]],
            "get 6 (six calls)": [[*python, "--endpoint", url, "get", path] for path in SIX],
        }
        ec2_metadata = _ec2_metadata_copy(url, Path(tmp))
        if ec2_metadata is not None:
            six["ec2-metadata"] = [["bash", str(ec2_metadata), *EC2_METADATA_FLAGS]]
        if shutil.which("curl") is not None:
            urls = " ".join(f"{url}/latest/meta-data/{path}" for path in SIX)
            six["curl (one token)"] = [["sh", "-c", _CURL.format(url=url, urls=urls)]]
        contenders = {**single, **six}
        expected = [sim.handle("GET", "/latest/meta-data/" + p, {}).body.decode() for p in SIX]

        def once(name: str) -> tuple[float, float]:
            total, cpu, out = 0.0, 0.0, ""
            for argv in contenders[name]:
                elapsed, used, printed = _run(argv, baseline_env if "baseline" in name else env)
                total, cpu, out = total + elapsed, cpu + used, out + printed
            if name in six and _values(name, out) != expected:
                raise SystemExit(f"{name} printed {out!r}, not the six values")
            if name in single and out.strip() != expected[0]:
                raise SystemExit(f"{name} printed {out!r}")
            return total, cpu

        for name in contenders:  # warm the OS caches, and check that each one works
            once(name)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(runs):
            for name in contenders:
                wall, cpu = once(name)
                times[name].append(wall)
                cpus[name].append(cpu)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    cpu_medians = {name: statistics.median(samples) for name, samples in cpus.items()}
    print(f"{machine()}; {runs} alternating rounds; simulator on 127.0.0.1")
    if ec2_metadata is None:
        print("ec2-metadata: not installed (Debian: apt-get install amazon-ec2-utils); skipped")
    print(f"{'':<18} {'wall':<44} CPU (user + system, the process and its children)")
    for name, samples in times.items():
        print(f"{name:<18} {_spread(samples):<44} {_spread(cpus[name])}")

    def per_round(a: str, b: str) -> str:
        ratios = [x / y for x, y in zip(times[a], times[b])]
        return f"per round {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"

    start_up = medians["get 1"] / medians["httpx"]
    six_ratio = medians["get 6 (one call)"] / medians["get 1"]
    print(
        f"get 1 / httpx              {start_up:.2f}x  {per_round('get 1', 'httpx')}"
        f"  target <= {TARGET}x: {'within' if start_up <= TARGET else 'OVER'}"
    )
    print(f"get 1 / httpx-lean         {medians['get 1'] / medians['httpx-lean']:.2f}x")
    if options.baseline:
        base = medians["get 1 (baseline)"]
        print(
            f"get 1 / baseline           {medians['get 1'] / base:.2f}x  "
            f"{per_round('get 1', 'get 1 (baseline)')}; baseline / httpx "
            f"{base / medians['httpx']:.2f}x"
        )
    print(
        f"get 6 (one call) / get 1   {six_ratio:.2f}x  {per_round('get 6 (one call)', 'get 1')}"
        f"  target <= {TARGET}x: {'within' if six_ratio <= TARGET else 'OVER'}"
    )
    for other in six:
        if other != "get 6 (one call)":
            ratio = medians[other] / medians["get 6 (one call)"]
            print(f"{other + ' / get 6 (one call)':<26} {ratio:.2f}x")
    print("CPU ratios (less sensitive to a busy machine than wall time):")
    for a, b in (("get 1", "httpx"), ("get 6 (one call)", "get 1"), ("get 1", "get 1 (baseline)")):
        if b in cpu_medians:
            print(f"  {a} / {b}: {cpu_medians[a] / cpu_medians[b]:.2f}x")
    return 0 if start_up <= TARGET and six_ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
