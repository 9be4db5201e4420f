"""The instance identity document: who and where this instance is (cached per client)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from imdsclient._api._common import IDENTITY_KEY
from imdsclient._api._model import IMDSModel, UtcDatetime, load_object, validate
from imdsclient._fetch import fetch
from imdsclient._flow import Flow, operation
from imdsclient._session import Session

__all__ = ["IDENTITY_PATH", "InstanceIdentityDocument", "instance_identity", "parse_identity"]

IDENTITY_PATH = "/latest/dynamic/instance-identity/document"


class InstanceIdentityDocument(IMDSModel):
    """``/latest/dynamic/instance-identity/document``: who and where this instance is."""

    account_id: str = Field(alias="accountId")
    architecture: Optional[str] = None
    availability_zone: str = Field(alias="availabilityZone")
    billing_products: Optional[list[str]] = Field(default=None, alias="billingProducts")
    devpay_product_codes: Optional[list[str]] = Field(default=None, alias="devpayProductCodes")
    marketplace_product_codes: Optional[list[str]] = Field(
        default=None, alias="marketplaceProductCodes"
    )
    image_id: str = Field(alias="imageId")
    instance_id: str = Field(alias="instanceId")
    instance_type: str = Field(alias="instanceType")
    kernel_id: Optional[str] = Field(default=None, alias="kernelId")
    pending_time: Optional[UtcDatetime] = Field(default=None, alias="pendingTime")
    private_ip: Optional[str] = Field(default=None, alias="privateIp")
    ramdisk_id: Optional[str] = Field(default=None, alias="ramdiskId")
    region: str
    version: Optional[str] = None


def parse_identity(body: bytes, *, path: str = IDENTITY_PATH) -> InstanceIdentityDocument:
    """Parse the instance identity document."""
    what = "instance identity document"
    return validate(InstanceIdentityDocument, load_object(body, what, path), what, path)


@operation()
def instance_identity(session: Session) -> Flow[InstanceIdentityDocument]:
    """The instance identity document (cached per client)."""
    cached = session.cache.get(IDENTITY_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    document = parse_identity((yield from fetch(session, IDENTITY_PATH)))
    session.cache[IDENTITY_KEY] = document
    return document
