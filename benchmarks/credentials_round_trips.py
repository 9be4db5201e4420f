"""Round trips and time per role-credentials retrieval: imdsclient.boto against botocore's fetcher.

Both fetchers ask an ``IMDSSimulator`` on 127.0.0.1 (tokens required, as on a hardened
instance) for the instance role's credentials ``--retrievals`` times, the way botocore's
credential refresh does.  Round trips are counted by the simulator, so they are exact; times are
the median of ``--rounds`` rounds.  botocore's fetcher sends a token PUT, the role listing and the
credentials GET every time; ours keeps its token for its lifetime and the role name, so once warm
a retrieval is one GET.  Target (docs/boto.md): at most half of botocore's round trips.  Run:
``python benchmarks/credentials_round_trips.py [--retrievals N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable
from urllib.parse import urlsplit

from botocore.utils import InstanceMetadataFetcher as BotocoreFetcher

from imdsclient.boto import InstanceMetadataFetcher
from imdsclient.testing import IMDSSimulator

__all__ = ["main", "measure"]

Fetch = Callable[[], dict[str, str]]


def _loopback_only(sim: IMDSSimulator) -> None:
    if urlsplit(sim.url).hostname != "127.0.0.1":
        raise SystemExit("refusing to benchmark anything but 127.0.0.1")


def measure(kind: str, retrievals: int, keep_alive: bool) -> tuple[int, int, float]:
    """(requests for the first retrieval, requests for the rest, seconds per warm retrieval)."""
    with IMDSSimulator(http_tokens="required", log_limit=None, keep_alive=keep_alive) as sim:
        _loopback_only(sim)
        ours: InstanceMetadataFetcher | None = None
        if kind == "imdsclient":
            ours = InstanceMetadataFetcher(timeout=2, base_url=sim.url, env={})
            fetch: Fetch = ours.retrieve_iam_role_credentials
        else:
            fetch = BotocoreFetcher(
                timeout=2, base_url=sim.url, env={}
            ).retrieve_iam_role_credentials
        try:
            if not fetch():
                raise SystemExit(f"{kind}: no credentials from the simulator")
            cold = sim.count()
            sim.clear_requests()
            start = time.perf_counter()
            for _ in range(retrievals):
                fetch()
            elapsed = time.perf_counter() - start
            return cold, sim.count(), elapsed / retrievals
        finally:
            if ours is not None:
                ours.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--retrievals", type=int, default=200, help="retrievals per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median time is shown")
    parser.add_argument(
        "--keep-alive", action="store_true", help="simulator keeps connections (default: real mode)"
    )
    args = parser.parse_args(argv)
    # botocore's fetcher honours proxy variables; keep it on this machine whatever they say.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    rows: dict[str, tuple[int, float, float]] = {}
    mode = "keep-alive" if args.keep_alive else "real IMDS mode"
    print(
        f"{args.retrievals} retrievals x {args.rounds} rounds against IMDSSimulator (127.0.0.1,"
        f" {mode})"
    )
    print(f"{'fetcher':<12} {'cold trips':>10} {'trips/retrieval':>16} {'ms/retrieval':>13}")
    for kind in ("botocore", "imdsclient"):
        results = [measure(kind, args.retrievals, args.keep_alive) for _ in range(args.rounds)]
        cold = results[0][0]
        per = results[0][1] / args.retrievals
        seconds = statistics.median(r[2] for r in results)
        rows[kind] = (cold, per, seconds)
        print(f"{kind:<12} {cold:>10} {per:>16.2f} {seconds * 1000:>13.3f}")
    trips = rows["imdsclient"][1] / rows["botocore"][1]
    speed = rows["botocore"][2] / rows["imdsclient"][2]
    verdict = "meets" if trips <= 0.5 else "MISSES"
    print(
        f"round trips: {trips:.2f}x botocore's ({verdict} the <= 0.5x target); {speed:.1f}x faster"
    )
    return 0 if trips <= 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
