"""CPU per warm ``AsyncIMDSClient.get`` against a bare ``httpx.AsyncClient`` GET (keep-alive).

Both read ``instance-id`` from an in-process simulator on 127.0.0.1 (keep-alive, so the figure is
the client's own cost); rounds alternate ours / the floor; CPU time of the whole process (the
simulator's threads included, which pulls the ratio towards 1). Run it once with ``sniffio``
installed and once without to see httpcore's failed-import tax (#15):

    python benchmarks/async_get.py [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import httpx
from _bench import loopback_only

from imdsclient import AsyncIMDSClient
from imdsclient.testing import IMDSSimulator

TOKEN = {"X-aws-ec2-metadata-token-ttl-seconds": "600"}
PATH = "/latest/meta-data/instance-id"


async def ours(url: str, calls: int) -> float:
    async with AsyncIMDSClient(endpoint=url) as client:
        await client.get("instance-id")
        started = time.process_time()
        for _ in range(calls):
            await client.get("instance-id")
        return (time.process_time() - started) / calls * 1e6


async def floor(url: str, calls: int) -> float:
    async with httpx.AsyncClient(base_url=url) as client:
        token = (await client.put("/latest/api/token", headers=TOKEN)).text
        headers = {"X-aws-ec2-metadata-token": token}
        await client.get(PATH, headers=headers)
        started = time.process_time()
        for _ in range(calls):
            await client.get(PATH, headers=headers)
        return (time.process_time() - started) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with IMDSSimulator(keep_alive=True, log_limit=10) as sim:
        url = loopback_only(sim.url)
        mine, theirs = [], []
        for _ in range(args.rounds):
            mine.append(asyncio.run(ours(url, args.calls)))
            theirs.append(asyncio.run(floor(url, args.calls)))
    ratio = statistics.median(a / b for a, b in zip(mine, theirs))
    print(f"sniffio imported: {'sniffio' in sys.modules}")
    print(f"AsyncIMDSClient.get  {statistics.median(mine):7.0f} us CPU (min {min(mine):.0f})")
    print(f"httpx.AsyncClient    {statistics.median(theirs):7.0f} us CPU (min {min(theirs):.0f})")
    print(f"ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
