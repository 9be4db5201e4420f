"""Metadata versions: which versions IMDS serves, and which categories each one has.

IMDS lists its versions at ``/`` (``1.0``, ``2007-01-19``, … ``latest``) and serves ``/<version>/…``
for exactly those; any other first segment is a 404. A version is a snapshot: a category appears
under the versions released on or after it (AWS's "Version when category was released" column),
so ``/2020-10-27/meta-data/tags/`` is a 404 even where ``/latest/meta-data/tags/`` is served.

Paths the table does not know (data of a custom tree) are served under every version.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_VERSIONS", "LATEST", "available", "split_version"]

LATEST = "latest"

DEFAULT_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "2024-04-11",
    LATEST,
)
"""What real IMDS lists at ``/`` (the default tree's ``/`` listing is the same)."""

_MAC = "*"  # one path segment: the MAC address of a network interface

# Path under /<version>/ → the version it was released in. A key ending in "/" covers its subtree.
# From AWS's instance metadata category tables; ``profile`` has no row there (our choice: it came
# with the kernel and ramdisk ids of that era).
_RELEASED: dict[str, str] = {
    "user-data": "1.0",
    "meta-data/ami-id": "1.0",
    "meta-data/ami-launch-index": "1.0",
    "meta-data/ami-manifest-path": "1.0",
    "meta-data/ancestor-ami-ids": "2007-10-10",
    "meta-data/autoscaling/": "2021-07-15",
    "meta-data/block-device-mapping/": "2007-12-15",
    "meta-data/elastic-gpus/": "2016-11-30",
    "meta-data/elastic-inference/": "2018-11-29",
    "meta-data/events/maintenance/": "2018-08-17",
    "meta-data/events/recommendations/": "2020-11-04",
    "meta-data/hostname": "1.0",
    "meta-data/iam/": "2012-01-12",
    "meta-data/identity-credentials/": "2018-05-23",
    "meta-data/instance-action": "2008-09-01",
    "meta-data/instance-id": "1.0",
    "meta-data/instance-life-cycle": "2019-10-01",
    "meta-data/instance-type": "2007-08-29",
    "meta-data/ipv6": "2021-01-03",
    "meta-data/kernel-id": "2008-02-01",
    "meta-data/local-hostname": "2007-01-19",
    "meta-data/local-ipv4": "1.0",
    "meta-data/mac": "2011-01-01",
    "meta-data/metrics/": "2011-05-01",
    "meta-data/network/": "2011-01-01",
    f"meta-data/network/interfaces/macs/{_MAC}/ipv6s": "2016-06-30",
    f"meta-data/network/interfaces/macs/{_MAC}/network-card-index": "2020-11-01",
    f"meta-data/network/interfaces/macs/{_MAC}/subnet-ipv6-cidr-blocks": "2016-06-30",
    f"meta-data/network/interfaces/macs/{_MAC}/vpc-ipv4-cidr-blocks": "2016-06-30",
    f"meta-data/network/interfaces/macs/{_MAC}/vpc-ipv6-cidr-blocks": "2016-06-30",
    "meta-data/placement/availability-zone": "2008-02-01",
    "meta-data/placement/availability-zone-id": "2020-08-24",
    "meta-data/placement/group-name": "2020-08-24",
    "meta-data/placement/host-id": "2020-08-24",
    "meta-data/placement/partition-number": "2020-08-24",
    "meta-data/placement/region": "2020-08-24",
    "meta-data/product-codes": "2007-03-01",
    "meta-data/profile": "2007-10-10",
    "meta-data/public-hostname": "2007-01-19",
    "meta-data/public-ipv4": "2007-01-19",
    "meta-data/public-keys/": "1.0",
    "meta-data/ramdisk-id": "2007-10-10",
    "meta-data/reservation-id": "1.0",
    "meta-data/security-groups": "1.0",
    "meta-data/services/domain": "2014-02-25",
    "meta-data/services/partition": "2015-10-20",
    "meta-data/spot/instance-action": "2016-11-15",
    "meta-data/spot/termination-time": "2014-11-05",
    "meta-data/tags/": "2021-03-23",
    "dynamic/": "2009-04-04",
}

_VERSION_SEGMENT = re.compile(r"^/([^/]+)(?=/|$)")


def _pattern(key: str) -> re.Pattern[str]:
    body = re.escape(key).replace(re.escape(_MAC), "[^/]+")
    return re.compile(body + ("" if key.endswith("/") else "/?$"))


_TABLE: list[tuple[re.Pattern[str], str, int]] = sorted(
    ((_pattern(key), version, key.count("/")) for key, version in _RELEASED.items()),
    key=lambda row: -row[2],  # deepest first: the most specific row decides
)


def split_version(path: str) -> tuple[str, str] | None:
    """``/2021-03-23/meta-data/x`` → ``("2021-03-23", "meta-data/x")``; ``/`` → None."""
    match = _VERSION_SEGMENT.match(path)
    if match is None:
        return None
    return match.group(1), path[match.end() + 1 :]


def released(rest: str) -> str | None:
    """The version ``rest`` (a path under ``/<version>/``) came with; None if unknown."""
    for pattern, version, _ in _TABLE:
        if pattern.match(rest):
            return version
    return None


def available(rest: str, version: str) -> bool:
    """Whether a leaf or folder at ``rest`` exists under ``version`` (folders: see ``_state``).

    ``latest`` has everything. Version strings compare as text, which orders ``1.0`` before the
    dated ones and the dated ones by date.
    """
    if version == LATEST:
        return True
    since = released(rest)
    return since is None or since <= version
