"""Values that cannot change during an instance's life, cached per client after one GET."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imdsclient._api._common import IDENTITY_KEY, text
from imdsclient._fetch import fetch
from imdsclient._flow import Flow, operation
from imdsclient._protocol import normalize_path
from imdsclient._session import Session
from imdsclient.errors import IMDSError, MetadataNotFoundError

if TYPE_CHECKING:
    from imdsclient._api.identity import InstanceIdentityDocument

__all__ = [
    "IMMUTABLE",
    "account_id",
    "availability_zone",
    "cache_clear",
    "immutable",
    "instance_id",
    "region",
]

#: Immutable values: cache key -> (leaf path, attribute of the identity document or None).
IMMUTABLE: dict[str, tuple[str, str | None]] = {
    "instance-id": ("instance-id", "instance_id"),
    "ami-id": ("ami-id", "image_id"),
    "instance-type": ("instance-type", "instance_type"),
    "region": ("placement/region", "region"),
    "availability-zone": ("placement/availability-zone", "availability_zone"),
    "mac": ("mac", None),
    "instance-life-cycle": ("instance-life-cycle", None),
}
_ACCOUNT_KEY = "account-id"


def _identity(session: Session) -> Flow[InstanceIdentityDocument]:
    from imdsclient._api.identity import instance_identity  # lazy: pydantic only when needed

    return (yield from instance_identity(session))


def immutable(session: Session, key: str) -> Flow[str]:
    """A value of :data:`IMMUTABLE`: from the cache, the cached identity document, or its leaf.

    A leaf that answers 404 (``placement/region`` on old instances) falls back to the identity
    document.  Costs at most one GET per client and key.
    """
    cached = session.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    leaf, attribute = IMMUTABLE[key]
    document = session.cache.get(IDENTITY_KEY)
    full = normalize_path(leaf)
    if document is not None and attribute is not None:
        value: str = getattr(document, attribute)
    else:
        try:
            value = text((yield from fetch(session, full)), full).strip()
        except MetadataNotFoundError:
            if attribute is None:
                raise
            value = getattr((yield from _identity(session)), attribute)
    if not value:
        raise IMDSError(f"IMDS answered {full} with nothing", path=full)
    session.cache[key] = value
    return value


@operation()
def instance_id(session: Session) -> Flow[str]:
    """This instance's id, ``i-…`` (cached per client)."""
    return (yield from immutable(session, "instance-id"))


@operation()
def region(session: Session) -> Flow[str]:
    """The AWS region, e.g. ``us-east-1`` (cached per client)."""
    return (yield from immutable(session, "region"))


@operation()
def availability_zone(session: Session) -> Flow[str]:
    """The availability zone, e.g. ``us-east-1a`` (cached per client)."""
    return (yield from immutable(session, "availability-zone"))


@operation()
def account_id(session: Session) -> Flow[str]:
    """The AWS account id owning the instance (cached per client)."""
    cached = session.cache.get(_ACCOUNT_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    value = (yield from _identity(session)).account_id
    session.cache[_ACCOUNT_KEY] = value
    return value


@operation()
def cache_clear(session: Session) -> Flow[None]:
    """Forget the cached immutable values and the IAM role name; sends nothing."""
    yield from ()  # a generator that yields nothing, so both shells run it like any flow
    session.cache.clear()
    session.role = None
