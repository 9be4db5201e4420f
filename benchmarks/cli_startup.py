"""Start-up cost of the command line: one value, six values in one call, and the alternatives.

Targets (docs/performance.md):

- ``python -m imdsclient get instance-id`` takes at most 1.5x the wall time of a stdlib
  ``http.client`` script doing the same token PUT + GET with the same headers (#15);
- ``get`` of six paths in one call takes at most 1.3x a single ``get`` (#17).

For information, beside them: ``python -c pass`` (the interpreter alone), the same PUT + GET
written with ``httpx`` (the #1 target's floor) and with ``httpcore`` alone (what the client sends
through once httpx is off its path), six separate ``get`` processes (six tokens), amazon-ec2-utils'
``ec2-metadata`` (the bash script, when installed: Debian's ``amazon-ec2-utils``) asked for the
same six values, and a curl one-liner reading them with one token (one PUT, then one curl for
the six GETs). ``ec2-metadata`` hard-codes ``http://169.254.169.254``: it is run from a copy
whose base URL is the simulator's, and the copy is refused if that address is left anywhere
in it. Everything talks to an in-process simulator on 127.0.0.1, in the real-IMDS mode (the
connection closed after every answer) unless ``--keep-alive``.

Runs alternate (each contender once per round, in the same order) so that machine noise hits
all alike. Each contender's table row shows medians with min-max and IQR of the wall time, of
the CPU time (user + system of the process and its children: much less sensitive than wall time
to other jobs on a busy machine) and of the peak RSS (``ru_maxrss`` of the process and its
children, from ``wait4``; the largest process for a contender that runs several). The contenders
are started by a small ``python -S`` process, whose own peak (printed) is the least any can
show. The ratio lines give the ratio of the medians and the median and range of the per-round
ratio. ``--repeats`` (default 3) does it all that many times and ends with every run's ratios.

A default ``httpx.Client`` loads the certifi CA bundle even for plain-HTTP URLs (tens of ms),
which imdsclient skips for ``http://`` endpoints, so ``httpx-lean`` (``verify=False``) is shown
too, for information: the least an httpx program can pay.

``--baseline DIR`` adds ``get 1 (baseline)``: the same single ``get`` run from another checkout
of the package (e.g. ``git archive main | tar -x -C /tmp/base``), to compare start-up before
and after a change in the same rounds.

``--imports N`` then runs ``-X importtime`` of ``get instance-id`` (and of the baseline, and of
the ``http.client`` floor) N times, alternating, and prints the modules imported and the median
self time by package, with the part only httpx brings (the modules ``import httpx`` loads that
``import httpcore`` does not: what leaves the CLI's path once the client sends straight through
httpcore). ``-X importtime`` inflates what it measures; compare its figures with each other.

Usage: ``python benchmarks/cli_startup.py [--quick] [--runs 15] [--repeats 3] [--baseline DIR]
[--imports 5] [--skip-six] [--keep-alive]``. Exit status 1 when over a target in the median run.
"""

from __future__ import annotations

import argparse
import collections
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from _bench import loopback_only, machine

from imdsclient.testing import IMDSSimulator

TARGET = 1.5
SIX_TARGET = 1.3
FLOOR = "http.client"
ROOT = Path(__file__).resolve().parents[1]
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
#: What imdsclient sends with every request (imdsclient/_transport.py), sent by the floors too.
_HEADERS = {"User-Agent": "imdsclient/0.1.0", "Accept": "*/*", "Accept-Encoding": "identity"}

_HTTP_CLIENT_SCRIPT = """\
import http.client
c = http.client.HTTPConnection({host!r}, {port}, timeout=1.0)
h = {headers!r}
c.request("PUT", "/latest/api/token",
          headers={{**h, "X-aws-ec2-metadata-token-ttl-seconds": "21600"}})
token = c.getresponse().read().decode()
c.request("GET", "/latest/meta-data/instance-id",
          headers={{**h, "X-aws-ec2-metadata-token": token}})
print(c.getresponse().read().decode())
c.close()
"""

_HTTPCORE_SCRIPT = """\
import httpcore
h = {headers!r}
with httpcore.ConnectionPool() as pool:
    token = pool.request("PUT", {url!r} + "/latest/api/token",
                         headers={{**h, "X-aws-ec2-metadata-token-ttl-seconds": "21600"}}).content
    print(pool.request("GET", {url!r} + "/latest/meta-data/instance-id",
                       headers={{**h, "X-aws-ec2-metadata-token": token}}).content.decode())
"""

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


