"""Crawls: the tree under a folder read breadth first, one ``Gather`` per level, so the async
shell's bound on a ``Gather`` is the bound on the whole crawl; ``dump``, ``tags`` and
``block_device_mapping`` are built on it."""

from __future__ import annotations

import base64
import threading
from typing import Any, Union

from imdsclient._api._common import (
    BASE64_PREFIX,
    KEY_ENTRY,
    REDACTED,
    entries,
    fetch_or_none,
    folder,
    text,
)
from imdsclient._fetch import fetch
from imdsclient._flow import Flow, gather, operation
from imdsclient._protocol import META_DATA, SecretBytes
from imdsclient._redact import redact_tree
from imdsclient._session import Session
from imdsclient.errors import HINTS, IMDSError

__all__ = [
    "MAX_CRAWL_BYTES",
    "MAX_CRAWL_DEPTH",
    "MAX_CRAWL_ENTRIES",
    "ByteBudget",
    "Tree",
    "block_device_mapping",
    "crawl",
    "dump",
    "leaf_texts",
    "read_counted",
    "tags",
]

#: A crawl deeper or larger than this is not IMDS (the real tree is ~6 levels, ~100 entries,
#: ~100 KB): each bound is checked as the crawl goes, so memory stays near MAX_CRAWL_BYTES.
MAX_CRAWL_DEPTH = 16
MAX_CRAWL_ENTRIES = 10_000
MAX_CRAWL_BYTES = 4 * 1024 * 1024


# Folders whose leaves are credential documents (role credentials, EC2 identity credentials).
_SECRET_FOLDERS = ("security-credentials/", "security-credentials-extended/")


Tree = dict[str, Union[bytes, "Tree"]]


def crawl(
    session: Session, folder: str, *, include_credentials: bool = False, missing_ok: bool = False
) -> Flow[Tree]:
    """Read the tree under ``folder`` (absolute, ending in '/'): names -> bytes or sub-trees.

    Breadth first, one ``Gather`` per level.  ``folder`` itself answering 404 raises
    ``MetadataNotFoundError`` unless ``missing_ok`` (then the tree is empty); entries that vanish
    between their listing and their read are left out.  Credential documents (leaves of a
    ``security-credentials/`` folder) are not read unless ``include_credentials``; they appear
    as :data:`REDACTED`.
    """
    root: Tree = {}
    budget = ByteBudget(folder)
    first = yield from (fetch_or_none(session, folder) if missing_ok else fetch(session, folder))
    budget.spend(first)
    level: list[tuple[Tree, str]] = [(root, folder)]  # (where to put the result, folder path)
    bodies: list[bytes | None] = [first]  # the listings of ``level``
    seen = 0
    for _depth in range(MAX_CRAWL_DEPTH):
        leaves: list[tuple[Tree, str, str]] = []
        next_level: list[tuple[Tree, str]] = []
        for (into, path), body in zip(level, bodies):
            if body is None:
                continue  # listed by its parent, gone now
            names = entries(path, body)
            seen += len(names)
            if seen > MAX_CRAWL_ENTRIES:
                raise IMDSError(f"The tree under {folder} is too large to be IMDS", path=folder)
            for entry in names:
                name, is_folder = _child(path, entry)
                if is_folder:
                    sub: Tree = {}
                    into[name] = sub
                    next_level.append((sub, path + name + "/"))
                elif path.endswith(_SECRET_FOLDERS) and not include_credentials:
                    into[name] = REDACTED.encode()
                else:
                    leaves.append((into, name, path + name))
        if not leaves and not next_level:
            return root
        # One round trip per level: this level's leaves with the next level's listings.
        paths = [path for _, _, path in leaves] + [path for _, path in next_level]
        fetched = yield from gather([read_counted(session, path, budget) for path in paths])
        for (into, name, _), value in zip(leaves, fetched):
            if value is not None:
                into[name] = value
        level, bodies = next_level, fetched[len(leaves) :]
    raise IMDSError(f"The tree under {folder} is too deep to be IMDS", path=folder)


