"""The typed metadata API as generator flows, shared by ``IMDSClient`` and ``AsyncIMDSClient``.

Each public flow composes the plain flows of :mod:`imdsclient._operations` (``fetch``,
``get_text``, ``listing``) with ``yield from`` and parses through :mod:`imdsclient._parsers`,
once.  The rules that belong to the typed API live here:

* expected absences (no user-data, no spot notice, no role, tags not enabled…) become ``None``,
  ``[]`` or ``{}``; every other 404 stays :class:`~imdsclient.errors.MetadataNotFoundError`;
* values that cannot change during an instance's life are cached in ``session.cache``, the IAM
  role name in ``session.role``; credentials and other volatile values never are;
* crawls (``dump``, ``tags``, ``network_interfaces``) go breadth first, one flat ``Gather`` per
  level, so the async shell's bound on a ``Gather`` is the bound on the whole crawl.

pydantic is expensive to import and ``get`` never needs it, so ``_models`` and ``_parsers`` are
imported inside the flows that build models, never at module level.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Union

from imdsclient._operations import Flow, Gather, fetch, get_text
from imdsclient._protocol import META_DATA, normalize_path, parse_listing
from imdsclient._redact import redact_tree
from imdsclient._session import Session
from imdsclient.errors import HINTS, CredentialsError, IMDSError, MetadataNotFoundError

if TYPE_CHECKING:
    from imdsclient._models import (
        IAMCredentials,
        IAMInfo,
        InstanceIdentityDocument,
        NetworkInterface,
        PublicKey,
        RebalanceRecommendation,
        ScheduledEvent,
        SpotInstanceAction,
    )

__all__ = [
    "BASE64_PREFIX",
    "MAX_CRAWL_DEPTH",
    "MAX_CRAWL_ENTRIES",
    "REDACTED",
    "account_id",
    "availability_zone",
    "block_device_mapping",
    "cache_clear",
    "dump",
    "iam_credentials",
    "iam_info",
    "immutable",
    "instance_id",
    "instance_identity",
    "network_interfaces",
    "public_keys",
    "rebalance_recommendation",
    "region",
    "scheduled_events",
    "spot_instance_action",
    "tags",
    "user_data",
]

T = TypeVar("T")

IDENTITY_PATH = "/latest/dynamic/instance-identity/document"
USER_DATA_PATH = "/latest/user-data"
CREDENTIALS_FOLDER = "iam/security-credentials/"

#: ``dump`` shows a leaf that is not UTF-8 text as this prefix + the base64 of its bytes.
BASE64_PREFIX = "base64:"
#: ``dump`` shows credential documents it did not fetch as this (the role name stays visible).
REDACTED = "**********"
#: A crawl deeper or larger than this is not IMDS (the real tree is ~6 levels, ~100 entries).
MAX_CRAWL_DEPTH = 16
MAX_CRAWL_ENTRIES = 10_000

# A listing entry: one path segment of the characters IMDS paths use, optionally ending in "/".
_ENTRY = re.compile(r"[A-Za-z0-9._\-+=,:@~]+/?")
# IAM role names: letters, digits and +=,.@_- (up to 64; a little slack).
_ROLE = re.compile(r"[A-Za-z0-9+=,.@_\-]{1,128}")
# `public-keys/` lists `N=name`; the key's folder is `N/`.
_KEY_ENTRY = re.compile(r"([0-9]{1,9})=.*")
# Folders whose leaves are credential documents (role credentials, EC2 identity credentials).
_SECRET_FOLDER = "security-credentials/"

#: Immutable values: cache key -> (leaf path, attribute of the identity document or None).
IMMUTABLE: dict[str, tuple[str, str | None]] = {
    "instance-id": ("instance-id", "instance_id"),
    "ami-id": ("ami-id", "image_id"),
    "instance-type": ("instance-type", "instance_type"),
    "region": ("placement/region", "region"),
    "availability-zone": ("placement/availability-zone", "availability_zone"),
    "mac": ("mac", None),
}
_IDENTITY_KEY = "identity"
_ACCOUNT_KEY = "account-id"

Tree = dict[str, Union[bytes, "Tree"]]


# -- small building blocks ----------------------------------------------------------------------


def gather(flows: Sequence[Flow[T]]) -> Flow[list[T]]:
    """Typed wrapper around the :class:`Gather` effect: the flows' results, in order."""
    results: list[T] = yield Gather(flows)
    return results


