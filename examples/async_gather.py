"""Read several values concurrently with ``AsyncIMDSClient`` and ``asyncio.gather``.

All the requests share one client, so they share one IMDSv2 token: however many tasks start at
once, the token is fetched once (single flight) and each value then costs one GET.

Run it on EC2, or anywhere against ``python -m imdsclient serve`` with
``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338``.
"""

from __future__ import annotations

import asyncio
import sys

import imdsclient

#: Label → metadata path (relative paths are under /latest/meta-data/).
PATHS = {
    "instance id": "instance-id",
    "instance type": "instance-type",
    "AMI": "ami-id",
    "region": "placement/region",
    "availability zone": "placement/availability-zone",
    "private IPv4": "local-ipv4",
}


async def read_all() -> dict[str, str]:
    async with imdsclient.AsyncIMDSClient() as imds:
        values = await asyncio.gather(*(imds.get(path) for path in PATHS.values()))
    return dict(zip(PATHS, values))


def main() -> int:
    try:
        values = asyncio.run(read_all())
    except imdsclient.IMDSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    width = max(len(label) for label in values)
    for label, value in values.items():
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
