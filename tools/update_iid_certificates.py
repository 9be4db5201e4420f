"""Regenerate imdsclient's bundled instance identity certificates from a compiled certificate file.

The input is ``aws-iid-certificates.json`` (the project's shared data: AWS's public certificates
per region for the ``signature``, ``rsa2048`` and ``pkcs7`` endpoints, with their provenance).
The output, ``imdsclient/data/iid-certificates.json``, keeps only what verification needs: per
region and kind the selected certificate's PEM, serial and issuer, plus the snapshot date that
``imdsclient.identity_certificates_date`` reports.

Usage, from the repository root::

    python tools/update_iid_certificates.py NEW/aws-iid-certificates.json
    python tools/update_iid_certificates.py NEW/aws-iid-certificates.json --check

``--check`` writes nothing and exits 1 when the committed file differs from what the input gives.
The script needs only the standard library; ``tests/verify/test_trust_store.py`` runs it on the
copy in ``tests/data/iid/`` and checks that the result is the committed file, byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "build", "main", "render", "snapshot_date"]

#: The endpoints under /latest/dynamic/instance-identity/ whose certificates are bundled.
KINDS = ("pkcs7", "rsa2048", "signature")
FORMAT = 1
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "imdsclient" / "data" / "iid-certificates.json"
)

_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+)-----END CERTIFICATE-----\n?")
_REGION = re.compile(r"[a-z]{2,6}(?:-[a-z]+)+-[0-9]{1,2}")
_SERIAL = re.compile(r"[0-9A-F]+")


class InputError(Exception):
    """The input file is not what this script understands; the message says where."""


def snapshot_date(compiled: Mapping[str, Any]) -> str:
    """The newest date the input names for its snapshot, as ``YYYY-MM-DD``.

    Read from the ``compiled`` note (``"2026-08 (from repository snapshots whose newest commit
    is 2026-08-22)"``), else the newest ``commit_date`` of its sources.
    """
    found = _DATE.findall(str(compiled.get("compiled", "")))
    if not found:
        for source in compiled.get("sources", []):
            found += _DATE.findall(str(source.get("commit_date", "")))
    if not found:
        raise InputError("no snapshot date: neither 'compiled' nor any source's 'commit_date'")
    return str(max(found))


def _certificate(region: str, kind: str, entry: Any) -> dict[str, str]:
    where = f"regions[{region!r}][{kind!r}]"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} is not an object")
    pem, serial, issuer = entry.get("pem"), entry.get("serial"), entry.get("issuer")
    match = _PEM.fullmatch(pem) if isinstance(pem, str) else None
    if match is None:
        raise InputError(f"{where}.pem is not one PEM certificate")
    try:
        base64.b64decode("".join(match.group(1).split()), validate=True)
    except binascii.Error as exc:
        raise InputError(f"{where}.pem is not valid base64: {exc}") from None
    if not isinstance(serial, str) or not _SERIAL.fullmatch(serial):
        raise InputError(f"{where}.serial is not upper-case hex")
    if not isinstance(issuer, str) or not issuer:
        raise InputError(f"{where}.issuer is missing")
    text = match.group(0)
    return {"issuer": issuer, "pem": text if text.endswith("\n") else text + "\n", "serial": serial}


def build(compiled: Mapping[str, Any]) -> dict[str, Any]:
    """The bundled store for ``compiled`` (the parsed input file)."""
    regions = compiled.get("regions")
    if not isinstance(regions, Mapping) or not regions:
        raise InputError("no 'regions' object")
    out: dict[str, dict[str, dict[str, str]]] = {}
    for region in sorted(regions):
        if not _REGION.fullmatch(region):
            raise InputError(f"{region!r} does not look like an AWS region name")
        kinds = regions[region]
        if not isinstance(kinds, Mapping):
            raise InputError(f"regions[{region!r}] is not an object")
        entry = {kind: _certificate(region, kind, kinds[kind]) for kind in KINDS if kind in kinds}
        if entry:
            out[region] = entry
    return {
        "format": FORMAT,
        "snapshot_date": snapshot_date(compiled),
        "generated_by": "tools/update_iid_certificates.py",
        "note": (
            "AWS's public certificates for EC2 instance identity signatures, per region and "
            "endpoint. Trust is pinned on each certificate's public key; its dates are "
            "informational. Regenerate with the script named above; do not edit by hand."
        ),
        "regions": out,
    }


def render(store: Mapping[str, Any]) -> str:
    """The file's exact text: stable key order, one space indent, a final newline."""
    return json.dumps(store, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the bundled store; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="aws-iid-certificates.json to read")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="file to write (default: the bundle)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the output would change"
    )
    args = parser.parse_args(argv)
    try:
        compiled = json.loads(args.source.read_text(encoding="utf-8"))
        if not isinstance(compiled, Mapping):
            raise InputError("the top level is not an object")
        text = render(build(compiled))
    except (OSError, ValueError, InputError) as exc:
        print(f"update_iid_certificates: {args.source}: {exc}", file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"update_iid_certificates: {args.output} is out of date", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    store = json.loads(text)
    count = sum(len(kinds) for kinds in store["regions"].values())
    print(
        f"{args.output}: {count} certificates for {len(store['regions'])} regions, "
        f"snapshot {store['snapshot_date']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
