"""Per-call cost of ``IMDSClient.get`` in both connection modes, against bare floors and peers.

Target (docs/performance.md, #15): measured first in the **real-IMDS mode** (the server closes
the connection after every answer, as IMDS does), then keep-alive; a warm ``get`` <= 0.8x a bare
httpx client doing the same GET, in CPU time and in wall time, and reported against a bare
``http.client``.

Contenders, each reading ``instance-id`` from an IMDS simulator on 127.0.0.1 (run in a child
process, so no contender shares a GIL with the server's threads):

- ``httpx floor``: one ``httpx.Client`` (``trust_env=False``), token fetched once, then a plain GET
  with the token header and a status check per call. In the real mode httpx sees
  ``Connection: close`` and opens a new connection per call, exactly as imdsclient must.
- ``http.client floor``: the standard library doing the same requests: in the real mode a new
  ``HTTPConnection`` per call; keep-alive, one persistent connection.
- ``imdsclient``: ``IMDSClient.get("instance-id")`` on a warm client (one GET per call).
- ``botocore PUT+GET``: what botocore's ``InstanceMetadataFetcher`` does for every lookup: a fresh
  token (``IMDSFetcher._fetch_metadata_token``) and then ``IMDSFetcher._get_request``. These are
  private botocore methods; botocore has no public "get one path" call.
- ``botocore GET``: ``_get_request`` with a token fetched once.
- ``ec2-metadata``: the ``ec2-metadata`` package (urllib3 inside), if installed; its URLs are
  instance attributes, overwritten on its own instance; its ``cached_property`` value is dropped
  before every call so each call does real work.

For each mode, rounds alternate the contenders (A B C … then rotated); each round times every
contender's calls in wall time and in this process's CPU time (the simulator's is its own
process's). The table shows per-call medians with min-max and IQR, the ratio to each floor as
the median of per-round ratios (floor and contender measured in the same round), and
connections / PUT / GET per call counted by the simulator. Exit status 1 when
``imdsclient``/httpx floor is over the target, in CPU or wall time, in either mode.

Usage: ``python benchmarks/get_per_call.py [--quick] [--rounds R] [--calls N] [--mode M]``.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from _bench import SimulatorProcess, Spread, clean_environment, machine, table

from imdsclient import IMDSClient

#: imdsclient / httpx floor, CPU and wall, per mode (#15; wave 1 was 1.1x real, 1.3x keep-alive).
TARGETS = {"real": 0.8, "keep-alive": 0.8}
PATH = "/latest/meta-data/instance-id"
TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
FLOORS = ("httpx floor", "http.client floor")

Call = Callable[[], object]
Made = tuple[Call, Callable[[], None]]


def httpx_floor(url: str, keep_alive: bool) -> Made:
    del keep_alive  # httpx follows the server: Connection: close means a new connection per call
    client = httpx.Client(base_url=url, trust_env=False, timeout=5.0)
    token = client.put("/latest/api/token", headers=TTL).raise_for_status().text
    headers = {"X-aws-ec2-metadata-token": token}

    def call() -> object:
        response = client.get(PATH, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(response.status_code)
        return response.text

    return call, client.close


def http_client_floor(url: str, keep_alive: bool) -> Made:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    setup = http.client.HTTPConnection(host, port, timeout=5)
    setup.request("PUT", "/latest/api/token", headers=TTL)
    token = setup.getresponse().read().decode()
    setup.close()
    headers = {"X-aws-ec2-metadata-token": token}
    persistent: list[http.client.HTTPConnection] = []

    def call() -> object:
        if keep_alive:
            if not persistent:
                persistent.append(http.client.HTTPConnection(host, port, timeout=5))
            conn = persistent[0]
        else:
            conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", PATH, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(response.status)
        if not keep_alive:
            conn.close()
        return body.decode()

    def close() -> None:
        for conn in persistent:
            conn.close()

    return call, close


def imdsclient_get(url: str, keep_alive: bool) -> Made:
    del keep_alive
    client = IMDSClient(endpoint=url)
    return (lambda: client.get("instance-id")), client.close


def botocore_put_get(url: str, keep_alive: bool) -> Made:
    del keep_alive
    from botocore.utils import IMDSFetcher

    fetcher: Any = IMDSFetcher(timeout=1, num_attempts=1, base_url=url)

    def call() -> object:
        token = fetcher._fetch_metadata_token()
        return fetcher._get_request("latest/meta-data/instance-id", None, token).text

    return call, lambda: None


def botocore_get(url: str, keep_alive: bool) -> Made:
    del keep_alive
    from botocore.utils import IMDSFetcher

    fetcher: Any = IMDSFetcher(timeout=1, num_attempts=1, base_url=url)
    token = fetcher._fetch_metadata_token()
    return (
        lambda: fetcher._get_request("latest/meta-data/instance-id", None, token).text
    ), lambda: None


def ec2_metadata_get(url: str, keep_alive: bool) -> Made | None:
    del keep_alive
    try:
        from ec2_metadata import EC2Metadata  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    md: Any = EC2Metadata()
    md.service_url = f"{url}/latest/"  # its only knob for the endpoint: instance attributes
    md.dynamic_url = f"{md.service_url}dynamic/"
    md.metadata_url = f"{md.service_url}meta-data/"
    md.userdata_url = f"{md.service_url}user-data/"

    def call() -> object:
        md.__dict__.pop("instance_id", None)  # defeat the cached_property: a real lookup
        return md.instance_id

    return call, md._pool_manager.clear


CONTENDERS: dict[str, Callable[[str, bool], Made | None]] = {
    "httpx floor": httpx_floor,
    "http.client floor": http_client_floor,
    "imdsclient": imdsclient_get,
    "botocore PUT+GET": botocore_put_get,
    "botocore GET": botocore_get,
    "ec2-metadata": ec2_metadata_get,
}


def round_trips(sim: SimulatorProcess, call: Call, calls: int = 20) -> str:
    """``connections / PUT / GET`` per call, from the simulator's counters and log."""
    sim.call("clear_requests")
    before = sim.call("connections")
    for _ in range(calls):
        call()
    conns = sim.call("connections") - before
    puts, gets = sim.call("count", "PUT"), sim.call("count", "GET")
    return f"{conns / calls:.2f} / {puts / calls:.2f} / {gets / calls:.2f}"


