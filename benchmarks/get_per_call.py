"""Per-call cost of ``IMDSClient.get`` against a bare httpx GET and the peers.

Target (docs/performance.md): <= 1.3x.

Contenders, each reading ``instance-id`` from an IMDS simulator on 127.0.0.1 (run in a child
process, so no contender shares a GIL with the server's threads):

- ``httpx floor``: one keep-alive ``httpx.Client`` (``trust_env=False``), token fetched once,
  then a plain GET with the token header and a status check per call. Nothing can be cheaper.
- ``imdsclient``: ``IMDSClient.get("instance-id")`` on a warm client (one GET per call).
- ``botocore PUT+GET``: what botocore's ``InstanceMetadataFetcher`` does for every lookup: a fresh
  token (``IMDSFetcher._fetch_metadata_token``) and then ``IMDSFetcher._get_request``. These are
  private botocore methods; botocore has no public "get one path" call.
- ``botocore GET``: ``_get_request`` with a token fetched once, to separate botocore's per-request
  overhead from its extra round trip.
- ``ec2-metadata``: the ``ec2-metadata`` package (urllib3 inside), if installed. Its URLs are
  instance attributes (``service_url``, ``metadata_url``…) built in ``__init__`` from the
  constant ``http://169.254.169.254/latest/``, so the benchmark overwrites those attributes on
  its instance (no module patching). ``instance_id`` is a ``cached_property``; the cached value
  is dropped before every call so each call runs its real code path (token check + GET).

Rounds alternate the contenders (the order rotates every round); the table shows per-call
medians with min-max and IQR, and the ratio to the floor as the median of per-round ratios.
Round trips per call are counted from the simulator's request log. Exit status 1 when
``imdsclient``/floor is over 1.3.

Usage: ``python benchmarks/get_per_call.py [--quick] [--rounds R] [--calls N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
from _bench import SimulatorProcess, Spread, clean_environment, machine, table

from imdsclient import IMDSClient

TARGET = 1.3
PATH = "/latest/meta-data/instance-id"
TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}

Call = Callable[[], object]


def httpx_floor(url: str) -> tuple[Call, Callable[[], None]]:
    client = httpx.Client(base_url=url, trust_env=False, timeout=5.0)
    token = client.put("/latest/api/token", headers=TTL).raise_for_status().text
    headers = {"X-aws-ec2-metadata-token": token}

    def call() -> object:
        response = client.get(PATH, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(response.status_code)
        return response.text

    return call, client.close


def imdsclient_get(url: str) -> tuple[Call, Callable[[], None]]:
    client = IMDSClient(endpoint=url)
    return (lambda: client.get("instance-id")), client.close


def botocore_put_get(url: str) -> tuple[Call, Callable[[], None]]:
    from botocore.utils import IMDSFetcher

    fetcher: Any = IMDSFetcher(timeout=1, num_attempts=1, base_url=url)

    def call() -> object:
        token = fetcher._fetch_metadata_token()
        return fetcher._get_request("latest/meta-data/instance-id", None, token).text

    return call, lambda: None


def botocore_get(url: str) -> tuple[Call, Callable[[], None]]:
    from botocore.utils import IMDSFetcher

    fetcher: Any = IMDSFetcher(timeout=1, num_attempts=1, base_url=url)
    token = fetcher._fetch_metadata_token()
    return (
        lambda: fetcher._get_request("latest/meta-data/instance-id", None, token).text
    ), lambda: None


def ec2_metadata_get(url: str) -> tuple[Call, Callable[[], None]] | None:
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


CONTENDERS: dict[str, Callable[[str], tuple[Call, Callable[[], None]] | None]] = {
    "httpx floor": httpx_floor,
    "imdsclient": imdsclient_get,
    "botocore PUT+GET": botocore_put_get,
    "botocore GET": botocore_get,
    "ec2-metadata": ec2_metadata_get,
}


def round_trips(sim: SimulatorProcess, call: Call, calls: int = 20) -> str:
    """``PUT/GET`` requests per call, from the simulator's log."""
    sim.call("clear_requests")
    for _ in range(calls):
        call()
    puts, gets = sim.call("count", "PUT"), sim.call("count", "GET")
    return f"{puts / calls:.2f} / {gets / calls:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 15)")
    parser.add_argument("--calls", type=int, help="calls per contender per round (default 300)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    calls = args.calls or (50 if args.quick else 300)
    clean_environment()

    notes: list[str] = []
    samples: dict[str, list[float]] = {}
    trips: dict[str, str] = {}
    with SimulatorProcess(log_limit=10_000) as sim:
        active: dict[str, tuple[Call, Callable[[], None]]] = {}
        for name, make in CONTENDERS.items():
            made = make(sim.url)
            if made is None:
                notes.append(f"{name}: not installed (pip install ec2-metadata); skipped")
                continue
            call, _ = made
            assert str(call()).startswith("i-"), name  # warm up and check the value
            for _ in range(min(calls, 100)):
                call()
            active[name] = made
            samples[name] = []
        for name, (call, _) in active.items():
            trips[name] = round_trips(sim, call)
        names = list(active)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                call = active[name][0]
                started = time.perf_counter()
                for _ in range(calls):
                    call()
                samples[name].append((time.perf_counter() - started) / calls * 1e6)
        for _, close in active.values():
            close()

    floor = samples["httpx floor"]
    rows = []
    for name, per_call in samples.items():
        ratios = Spread.of([a / b for a, b in zip(per_call, floor)])
        delta = statistics.median(a - b for a, b in zip(per_call, floor))
        rows.append(
            [
                name,
                Spread.of(per_call).show("{:.0f}"),
                ratios.show("{:.2f}"),
                f"{delta:+.0f}",
                trips[name],
            ]
        )
    ours = Spread.of([a / b for a, b in zip(samples["imdsclient"], floor)]).median
    print(f"get per call: {rounds} alternating rounds x {calls} calls; {machine()}")
    headers = ["contender", "us/call median (min-max, IQR)", "x floor", "+us", "PUT / GET"]
    print(table(headers, rows))
    for note in notes:
        print(f"note: {note}")
    verdict = "met" if ours <= TARGET else "MISSED"
    print(f"imdsclient / floor = {ours:.2f} (target <= {TARGET}: {verdict})")
    return 0 if ours <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
