"""Per-call cost of a warm ``AsyncIMDSClient.get`` against a bare ``httpx.AsyncClient`` GET.

Target (docs/performance.md, #15): a warm async ``get`` <= 0.8x the bare ``httpx.AsyncClient``
GET (keep-alive), in CPU time and in wall time; the real-IMDS mode (``Connection: close`` after
every answer) is measured too.

Both read ``instance-id`` from an IMDS simulator on 127.0.0.1 in a child process (so this
process's CPU time is the client's alone). The floor fetches its token once and then does one
GET with the token header and a status check per call, the requests imdsclient makes. One event
loop runs everything; rounds alternate the two (A B, then B A, …); each round times ``--calls``
calls of each in wall time and CPU time. The ratio is the median of the per-round ratios.
Run it with and without ``sniffio`` installed to see httpcore's failed-import tax:

    python benchmarks/async_get.py [--quick] [--rounds 15] [--calls 300] [--mode M]

Exit status 1 when imdsclient / floor is over the target (keep-alive, CPU or wall).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
from _bench import SimulatorProcess, Spread, clean_environment, machine, table

from imdsclient import AsyncIMDSClient

TARGET = 0.8  # keep-alive, CPU and wall (#15)
TOKEN = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
PATH = "/latest/meta-data/instance-id"

Call = Callable[[], Awaitable[object]]


async def run_mode(url: str, rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    """Per-call µs of each contender, ``{name: {"cpu": [...], "wall": [...]}}``, one per round."""
    ours = AsyncIMDSClient(endpoint=url)
    floor = httpx.AsyncClient(base_url=url, trust_env=False, timeout=5.0)
    token = (await floor.put("/latest/api/token", headers=TOKEN)).raise_for_status().text
    headers = {"X-aws-ec2-metadata-token": token}

    async def floor_get() -> object:
        response = await floor.get(PATH, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(response.status_code)
        return response.text

    contenders: dict[str, Call] = {
        "httpx.AsyncClient floor": floor_get,
        "AsyncIMDSClient.get": lambda: ours.get("instance-id"),
    }
    samples: dict[str, dict[str, list[float]]] = {n: {"cpu": [], "wall": []} for n in contenders}
    try:
        for call in contenders.values():  # warm up: token, connection, code paths
            assert str(await call()).startswith("i-")
            for _ in range(min(calls, 100)):
                await call()
        names = list(contenders)
        for r in range(rounds):
            for name in names[r % 2 :] + names[: r % 2]:
                call = contenders[name]
                started, started_cpu = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    await call()
                samples[name]["cpu"].append((time.process_time() - started_cpu) / calls * 1e6)
                samples[name]["wall"].append((time.perf_counter() - started) / calls * 1e6)
    finally:
        await ours.aclose()
        await floor.aclose()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per mode (default 15)")
    parser.add_argument("--calls", type=int, help="calls per contender per round (default 300)")
    parser.add_argument(
        "--mode", choices=("both", "real", "keep-alive"), default="both", help="default both"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    calls = args.calls or (50 if args.quick else 300)
    modes = ["keep-alive", "real"] if args.mode == "both" else [args.mode]
    clean_environment()
    print(f"async get per call: {rounds} alternating rounds x {calls} calls per mode; {machine()}")
    ok = True
    for mode in modes:
        with SimulatorProcess(log_limit=10, keep_alive=mode == "keep-alive") as sim:
            samples = asyncio.run(run_mode(sim.url, rounds, calls))
        floor = samples["httpx.AsyncClient floor"]
        rows, ratio = [], {}
        for name, got in samples.items():
            cells = [name]
            for kind in ("cpu", "wall"):
                cells.append(Spread.of(got[kind]).show("{:.0f}"))
            for kind in ("cpu", "wall"):
                spread = Spread.of([a / b for a, b in zip(got[kind], floor[kind])])
                cells.append(spread.show("{:.2f}"))
                ratio[kind] = spread.median
            rows.append(cells)
        title = "keep-alive mode" if mode == "keep-alive" else "real IMDS mode (Connection: close)"
        print(f"\n{title}\n")
        headers = ["contender", "CPU us/call", "wall us/call", "x floor, CPU", "x floor, wall"]
        print(table(headers, rows))
        met = max(ratio.values()) <= TARGET
        verdict = f"target <= {TARGET} both: {'met' if met else 'MISSED'}"
        print(
            f"AsyncIMDSClient / httpx.AsyncClient = {ratio['cpu']:.2f} CPU, "
            f"{ratio['wall']:.2f} wall ({verdict if mode == 'keep-alive' else 'no target'})"
        )
        ok = ok and (met or mode != "keep-alive")
    print(f"\nsniffio imported: {'sniffio' in sys.modules}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