def fetch_or_none(session: Session, path: str) -> Flow[bytes | None]:
    """The bytes at ``path``, or ``None`` when IMDS answers 404 (an expected absence)."""
    try:
        return (yield from fetch(session, path))
    except MetadataNotFoundError:
        return None


def _bad_listing(folder: str, entry: str) -> IMDSError:
    return IMDSError(
        f"IMDS listed an unusable entry in {folder}: {entry[:80]!r}",
        path=folder,
        hint=HINTS["bad_response"],
    )


def _entries(folder: str, body: bytes) -> list[str]:
    """A listing's entries, each one safe to append to ``folder`` (else ``IMDSError``)."""
    entries = parse_listing(body)
    for entry in entries:
        if not _ENTRY.fullmatch(entry) or entry.rstrip("/") in (".", ".."):
            raise _bad_listing(folder, entry)
    return entries


def _folder(path: str) -> str:
    """An absolute folder path ending in '/' ("" is ``/latest/meta-data/``)."""
    full = normalize_path(path) if path else META_DATA
    return full if full.endswith("/") else full + "/"


def _text(body: bytes, path: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise IMDSError(
            f"The value at {path} is not UTF-8 text", path=path, hint=HINTS["bad_response"]
        ) from None


def cache_clear(session: Session) -> Flow[None]:
    """Forget cached immutable values and the IAM role name; sends nothing."""
    yield from ()  # a generator that yields nothing, so both shells run it like any flow
    session.cache.clear()
    session.role = None


# -- identity and immutable values --------------------------------------------------------------


def instance_identity(session: Session) -> Flow[InstanceIdentityDocument]:
    """The instance identity document; fetched once per client, then cached."""
    cached = session.cache.get(_IDENTITY_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from imdsclient._parsers import parse_identity  # lazy: pydantic only when a model is needed

    document = parse_identity((yield from fetch(session, IDENTITY_PATH)))
    session.cache[_IDENTITY_KEY] = document
    return document


def immutable(session: Session, key: str) -> Flow[str]:
    """A value of :data:`IMMUTABLE`: from the cache, the cached identity document, or its leaf.

    A leaf that answers 404 (``placement/region`` on old instances) falls back to the identity
    document.  Costs at most one GET per client and key.
    """
    cached = session.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    leaf, attribute = IMMUTABLE[key]
    document = session.cache.get(_IDENTITY_KEY)
    if document is not None and attribute is not None:
        value: str = getattr(document, attribute)
    else:
        try:
            value = (yield from get_text(session, leaf)).strip()
        except MetadataNotFoundError:
            if attribute is None:
                raise
            value = getattr((yield from instance_identity(session)), attribute)
    if not value:
        full = normalize_path(leaf)
        raise IMDSError(f"IMDS answered {full} with nothing", path=full)
    session.cache[key] = value
    return value


def instance_id(session: Session) -> Flow[str]:
    """This instance's id (``i-…``); cached."""
    return (yield from immutable(session, "instance-id"))


def region(session: Session) -> Flow[str]:
    """The AWS region (``us-east-1``); cached."""
    return (yield from immutable(session, "region"))


def availability_zone(session: Session) -> Flow[str]:
    """The availability zone (``us-east-1a``); cached."""
    return (yield from immutable(session, "availability-zone"))


def account_id(session: Session) -> Flow[str]:
    """The AWS account id that owns the instance, from the identity document; cached."""
    cached = session.cache.get(_ACCOUNT_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    value = (yield from instance_identity(session)).account_id
    session.cache[_ACCOUNT_KEY] = value
    return value


# -- IAM ----------------------------------------------------------------------------------------


def iam_info(session: Session) -> Flow[IAMInfo | None]:
    """The instance profile, or ``None`` when none is attached; never cached."""
    body = yield from fetch_or_none(session, "iam/info")
    if body is None:
        return None
    from imdsclient._parsers import parse_iam_info  # lazy: pydantic only when a model is needed

    return parse_iam_info(body)


def _discover_role(session: Session) -> Flow[str]:
    """The role name from the ``iam/security-credentials/`` listing (not ``iam/info``)."""
    folder = META_DATA + CREDENTIALS_FOLDER
    body = yield from fetch_or_none(session, folder)
    names = parse_listing(body) if body is not None else []
    if not names:
        raise CredentialsError(
            "No IAM instance profile is attached to this instance, so IMDS has no credentials",
            status=404 if body is None else 200,
            path=folder,
            hint=HINTS["no_role"],
        )
    role = names[0]  # an instance profile holds exactly one role
    if not _ROLE.fullmatch(role) or role in (".", ".."):
        raise CredentialsError(
            f"IMDS listed an unusable IAM role name in {folder}",
            status=200,
            path=folder,
            hint=HINTS["bad_response"],
        )
    session.role = role
    return role


def _credentials_body(session: Session, role: str) -> Flow[bytes | None]:
    return (yield from fetch_or_none(session, CREDENTIALS_FOLDER + role))


def iam_credentials(session: Session, role: str | None = None) -> Flow[IAMCredentials]:
    """The role's temporary credentials, fetched fresh every time (never cached).

    Without ``role`` the role is discovered once and kept in ``session.role``; after that a call
    costs one GET.  If the remembered role answers 404 (the profile changed), it is discovered
    again, once.
    """
    role = session.config.instance_profile_name if role is None else role  # configured (#16)
    if role is not None:
        if not _ROLE.fullmatch(role) or role in (".", ".."):
            raise ValueError(f"{role!r} is not an IAM role name")
        name = role
        body = yield from _credentials_body(session, name)
    else:
        remembered = session.role
        name = remembered or (yield from _discover_role(session))
        body = yield from _credentials_body(session, name)
        if body is None and remembered is not None:
            session.role = None  # the remembered role is gone: look again, once
            name = yield from _discover_role(session)
            body = yield from _credentials_body(session, name)
    path = META_DATA + CREDENTIALS_FOLDER + name
    if body is None:
        raise CredentialsError(
            f"IMDS has no credentials for the IAM role {name!r} (404)",
            status=404,
            path=path,
            hint=HINTS["no_role"] if role is None else HINTS["credentials"],
        )
    from imdsclient._parsers import parse_credentials  # lazy: pydantic only when needed

    return parse_credentials(body, role=name, path=path)


# -- user data and notices ----------------------------------------------------------------------


def user_data(session: Session) -> Flow[bytes | None]:
    """The exact bytes of the user data (binary and gzip safe), or ``None`` when there is none."""
    return (yield from fetch_or_none(session, USER_DATA_PATH))


def spot_instance_action(session: Session) -> Flow[SpotInstanceAction | None]:
    """The pending Spot interruption, or ``None``; never cached."""
    body = yield from fetch_or_none(session, "spot/instance-action")
    if body is None:
        return None
    from imdsclient._parsers import parse_spot_action  # lazy: pydantic only when needed

    return parse_spot_action(body)


def rebalance_recommendation(session: Session) -> Flow[RebalanceRecommendation | None]:
    """The rebalance recommendation, or ``None``; never cached."""
    body = yield from fetch_or_none(session, "events/recommendations/rebalance")
    if body is None:
        return None
    from imdsclient._parsers import parse_rebalance  # lazy: pydantic only when needed

    return parse_rebalance(body)


def scheduled_events(session: Session) -> Flow[list[ScheduledEvent]]:
    """Scheduled maintenance events; ``[]`` when there are none; never cached."""
    body = yield from fetch_or_none(session, "events/maintenance/scheduled")
    if body is None:
        return []
    from imdsclient._parsers import parse_scheduled_events  # lazy: pydantic only when needed

    return parse_scheduled_events(body)


# -- crawls -------------------------------------------------------------------------------------


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
    first = yield from (fetch_or_none(session, folder) if missing_ok else fetch(session, folder))
    level: list[tuple[Tree, str]] = [(root, folder)]  # (where to put the result, folder path)
    bodies: list[bytes | None] = [first]  # the listings of ``level``
    seen = 0
    for _depth in range(MAX_CRAWL_DEPTH):
        leaves: list[tuple[Tree, str, str]] = []
        next_level: list[tuple[Tree, str]] = []
        for (into, path), body in zip(level, bodies):
            if body is None:
                continue  # listed by its parent, gone now
            entries = _entries(path, body)
            seen += len(entries)
            if seen > MAX_CRAWL_ENTRIES:
                raise IMDSError(f"The tree under {folder} is too large to be IMDS", path=folder)
            for entry in entries:
                name, is_folder = _child(path, entry)
                if is_folder:
                    sub: Tree = {}
                    into[name] = sub
                    next_level.append((sub, path + name + "/"))
                elif path.endswith(_SECRET_FOLDER) and not include_credentials:
                    into[name] = REDACTED.encode()
                else:
                    leaves.append((into, name, path + name))
        if not leaves and not next_level:
            return root
        # One round trip per level: this level's leaves with the next level's listings.
        paths = [path for _, _, path in leaves] + [path for _, path in next_level]
        fetched = yield from gather([fetch_or_none(session, path) for path in paths])
        for (into, name, _), value in zip(leaves, fetched):
            if value is not None:
                into[name] = value
        level, bodies = next_level, fetched[len(leaves) :]
    raise IMDSError(f"The tree under {folder} is too deep to be IMDS", path=folder)


def _child(folder: str, entry: str) -> tuple[str, bool]:
    """(name, is_folder) of a listing entry; ``public-keys/`` lists ``N=name`` for folder ``N/``."""
    if folder.endswith("/public-keys/"):
        match = _KEY_ENTRY.fullmatch(entry.rstrip("/"))
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


def dump(
    session: Session, path: str = "", include_credentials: bool = False
) -> Flow[dict[str, Any]]:
    """The tree under ``path`` as a JSON-serialisable nested dict (see ``docs/api.md``)."""
    tree = yield from crawl(session, _folder(path), include_credentials=include_credentials)
    return _as_json(tree) if include_credentials else redact_tree(_as_json(tree))  # by content


def _leaf_texts(tree: Tree, path: str, prefix: str = "") -> dict[str, str]:
    """Flatten a crawled folder into ``{relative name: text}`` (``a/b`` for nested leaves)."""
    out: dict[str, str] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaf_texts(value, path + name + "/", prefix + name + "/"))
        else:
            out[prefix + name] = _text(value, path + name)
    return out


def tags(session: Session) -> Flow[dict[str, str]]:
    """Instance tags; ``{}`` when tags are not enabled in metadata; never cached."""
    folder = META_DATA + "tags/instance/"
    tree = yield from crawl(session, folder, missing_ok=True)
    return {
        name: _text(value, folder + name)
        for name, value in tree.items()
        if isinstance(value, bytes)
    }


def block_device_mapping(session: Session) -> Flow[dict[str, str]]:
    """Virtual device name (``ami``, ``root``, ``ebs1``…) -> device (``/dev/xvda``, ``sdb``)."""
    folder = META_DATA + "block-device-mapping/"
    files = [
        name for name in _entries(folder, (yield from fetch(session, folder))) if name[-1:] != "/"
    ]
    values = yield from gather([fetch_or_none(session, folder + name) for name in files])
    return {
        name: _text(value, folder + name).strip()
        for name, value in zip(files, values)
        if value is not None
    }


def network_interfaces(session: Session) -> Flow[list[NetworkInterface]]:
    """Every network interface, ordered by device number (the primary one first)."""
    folder = META_DATA + "network/interfaces/macs/"
    tree = yield from crawl(session, folder)
    from imdsclient._models import NetworkInterface  # lazy: pydantic only when needed

    interfaces = [
        NetworkInterface.from_leaves(
            mac, _leaf_texts(leaves, folder + mac + "/"), path=folder + mac + "/"
        )
        for mac, leaves in tree.items()
        if isinstance(leaves, dict)
    ]
    return sorted(
        interfaces,
        key=lambda nic: (
            nic.network_card_index or 0,
            nic.device_number is None,
            nic.device_number or 0,
        ),
    )


def public_keys(session: Session) -> Flow[list[PublicKey]]:
    """The SSH key pairs (with their OpenSSH public key); ``[]`` when the instance has none."""
    folder = META_DATA + "public-keys/"
    body = yield from fetch_or_none(session, folder)
    if body is None:
        return []
    from imdsclient._models import PublicKey  # lazy: pydantic only when needed
    from imdsclient._parsers import parse_public_keys_listing

    keys = parse_public_keys_listing(body, path=folder)
    bodies = yield from gather(
        [fetch_or_none(session, f"{folder}{index}/openssh-key") for index, _ in keys]
    )
    return [
        PublicKey(
            index=index,
            name=name,
            openssh_key=None if key is None else _text(key, f"{folder}{index}/openssh-key").strip(),
        )
        for (index, name), key in zip(keys, bodies)
    ]
