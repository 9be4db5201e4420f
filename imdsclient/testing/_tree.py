"""The simulator's data: the packaged default tree, tree normalisation, and rotating credentials.

Static data lives in ``data/imds-sample-tree.json`` (path -> body) and is read lazily, once, so
importing ``imdsclient.testing`` stays cheap. Credentials are not static: like IMDS, they are minted
with a lifetime and replaced well before they expire.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import NamedTuple

__all__ = [
    "DEFAULT_ROLE",
    "META_DATA",
    "CredentialRotator",
    "Credentials",
    "credentials_document",
    "default_tree",
    "derive_listing",
    "elastic_inference_document",
    "format_event_time",
    "format_iso",
    "iam_info_document",
    "identity_info_document",
    "normalise_tree",
    "pretty_json",
]

META_DATA = "/latest/meta-data/"
DEFAULT_ROLE = "baskinc-role"
"""The instance profile role of the default instance (the name amazon-ec2-metadata-mock uses)."""

_DATA_FILE = "imds-sample-tree.json"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Listings of these folders name their children without a trailing "/", as IMDS does.
_BARE_LISTINGS = frozenset({"/", "/latest/"})
_default_cache: dict[str, str] | None = None


def default_tree() -> dict[str, str]:
    """Return a copy of the packaged default tree, reading the JSON file on first use only."""
    global _default_cache
    if _default_cache is None:
        path = os.path.join(os.path.dirname(__file__), "data", _DATA_FILE)
        with open(path, encoding="utf-8") as handle:
            _default_cache = json.load(handle)
    return dict(_default_cache)


def _absolute(path: str) -> str:
    """Relative paths are under ``/latest/meta-data/``, as in the client's ``get``."""
    return path if path.startswith("/") else META_DATA + path


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def derive_listing(folder: str, keys: set[str] | list[str]) -> list[str]:
    """Sorted names of the direct children of ``folder`` among ``keys`` (folders end in ``/``)."""
    names: set[str] = set()
    for key in keys:
        if key.startswith(folder) and key != folder:
            rest = key[len(folder) :]
            cut = rest.find("/")
            names.add(rest if cut < 0 else rest[: cut + 1])
    names.discard("/")
    if folder in _BARE_LISTINGS:
        names = {name.rstrip("/") for name in names}
    return sorted(names)


