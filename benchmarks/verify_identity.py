"""Cost of identity verification: per call (rsa2048, signature, pkcs7) and the extra's import.

Per call: ``verify_identity`` on real AWS-signed samples (``tests/data/iid/samples``) with the
bundled certificates, warm (certificates parsed, modules imported).  Each round times ``--calls``
verifications of each contender, in an order that rotates every round; the table shows the
medians of the rounds with their spread.

Import: fresh interpreters (``--runs`` each, alternating) that time, from inside, what the first
verification pays on top of ``import imdsclient``: importing cryptography and asn1crypto
(``imdsclient._pkcs7``), and the whole first call (imports, reading and parsing the region's
certificate, verifying).  Also, for tests, the simulator's first signed body (key generation).

Nothing here touches the network.  Run from the repository root:
``python benchmarks/verify_identity.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _bench import Spread, machine, table

from imdsclient import verify_identity

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "data" / "iid" / "samples"


def _read(sample: str, name: str) -> str:
    return (SAMPLES / sample / name).read_text(encoding="ascii")


def contenders() -> dict[str, Callable[[], object]]:
    """Name → one verification, each of a real sample."""
    cloudinit = "cloudinit-us-east-2-20181005"
    rsa2048_2018 = _read(cloudinit, "rsa2048")
    rsa2048_2026 = _read("metaphor-ap-southeast-2-20260216", "rsa2048")
    document = (SAMPLES / cloudinit / "document").read_bytes()
    signature = _read(cloudinit, "signature")
    pkcs7 = _read(cloudinit, "pkcs7")
    return {
        "rsa2048 (2018 encoding)": lambda: verify_identity(rsa2048=rsa2048_2018),
        "rsa2048 (2026 encoding)": lambda: verify_identity(rsa2048=rsa2048_2026),
        "signature": lambda: verify_identity(document, signature=signature),
        "pkcs7 (allow_dsa)": lambda: verify_identity(pkcs7=pkcs7, allow_dsa=True),
        "rsa2048 + signature + document": lambda: verify_identity(
            document, rsa2048=rsa2048_2018, signature=signature
        ),
    }


def per_call(rounds: int, calls: int) -> list[list[str]]:
    """Rows of µs per verification: median (min-max, IQR) over rounds."""
    named = contenders()
    for verify in named.values():  # warm: imports, certificate parsing
        verify()
    samples: dict[str, list[float]] = {name: [] for name in named}
    names = list(named)
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            verify = named[name]
            start = time.perf_counter()
            for _ in range(calls):
                verify()
            samples[name].append((time.perf_counter() - start) / calls * 1e6)
    return [[name, Spread.of(samples[name]).show("{:.0f}")] for name in names]


_PROBES = {
    "import cryptography + asn1crypto": (
        "import imdsclient, time; t = time.perf_counter(); import imdsclient._pkcs7; "
        "print(time.perf_counter() - t)"
    ),
    "first verify_identity(rsa2048=...) in a process": (
        "import imdsclient, time, pathlib; body = pathlib.Path({body!r}).read_text(); "
        "t = time.perf_counter(); imdsclient.verify_identity(rsa2048=body); "
        "print(time.perf_counter() - t)"
    ),
    "simulator: first signed body (key generation)": (
        "from imdsclient.testing import SimulatorState; import time; s = SimulatorState(); "
        "t = time.perf_counter(); "
        "s.handle('GET', '/latest/dynamic/instance-identity/rsa2048', {{}}); "
        "print(time.perf_counter() - t)"
    ),
}


def cold(runs: int) -> list[list[str]]:
    """Rows of ms measured inside fresh interpreters, the probes alternating run by run."""
    body = str(SAMPLES / "cloudinit-us-east-2-20181005" / "rsa2048")
    samples: dict[str, list[float]] = {name: [] for name in _PROBES}
    names = list(_PROBES)
    for run in range(runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            code = _PROBES[name].format(body=body)
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            samples[name].append(float(out.stdout.strip()) * 1e3)
    return [[name, Spread.of(samples[name]).show("{:.1f}")] for name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="rounds of per-call timing")
    parser.add_argument("--calls", type=int, default=200, help="verifications per round")
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per probe")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.runs = 3, 20, 2
    print(f"Machine: {machine()}\n")
    print(f"Per verification, warm ({args.rounds} rounds x {args.calls} calls):\n")
    print(
        table(
            ["verify_identity", "µs per call: median (min-max, IQR)"],
            per_call(args.rounds, args.calls),
        )
    )
    print(f"\nCold, inside fresh interpreters ({args.runs} runs each):\n")
    print(table(["what", "ms: median (min-max, IQR)"], cold(args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