def _environment(pythonpath: Path) -> dict[str, str]:
    """No AWS, proxy or PYTHON* settings; ``pythonpath`` first, so ``-m imdsclient`` is its."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("AWS_", "PYTHON", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"))
    }
    env["AWS_CONFIG_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env["PYTHONPATH"] = str(pythonpath)
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


#: Runs each contender and reports its rusage. A process's ``ru_maxrss`` starts at what the
#: process that started it held (Linux keeps the high-water mark across ``exec``), so contenders
#: are started by this small ``python -S`` process, not by the benchmark with its simulator.
_SPAWNER = """\
import os, sys, time
for line in iter(sys.stdin.readline, ""):
    argv, env, out, err = eval(line)
    files = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    files += [(os.POSIX_SPAWN_OPEN, fd, path, os.O_WRONLY | os.O_TRUNC, 0)
              for fd, path in ((1, out), (2, err))]
    started = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=files)
    sys.stdout.write(f"{pid}\\n")
    sys.stdout.flush()
    _, status, use = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.write(f"{wall} {use.ru_utime + use.ru_stime} {use.ru_maxrss} {code}\\n")
    sys.stdout.flush()
with open("/proc/self/status") as status:  # its own peak: its ru_maxrss starts at its parent's
    sys.stdout.write(next(l.split()[1] for l in status if l.startswith("VmHWM")) + "\\n")
"""


class Spawner:
    """The ``python -S`` process that starts the contenders (see :data:`_SPAWNER`)."""

    def __init__(self, tmp: Path) -> None:
        self._out, self._err = tmp / "stdout", tmp / "stderr"
        for path in (self._out, self._err):
            path.touch()
        # Run from ``tmp``: ``python -m`` puts the working directory first on sys.path, so from a
        # checkout's root every contender (the baseline too) would import that checkout's package.
        self._proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tmp,
        )

    def run(self, argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str, str]:
        """(wall s, CPU s of the process and its children, peak RSS KiB, stdout, stderr)."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(repr((argv, env, str(self._out), str(self._err))) + "\n")
        self._proc.stdin.flush()
        pid = int(self._proc.stdout.readline())
        ready, _, _ = select.select([self._proc.stdout], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)  # the contender this run started, by its own pid
            raise SystemExit(f"{argv[:6]} did not finish within 60 s")
        wall, cpu, rss, code = self._proc.stdout.readline().split()
        stdout = self._out.read_text(encoding="utf-8", errors="replace")
        stderr = self._err.read_text(encoding="utf-8", errors="replace")
        if int(code) != 0:
            raise SystemExit(f"{argv[:6]} failed ({code}): {stderr.strip()}")
        return float(wall), float(cpu), int(rss), stdout, stderr

    def close(self) -> int:
        """End the spawner (its stdin closed, it returns); its own peak RSS, KiB."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.close()
        own = int(self._proc.stdout.readline())
        self._proc.wait(timeout=10)
        return own


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
        f"{statistics.median(ordered):6.1f} {unit} "
        f"({ordered[0]:.1f}-{ordered[-1]:.1f}, IQR {q3 - q1:.1f})"
    )


class Contenders:
    """Each contender's command lines (several processes for some) and environment."""

    def __init__(self, url: str, options: argparse.Namespace, tmp: Path) -> None:
        self.spawner = Spawner(tmp)
        env = _environment(ROOT)
        python = [sys.executable, "-m", "imdsclient", "--endpoint", url]
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        get1 = [[*python, "get", "instance-id"]]
        self.single: dict[str, list[list[str]]] = {
            "get 1": get1,
            FLOOR: [
                [
                    sys.executable,
                    "-c",
                    _HTTP_CLIENT_SCRIPT.format(host=host, port=port, headers=_HEADERS),
                ]
            ],
            "python -c pass": [[sys.executable, "-c", "pass"]],
            "httpcore": [
                [sys.executable, "-c", _HTTPCORE_SCRIPT.format(url=url, headers=_HEADERS)]
            ],
            "httpx": [[sys.executable, "-c", _HTTPX_SCRIPT.format(url=url, extra="")]],
            "httpx-lean": [
                [sys.executable, "-c", _HTTPX_SCRIPT.format(url=url, extra=", verify=False")]
            ],
        }
        self.env = {name: env for name in self.single}
        if options.baseline:
            self.single["get 1 (baseline)"] = get1
            self.env["get 1 (baseline)"] = _environment(Path(options.baseline).resolve())
        self.six: dict[str, list[list[str]]] = {}
        if not options.skip_six:
            self.six["get 6 (one call)"] = [[*python, "get", *SIX]]
            self.six["get 6 (six calls)"] = [[*python, "get", path] for path in SIX]
            ec2_metadata = _ec2_metadata_copy(url, tmp)
            if ec2_metadata is not None:
                self.six["ec2-metadata"] = [["bash", str(ec2_metadata), *EC2_METADATA_FLAGS]]
            if shutil.which("curl") is not None:
                urls = " ".join(f"{url}/latest/meta-data/{path}" for path in SIX)
                self.six["curl (one token)"] = [["sh", "-c", _CURL.format(url=url, urls=urls)]]
            self.env.update({name: env for name in self.six})
        self.all = {**self.single, **self.six}