def measure(
    mode: str, rounds: int, calls: int, only: list[str] | None = None
) -> tuple[list[list[str]], dict[str, float], list[str]]:
    """One mode: its table rows, imdsclient / httpx floor (``cpu`` and ``wall``), and notes."""
    keep_alive = mode == "keep-alive"
    notes: list[str] = []
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    trips: dict[str, str] = {}
    with SimulatorProcess(log_limit=10_000, keep_alive=keep_alive) as sim:
        active: dict[str, Made] = {}
        for name, make in CONTENDERS.items():
            if only is not None and name not in [*only, *FLOORS, "imdsclient"]:
                continue
            made = make(sim.url, keep_alive)
            if made is None:
                notes.append(f"{name}: not installed (pip install ec2-metadata); skipped")
                continue
            call, _ = made
            assert str(call()).startswith("i-"), name  # warm up and check the value
            for _ in range(min(calls, 100)):
                call()
            active[name] = made
            wall[name], cpu[name] = [], []
        for name, (call, _) in active.items():
            trips[name] = round_trips(sim, call)
        names = list(active)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                call = active[name][0]
                started, started_cpu = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    call()
                cpu[name].append((time.process_time() - started_cpu) / calls * 1e6)
                wall[name].append((time.perf_counter() - started) / calls * 1e6)
        for _, close in active.values():
            close()
    rows = []
    for name in wall:
        cells = [name, Spread.of(cpu[name]).show("{:.0f}"), Spread.of(wall[name]).show("{:.0f}")]
        for floor in FLOORS:
            for samples in (cpu, wall):
                ratios = Spread.of([a / b for a, b in zip(samples[name], samples[floor])])
                cells.append(ratios.show("{:.2f}"))
        delta = statistics.median(a - b for a, b in zip(cpu[name], cpu["httpx floor"]))
        cells += [f"{delta:+.0f}", trips[name]]
        rows.append(cells)
    ours = {
        kind: Spread.of([a / b for a, b in zip(s["imdsclient"], s["httpx floor"])]).median
        for kind, s in (("cpu", cpu), ("wall", wall))
    }
    return rows, ours, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per mode (default 15)")
    parser.add_argument("--calls", type=int, help="calls per contender per round (default 300)")
    parser.add_argument(
        "--mode", choices=("both", "real", "keep-alive"), default="both", help="default both"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        choices=[name for name in CONTENDERS if name not in FLOORS and name != "imdsclient"],
        help="peers to run besides the floors and imdsclient (default: all; none: no peers)",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    calls = args.calls or (50 if args.quick else 300)
    modes = ["real", "keep-alive"] if args.mode == "both" else [args.mode]
    clean_environment()

    ok = True
    print(f"get per call: {rounds} alternating rounds x {calls} calls per mode; {machine()}")
    for mode in modes:
        rows, ours, notes = measure(mode, rounds, calls, args.only)
        headers = [
            "contender",
            "CPU us/call (min-max, IQR)",
            "wall us/call (min-max, IQR)",
            "x httpx floor, CPU",
            "x httpx floor, wall",
            "x http.client, CPU",
            "x http.client, wall",
            "+CPU us vs httpx",
            "conn / PUT / GET",
        ]
        title = "real IMDS mode (Connection: close)" if mode == "real" else "keep-alive mode"
        print(f"\n{title}\n")
        print(table(headers, rows))
        for note in notes:
            print(f"note: {note}")
        target = TARGETS[mode]
        met = max(ours.values()) <= target
        print(
            f"imdsclient / httpx floor = {ours['cpu']:.2f} CPU, {ours['wall']:.2f} wall "
            f"(target <= {target} both: {'met' if met else 'MISSED'})"
        )
        ok = ok and met
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
