"""The AWS-signed test vectors in ``tests/data/iid/`` (copied from the project's shared data)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DATA", "REAL", "SAMPLES", "TAMPERED", "Sample", "sample"]

DATA = Path(__file__).resolve().parents[1] / "data" / "iid"
_KINDS = ("rsa2048", "signature", "pkcs7")


@dataclass(frozen=True)
class Sample:
    """One sample: its document, the signed bodies it has, and what INDEX.json expects."""

    name: str
    kind: str  # "real" or "negative"
    region: str
    instance_id: str
    document: bytes
    bodies: dict[str, Any]  # kind -> base64 body (Any: splatted into verify_identity)
    expected: dict[str, str]


def _load() -> list[Sample]:
    folder = DATA / "samples"
    index = json.loads((folder / "INDEX.json").read_text(encoding="utf-8"))
    out = []
    for entry in index:
        here = folder / entry["sample"]
        bodies = {k: (here / k).read_text(encoding="ascii") for k in _KINDS if (here / k).exists()}
        assert sorted(bodies) == sorted(entry["endpoints"]), entry["sample"]
        out.append(
            Sample(
                name=entry["sample"],
                kind=entry["kind"],
                region=entry["region"],
                instance_id=entry["instanceId"],
                document=(here / "document").read_bytes(),
                bodies=bodies,
                expected=entry["expected"],
            )
        )
    return out


SAMPLES = _load()
REAL = [s for s in SAMPLES if s.kind == "real"]
TAMPERED = [s for s in SAMPLES if s.kind == "negative"]


def sample(prefix: str) -> Sample:
    """The sample whose name starts with ``prefix``."""
    (found,) = [s for s in SAMPLES if s.name.startswith(prefix)]
    return found