Sample = tuple[float, float, int]  # wall s, CPU s, peak RSS KiB
Ratios = tuple[float, float, float]  # wall (medians), wall (median per round), CPU (medians)


def _once(contenders: Contenders, name: str, expected: list[str]) -> Sample:
    wall, cpu, rss, out = 0.0, 0.0, 0, ""
    for argv in contenders.all[name]:
        elapsed, used, peak, printed, _ = contenders.spawner.run(argv, contenders.env[name])
        wall, cpu, rss, out = wall + elapsed, cpu + used, max(rss, peak), out + printed
    if name in contenders.six and _values(name, out) != expected:
        raise SystemExit(f"{name} printed {out!r}, not the six values")
    if name in contenders.single and name != "python -c pass" and out.strip() != expected[0]:
        raise SystemExit(f"{name} printed {out!r}")
    return wall, cpu, rss


def _measure(contenders: Contenders, rounds: int, expected: list[str]) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {name: [] for name in contenders.all}
    for _ in range(rounds):
        for name in contenders.all:
            samples[name].append(_once(contenders, name, expected))
    return samples


def _report(samples: dict[str, list[Sample]], baseline: bool) -> dict[str, Ratios]:
    """Print one run's table and ratio lines; each line's (wall, per-round wall, CPU) ratio."""
    walls = {name: [s[0] for s in got] for name, got in samples.items()}
    cpus = {name: [s[1] for s in got] for name, got in samples.items()}
    rss = {name: [s[2] / 1024 for s in got] for name, got in samples.items()}
    print(f"{'':<18} {'wall':<34} {'CPU (user + system)':<34} peak RSS")
    for name in samples:
        print(
            f"{name:<18} {_spread(walls[name]):<34} {_spread(cpus[name]):<34} "
            f"{_spread(rss[name], 1.0, 'MiB')}"
        )
    lines: dict[str, Ratios] = {}

    def ratio(a: str, b: str, target: float | None = None) -> None:
        if a not in samples or b not in samples:
            return
        wall = statistics.median(walls[a]) / statistics.median(walls[b])
        cpu = statistics.median(cpus[a]) / statistics.median(cpus[b])
        mem = statistics.median(rss[a]) / statistics.median(rss[b])
        rounds = [x / y for x, y in zip(walls[a], walls[b])]
        per = statistics.median(rounds)
        verdict = ""
        if target is not None:
            verdict = f"  target <= {target}x: {'within' if wall <= target else 'OVER'}"
        print(
            f"{a + ' / ' + b:<30} wall {wall:.2f}x (per round {per:.2f}x, "
            f"{min(rounds):.2f}-{max(rounds):.2f}), CPU {cpu:.2f}x, RSS {mem:.2f}x{verdict}"
        )
        lines[f"{a} / {b}"] = (wall, per, cpu)

    ratio("get 1", FLOOR, TARGET)
    for other in ("httpcore", "httpx", "httpx-lean", "python -c pass"):
        ratio("get 1", other)
    ratio("httpcore", FLOOR)
    if baseline:
        ratio("get 1", "get 1 (baseline)")
        ratio("get 1 (baseline)", FLOOR)
    ratio("get 6 (one call)", "get 1", SIX_TARGET)
    for other in ("get 6 (six calls)", "ec2-metadata", "curl (one token)"):
        ratio(other, "get 6 (one call)")
    return lines


# -- -X importtime -----------------------------------------------------------------------------