class ByteBudget:
    """The bytes a crawl may read in all; spent as each answer arrives (the async shell reads
    eight at a time, on threads), so an oversized tree fails after about MAX_CRAWL_BYTES, not
    at its end."""

    def __init__(self, folder: str) -> None:
        self.folder, self.left = folder, MAX_CRAWL_BYTES
        self._lock = threading.Lock()

    def spend(self, body: bytes | None) -> None:
        with self._lock:
            self.left -= len(body or b"")
            left = self.left
        if left < 0:
            raise IMDSError(
                f"The tree under {self.folder} is over {MAX_CRAWL_BYTES // (1024 * 1024)} MiB, "
                "far larger than IMDS serves (about 100 KB)",
                path=self.folder,
                hint=HINTS["too_large"],
            )


def read_counted(session: Session, path: str, budget: ByteBudget) -> Flow[bytes | None]:
    """One answer of a crawl, counted against its budget; a credential document is
    :class:`SecretBytes` from here on (masked in ``repr``, for tracebacks that show locals)."""
    body = yield from fetch_or_none(session, path)
    folder = path.rpartition("/")[0] + "/"
    if body is not None and folder.endswith(_SECRET_FOLDERS):
        body = SecretBytes(body)
    budget.spend(body)
    return body


def _child(folder: str, entry: str) -> tuple[str, bool]:
    """(name, is_folder) of a listing entry; ``public-keys/`` lists ``N=name`` for folder ``N/``."""
    if folder.endswith("/public-keys/"):
        match = KEY_ENTRY.fullmatch(entry.rstrip("/"))
        if match is not None:
            return match.group(1), True
    if folder == "/latest/" and entry in ("meta-data", "dynamic"):
        return entry, True  # IMDS lists these two folders without their '/'
    return entry.rstrip("/"), entry.endswith("/")


def _as_json(tree: Tree) -> dict[str, Any]:
    """Leaves as text; bytes that are not UTF-8 as :data:`BASE64_PREFIX` + base64."""
    out: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out[name] = _as_json(value)
        else:
            try:
                out[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                out[name] = BASE64_PREFIX + base64.b64encode(value).decode("ascii")
    return out


@operation()
def dump(
    session: Session, path: str = "", *, include_credentials: bool = False
) -> Flow[dict[str, Any]]:
    """The tree under ``path`` as nested dicts of text; credentials only if asked."""
    tree = yield from crawl(session, folder(path), include_credentials=include_credentials)
    if include_credentials:
        return _as_json(tree)
    return redact_tree(_as_json(tree))  # by content too: a JSON leaf anywhere may hold secrets


def leaf_texts(tree: Tree, path: str, prefix: str = "") -> dict[str, str]:
    """Flatten a crawled folder into ``{relative name: text}`` (``a/b`` for nested leaves)."""
    out: dict[str, str] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out.update(leaf_texts(value, path + name + "/", prefix + name + "/"))
        else:
            out[prefix + name] = text(value, path + name)
    return out


@operation()
def tags(session: Session) -> Flow[dict[str, str]]:
    """Instance tags; ``{}`` when tags are not enabled in instance metadata."""
    folder = META_DATA + "tags/instance/"
    tree = yield from crawl(session, folder, missing_ok=True)
    return {
        name: text(value, folder + name) for name, value in tree.items() if isinstance(value, bytes)
    }


@operation()
def block_device_mapping(session: Session) -> Flow[dict[str, str]]:
    """Virtual device name (``ami``, ``root``, ``ebs1``…) → device name."""
    folder = META_DATA + "block-device-mapping/"
    files = [
        name for name in entries(folder, (yield from fetch(session, folder))) if name[-1:] != "/"
    ]
    budget = ByteBudget(folder)
    values = yield from gather([read_counted(session, folder + name, budget) for name in files])
    return {
        name: text(value, folder + name).strip()
        for name, value in zip(files, values)
        if value is not None
    }
