"""Round trips and time per role-credentials retrieval: each drop-in against its SDK's own fetcher.

Four fetchers ask an ``IMDSSimulator`` on 127.0.0.1 (tokens required, as on a hardened
instance) for the instance role's credentials ``--retrievals`` times, the way a credential
refresh does: botocore's ``InstanceMetadataFetcher`` and ``imdsclient.boto``'s, then (if
aiobotocore is installed) aiobotocore's ``AioInstanceMetadataFetcher`` and
``imdsclient.aiobotocore``'s.  Round trips are counted by the simulator, so they are exact;
times are the median of ``--rounds`` rounds.  The SDKs' fetchers send a token PUT, the role
listing and the credentials GET every time; ours keep the token for its lifetime and the role
name, so once warm a retrieval is one GET.  Target (docs/boto.md): at most half of the SDK's
round trips.  Rounds alternate between the fetchers (A B C D, then B C D A, ...); the time ratio
is taken per round.  Run: ``python benchmarks/credentials_round_trips.py [--retrievals N]
[--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import time
from collections.abc import Awaitable
from typing import Any, Callable
from urllib.parse import urlsplit

from _bench import Spread

from imdsclient.testing import IMDSSimulator

__all__ = ["main", "measure"]

Fetch = Callable[[], Awaitable[dict[str, str]]]
#: (ours, the SDK's) per SDK; aiobotocore is optional.
PAIRS = (("imdsclient.boto", "botocore"), ("imdsclient.aiobotocore", "aiobotocore"))


def _loopback_only(sim: IMDSSimulator) -> None:
    if urlsplit(sim.url).hostname != "127.0.0.1":
        raise SystemExit("refusing to benchmark anything but 127.0.0.1")


def _fetcher(kind: str, url: str) -> tuple[Fetch, Callable[[], Awaitable[None]]]:
    """(one retrieval, close) for a fetcher of ``kind``, both awaitable."""

    async def nothing() -> None:
        return None

    if kind == "botocore":
        from botocore.utils import InstanceMetadataFetcher as BotocoreFetcher

        sync = BotocoreFetcher(timeout=2, base_url=url, env={}).retrieve_iam_role_credentials

        async def botocore_fetch() -> dict[str, str]:
            return sync()  # type: ignore[no-any-return]

        return botocore_fetch, nothing
    if kind == "imdsclient.boto":
        from imdsclient.boto import InstanceMetadataFetcher

        ours = InstanceMetadataFetcher(timeout=2, base_url=url, env={})

        async def boto_fetch() -> dict[str, str]:
            return ours.retrieve_iam_role_credentials()

        async def boto_close() -> None:
            ours.close()

        return boto_fetch, boto_close
    if kind == "aiobotocore":
        from aiobotocore.utils import AioInstanceMetadataFetcher as SdkFetcher

        theirs: Any = SdkFetcher(timeout=2, base_url=url, env={})
        return theirs.retrieve_iam_role_credentials, nothing
    from imdsclient.aiobotocore import AioInstanceMetadataFetcher

    aio = AioInstanceMetadataFetcher(timeout=2, base_url=url, env={})
    return aio.retrieve_iam_role_credentials, aio.close


async def _measure(kind: str, retrievals: int) -> tuple[int, int, float]:
    with IMDSSimulator(http_tokens="required", log_limit=None) as sim:
        _loopback_only(sim)
        fetch, close = _fetcher(kind, sim.url)
        try:
            if not await fetch():
                raise SystemExit(f"{kind}: no credentials from the simulator")
            cold = sim.count()
            sim.clear_requests()
            start = time.perf_counter()
            for _ in range(retrievals):
                await fetch()
            elapsed = time.perf_counter() - start
            return cold, sim.count(), elapsed / retrievals
        finally:
            await close()


def measure(kind: str, retrievals: int) -> tuple[int, int, float]:
    """(requests for the first retrieval, requests for the rest, seconds per warm retrieval)."""
    return asyncio.run(_measure(kind, retrievals))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--retrievals", type=int, default=200, help="retrievals per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median time is shown")
    args = parser.parse_args(argv)
    # The SDKs' fetchers honour proxy variables; keep them on this machine whatever they say.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    pairs = [p for p in PAIRS if importlib.util.find_spec(p[1]) is not None]
    kinds = [kind for pair in pairs for kind in reversed(pair)]  # each SDK's, then ours
    results: dict[str, list[tuple[int, int, float]]] = {kind: [] for kind in kinds}
    for r in range(args.rounds):  # interleaved: A B C D, then B C D A, ...
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            results[kind].append(measure(kind, args.retrievals))
    print(f"{args.retrievals} retrievals x {args.rounds} alternating rounds against IMDSSimulator")
    print(f"{'fetcher':<24} {'cold trips':>10} {'trips/retrieval':>16} {'ms/retrieval':>13}")
    for kind in kinds:
        first = results[kind][0]
        seconds = statistics.median(r[2] for r in results[kind])
        per = first[1] / args.retrievals
        print(f"{kind:<24} {first[0]:>10} {per:>16.2f} {seconds * 1000:>13.3f}")
    ok = True
    for ours, theirs in pairs:
        trips = results[ours][0][1] / results[theirs][0][1]
        ratio = Spread.of([a[2] / b[2] for a, b in zip(results[ours], results[theirs])])
        verdict = "meets" if trips <= 0.5 else "MISSES"
        ok = ok and trips <= 0.5
        print(
            f"{ours}: {trips:.2f}x {theirs}'s round trips ({verdict} the <= 0.5x target); "
            f"time per retrieval {ratio.show('{:.2f}')}x {theirs}'s (per round)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