def _importtime(stderr: str) -> dict[str, int]:
    """Module -> self time (µs) from ``-X importtime`` output."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.split(":", 1)[1].split("|", 2)
        found.setdefault(name.strip(), int(self_us))
    return found


def _group(module: str) -> str:
    top = module.split(".")[0]
    if top in ("imdsclient", "httpx", "httpcore", "h11", "argparse", "anyio", "certifi"):
        return top
    return "everything else"


def _imports(contenders: Contenders, runs: int) -> None:
    """Modules and median self time of the CLI's imports, by package; httpx's own share."""
    env = contenders.env["get 1"]

    def modules(code: str) -> set[str]:
        argv = [sys.executable, "-X", "importtime", "-c", code]
        return set(_importtime(contenders.spawner.run(argv, env)[4]))

    only_httpx = modules("import httpx") - modules("import httpcore")
    probes = {
        "get 1": contenders.all["get 1"][0],
        FLOOR: contenders.all[FLOOR][0],
    }
    if "get 1 (baseline)" in contenders.all:
        probes["get 1 (baseline)"] = contenders.all["get 1 (baseline)"][0]
    seen: dict[str, list[dict[str, int]]] = {name: [] for name in probes}
    for _ in range(runs):
        for name, (program, *rest) in probes.items():
            argv = [program, "-X", "importtime", *rest]
            seen[name].append(_importtime(contenders.spawner.run(argv, contenders.env[name])[4]))
    print(f"\n-X importtime, {runs} alternating runs each (median self time per module):")
    for name, found in seen.items():
        names = set().union(*found)
        median = {m: statistics.median(f.get(m, 0) for f in found) / 1000 for m in names}
        by: dict[str, float] = collections.defaultdict(float)
        count: collections.Counter[str] = collections.Counter()
        for module, ms in median.items():
            by[_group(module)] += ms
            count[_group(module)] += 1
        total = sum(median.values())
        print(f"{name}: {len(names)} modules, {total:.1f} ms self time")
        groups = sorted(by, key=lambda g: -by[g])
        print("   " + ", ".join(f"{g} {by[g]:.1f} ms ({count[g]})" for g in groups))
        httpx_only = [m for m in names if m in only_httpx]
        if name != FLOOR:
            gone = sum(median[m] for m in httpx_only)
            print(
                f"   only httpx's (not httpcore's): {len(httpx_only)} modules, {gone:.1f} ms; "
                f"without them {len(names) - len(httpx_only)} modules, {total - gone:.1f} ms"
            )


def _summary(runs: list[dict[str, Ratios]]) -> None:
    print(f"\nAll {len(runs)} runs (wall: ratio of medians, median per-round ratio; CPU):")
    for line in runs[0]:
        cells = "  ".join(
            f"{r[line][0]:.2f}x ({r[line][1]:.2f}x; CPU {r[line][2]:.2f}x)" for r in runs
        )
        print(f"  {line:<32} {cells}")


def main() -> int:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds per repeat (at least 7)")
    parser.add_argument("--repeats", type=int, default=3, help="independent runs (default 3)")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout's root, for get 1")
    parser.add_argument("--imports", metavar="N", type=int, default=0, help="-X importtime runs")
    parser.add_argument("--skip-six", action="store_true", help="only the single-value contenders")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 7 rounds, one run, --skip-six"
    )
    parser.add_argument(
        "--keep-alive", action="store_true", help="simulator keeps connections (default: real mode)"
    )
    options = parser.parse_args()
    if options.quick:
        options.runs, options.repeats, options.skip_six = 7, 1, True
    rounds = max(7, options.runs)
    simulator = IMDSSimulator(log_limit=1000, keep_alive=options.keep_alive)
    results: list[dict[str, Ratios]] = []
    with simulator as sim, tempfile.TemporaryDirectory() as tmp:
        url = loopback_only(sim.url)
        contenders = Contenders(url, options, Path(tmp))
        expected = [sim.handle("GET", "/latest/meta-data/" + p, {}).body.decode() for p in SIX]
        for name in contenders.all:  # warm the OS caches, and check that each one works
            _once(contenders, name, expected)
        mode = "keep-alive" if options.keep_alive else "real mode (a connection per request)"
        print(f"{machine()}; simulator on 127.0.0.1, {mode}")
        if not options.skip_six and "ec2-metadata" not in contenders.six:
            print("ec2-metadata: not installed (Debian: apt-get install amazon-ec2-utils); skipped")
        for repeat in range(max(1, options.repeats)):
            print(f"\nrun {repeat + 1}: {rounds} alternating rounds")
            results.append(_report(_measure(contenders, rounds, expected), bool(options.baseline)))
        if options.imports:
            _imports(contenders, options.imports)
        least = contenders.spawner.close() / 1024
        print(f"(the spawner's own peak RSS, the least a contender can show: {least:.1f} MiB)")
    if len(results) > 1:
        _summary(results)
    middle = sorted(results, key=lambda r: r[f"get 1 / {FLOOR}"][0])[len(results) // 2]
    over = middle[f"get 1 / {FLOOR}"][0] > TARGET
    if "get 6 (one call) / get 1" in middle:
        over |= middle["get 6 (one call) / get 1"][0] > SIX_TARGET
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