def normalise_tree(tree: Mapping[str, str | bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Split a user tree into leaves and explicit listings (keys ending in ``/``).

    An explicit listing that names exactly the children the leaves imply is dropped, so it is
    derived on every request instead and stays right after ``set``/``delete`` and knob changes.
    Listings that say something else (``public-keys/`` → ``0=name``) are kept verbatim, and so
    is the version list at ``/`` (without one, the simulator lists the versions IMDS lists).
    """
    leaves: dict[str, bytes] = {}
    listings: dict[str, bytes] = {}
    for raw_key, value in tree.items():
        key = _absolute(raw_key)
        if key.endswith("/"):
            listings[key] = _as_bytes(value)
        else:
            leaves[key] = _as_bytes(value)
    keys = set(leaves) | set(listings)
    for folder, body in list(listings.items()):
        if folder == "/":
            continue  # the version list is never derived: a tree's own "/" is what it serves
        given = {line for line in body.decode("utf-8", "replace").split("\n") if line}
        if given == set(derive_listing(folder, keys)):
            del listings[folder]
    return leaves, listings


def format_iso(timestamp: float) -> str:
    """IMDS's ISO 8601 form, e.g. ``2026-01-21T09:00:00Z``."""
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_event_time(timestamp: float) -> str:
    """The scheduled-events form, e.g. ``21 Jan 2026 09:00:00 GMT`` (locale-independent)."""
    moment = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    month = _MONTHS[moment.month - 1]
    return f"{moment.day} {month} {moment.year} {moment:%H:%M:%S} GMT"


def pretty_json(document: Mapping[str, object]) -> bytes:
    """Render JSON the way IMDS does: two-space indent and ``"Key" : value``."""
    lines = [f"  {json.dumps(key)} : {json.dumps(value)}" for key, value in document.items()]
    return ("{\n" + ",\n".join(lines) + "\n}").encode("utf-8")


class Credentials(NamedTuple):
    """One set of role credentials and its validity window (epoch seconds)."""

    access_key_id: str
    secret_access_key: str
    token: str
    issued: float
    expires: float


def _mint(now: float, lifetime: float) -> Credentials:
    return Credentials(
        access_key_id="ASIA" + base64.b32encode(os.urandom(10)).decode("ascii"),
        secret_access_key=base64.b64encode(os.urandom(30)).decode("ascii"),
        token=base64.b64encode(os.urandom(240)).decode("ascii"),
        issued=now,
        expires=now + lifetime,
    )


class CredentialRotator:
    """Hands out the current credentials, replacing them when less than ``refresh_margin`` is left.

    IMDS makes new credentials available at least five minutes before the old ones expire; the
    defaults (6 h lifetime, rotate with 15 min left) keep that promise with room to spare.
    Not thread-safe on its own: the simulator core calls it under its lock.
    """

    def __init__(self, lifetime: float = 6 * 3600, refresh_margin: float = 15 * 60) -> None:
        if not 300 <= refresh_margin < lifetime:
            raise ValueError(
                "credential refresh margin must be at least 300 s (IMDS rotates 5 min before "
                f"expiry) and below the lifetime; got margin={refresh_margin}, lifetime={lifetime}"
            )
        self.lifetime = lifetime
        self.refresh_margin = refresh_margin
        self._current: Credentials | None = None

    def current(self, now: float, *, expired: bool = False) -> Credentials:
        """The credentials IMDS would serve at wall time ``now``.

        ``expired``: what IMDS serves when it cannot renew them (an outage; amazon-ec2-metadata-mock
        always does): the same keys on every call, their ``Expiration`` an hour in the past, no
        rotation. Once ``expired`` is off again, the next call gets fresh keys.
        """
        cur = self._current
        if expired:
            if cur is None or cur.expires > now:
                cur = self._current = _mint(now - self.lifetime - 3600, self.lifetime)
            return cur
        if cur is None or cur.expires - now < self.refresh_margin:
            cur = self._current = _mint(now, self.lifetime)
        return cur

    def rotate(self, now: float) -> Credentials:
        """Replace the credentials now, whatever their age."""
        self._current = _mint(now, self.lifetime)
        return self._current


def credentials_document(creds: Credentials) -> bytes:
    """The body of ``iam/security-credentials/<role>``."""
    return pretty_json(
        {
            "Code": "Success",
            "LastUpdated": format_iso(creds.issued),
            "Type": "AWS-HMAC",
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.token,
            "Expiration": format_iso(creds.expires),
        }
    )


def iam_info_document(role: str, account_id: str, last_updated: float) -> bytes:
    """The body of ``iam/info``: an instance profile named after the role, in the same account."""
    return pretty_json(
        {
            "Code": "Success",
            "LastUpdated": format_iso(last_updated),
            "InstanceProfileArn": f"arn:aws:iam::{account_id}:instance-profile/{role}",
            "InstanceProfileId": "AIPA5BOGHHXZELSK34VU4",
        }
    )


def identity_info_document(account_id: str, last_updated: float) -> bytes:
    """The body of ``identity-credentials/ec2/info`` (the instance identity role's account)."""
    return pretty_json(
        {"Code": "Success", "LastUpdated": format_iso(last_updated), "AccountId": account_id}
    )


def elastic_inference_document(accelerator_id: str) -> bytes:
    """The body of ``elastic-inference/associations/<id>`` (amazon-ec2-metadata-mock's form)."""
    inner = {
        "elastic-inference-accelerator-id": accelerator_id,
        "elastic-inference-accelerator-type": "eia1.medium",
    }
    return json.dumps({"version_2018_04_12": inner}, separators=(",", ":")).encode("utf-8")
