"""Typed values read from IMDS: frozen pydantic models that tolerate what AWS adds later.

Every model keeps unknown fields (``extra="allow"``) because AWS adds fields to its documents
without notice, is frozen so a cached value cannot be changed by one caller for all the others,
and exposes snake_case attributes while accepting IMDS's own camelCase / PascalCase / kebab-case
keys.  Datetimes are always timezone-aware UTC: IMDS speaks UTC, and a naive datetime compared
with ``datetime.now(timezone.utc)`` raises.

Building models from raw bytes, and turning every failure into an ``imdsclient.errors`` error,
is :mod:`imdsclient._parsers`' job; this module only describes shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
)

from .errors import HINTS, IMDSError

__all__ = [
    "IAMCredentials",
    "IAMInfo",
    "InstanceIdentityDocument",
    "NetworkInterface",
    "PublicKey",
    "RebalanceRecommendation",
    "ScheduledEvent",
    "SpotInstanceAction",
    "UtcDatetime",
    "botocore_dict",
    "credential_process_json",
    "format_utc",
    "validation_summary",
]

# "21 Jan 2026 09:00:00 GMT" (scheduled events), optionally with an RFC 1123 weekday prefix.
# Parsed by hand because strptime's %b depends on the process locale.
_IMDS_TIME = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+(?:GMT|UTC)",
    re.ASCII | re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


def _parse_imds_time(value: object) -> object:
    """Turn IMDS's ``21 Jan 2026 09:00:00 GMT`` into a datetime; leave anything else to pydantic."""
    if not isinstance(value, str):
        return value
    match = _IMDS_TIME.fullmatch(value.strip())
    if match is None:
        return value  # ISO 8601 and friends: pydantic's own datetime parsing
    day, month_name, year, hour, minute, second = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError("unknown month name")
    # Out-of-range parts raise ValueError, which pydantic reports as a validation error.
    return datetime(
        int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
    )


def _to_utc(value: datetime) -> datetime:
    """Naive means UTC (IMDS has no other zone); aware values are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00; pydantic only wraps ValueError
        raise ValueError("datetime out of range in UTC") from None


#: A datetime that is always timezone-aware UTC; accepts ISO 8601 and IMDS's event format.
UtcDatetime = Annotated[datetime, BeforeValidator(_parse_imds_time), AfterValidator(_to_utc)]


def format_utc(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: the form AWS SDKs and ``credential_process`` expect."""
    return _to_utc(value).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def validation_summary(exc: ValidationError, *, limit: int = 5) -> str:
    """Describe a ValidationError by field location and error kind only.

    pydantic's own ``str()`` quotes the offending input, which may be a secret (a credentials
    document with one malformed field still holds the other ones), so messages are built from
    this summary instead.
    """
    parts: list[str] = []
    errors = exc.errors(include_url=False)
    for error in errors[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "document"
        if len(where) > 80:
            where = where[:77] + "..."
        kind = error["type"]
        parts.append(
            f"missing field {where!r}" if kind == "missing" else f"invalid {where!r} [{kind}]"
        )
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


class _IMDSModel(BaseModel):
    """Shared configuration: frozen, aliases accepted alongside field names, extras kept."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class InstanceIdentityDocument(_IMDSModel):
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


class IAMInfo(_IMDSModel):
    """``/latest/meta-data/iam/info``: the instance profile attached to this instance."""

    code: Optional[str] = Field(default=None, alias="Code")
    last_updated: Optional[UtcDatetime] = Field(default=None, alias="LastUpdated")
    instance_profile_arn: str = Field(alias="InstanceProfileArn")
    instance_profile_id: str = Field(alias="InstanceProfileId")


class IAMCredentials(_IMDSModel):
    """``/latest/meta-data/iam/security-credentials/<role>``: temporary role credentials.

    The secret key and the session token are :class:`~pydantic.SecretStr`, so they never show in
    ``repr``, ``str``, logs or ``model_dump_json``; call ``.get_secret_value()`` to use them.
    The access key id is not a secret and stays readable (it is what CloudTrail shows).
    ``role_name`` is not in the document; the parser injects it from the path.
    """

    access_key_id: str = Field(alias="AccessKeyId")
    secret_access_key: SecretStr = Field(alias="SecretAccessKey")
    token: SecretStr = Field(alias="Token")
    expiration: UtcDatetime = Field(alias="Expiration")
    role_name: str
    code: Optional[str] = Field(default=None, alias="Code")
    last_updated: Optional[UtcDatetime] = Field(default=None, alias="LastUpdated")
    type: Optional[str] = Field(default=None, alias="Type")

    def __repr_args__(self) -> Iterator[tuple[Optional[str], Any]]:
        """Hide the values of unknown extra fields: a field AWS adds later may be secret too."""
        extra = self.model_extra or {}
        for name, value in super().__repr_args__():
            yield (name, "**********" if name in extra else value)


class SpotInstanceAction(_IMDSModel):
    """``/latest/meta-data/spot/instance-action``: this Spot Instance is about to be reclaimed."""

    action: str
    time: UtcDatetime


class RebalanceRecommendation(_IMDSModel):
    """``/latest/meta-data/events/recommendations/rebalance``: elevated interruption risk."""

    notice_time: UtcDatetime = Field(alias="noticeTime")


class ScheduledEvent(_IMDSModel):
    """One entry of ``/latest/meta-data/events/maintenance/scheduled``."""

    code: str = Field(alias="Code")
    description: str = Field(alias="Description")
    event_id: str = Field(alias="EventId")
    not_before: UtcDatetime = Field(alias="NotBefore")
    not_after: Optional[UtcDatetime] = Field(default=None, alias="NotAfter")
    not_before_deadline: Optional[UtcDatetime] = Field(default=None, alias="NotBeforeDeadline")
    state: str = Field(alias="State")


# Leaves under network/interfaces/macs/<mac>/ that hold several LF-separated values.
_LIST_LEAVES = frozenset(
    {
        "ipv4-prefix",
        "ipv6-prefix",
        "ipv6s",
        "local-ipv4s",
        "public-ipv4s",
        "security-group-ids",
        "security-groups",
        "subnet-ipv6-cidr-blocks",
        "vpc-ipv4-cidr-blocks",
        "vpc-ipv6-cidr-blocks",
    }
)
_ASSOCIATIONS = "ipv4-associations/"


class NetworkInterface(_IMDSModel):
    """One network interface, from the leaves under ``network/interfaces/macs/<mac>/``.

    IMDS has no document for an interface, only a folder of text leaves, so build it with
    :meth:`from_leaves`.  Aliases are the leaf names.
    """

    mac: str
    device_number: Optional[int] = Field(default=None, alias="device-number")
    interface_id: Optional[str] = Field(default=None, alias="interface-id")
    network_card_index: Optional[int] = Field(default=None, alias="network-card-index")
    owner_id: Optional[str] = Field(default=None, alias="owner-id")
    local_hostname: Optional[str] = Field(default=None, alias="local-hostname")
    local_ipv4s: list[str] = Field(default_factory=list, alias="local-ipv4s")
    public_hostname: Optional[str] = Field(default=None, alias="public-hostname")
    public_ipv4s: list[str] = Field(default_factory=list, alias="public-ipv4s")
    #: Public IPv4 address → the private IPv4 address it is associated with.
    ipv4_associations: dict[str, str] = Field(default_factory=dict, alias="ipv4-associations")
    ipv6s: list[str] = Field(default_factory=list)
    ipv4_prefixes: list[str] = Field(default_factory=list, alias="ipv4-prefix")
    ipv6_prefixes: list[str] = Field(default_factory=list, alias="ipv6-prefix")
    security_group_ids: list[str] = Field(default_factory=list, alias="security-group-ids")
    security_groups: list[str] = Field(default_factory=list, alias="security-groups")
    subnet_id: Optional[str] = Field(default=None, alias="subnet-id")
    subnet_ipv4_cidr_block: Optional[str] = Field(default=None, alias="subnet-ipv4-cidr-block")
    subnet_ipv6_cidr_blocks: list[str] = Field(
        default_factory=list, alias="subnet-ipv6-cidr-blocks"
    )
    vpc_id: Optional[str] = Field(default=None, alias="vpc-id")
    vpc_ipv4_cidr_block: Optional[str] = Field(default=None, alias="vpc-ipv4-cidr-block")
    vpc_ipv4_cidr_blocks: list[str] = Field(default_factory=list, alias="vpc-ipv4-cidr-blocks")
    vpc_ipv6_cidr_blocks: list[str] = Field(default_factory=list, alias="vpc-ipv6-cidr-blocks")

    @classmethod
    def from_leaves(
        cls, mac: str, leaves: Mapping[str, str], *, path: Optional[str] = None
    ) -> NetworkInterface:
        """Build from ``{leaf name: body}`` as read under ``macs/<mac>/``.

        Multi-value leaves are split on LF.  ``ipv4-associations/<public-ip>`` keys fill
        :attr:`ipv4_associations`; folder listings (names ending in ``/``) are ignored; leaves
        this model does not know are kept as extras under their snake_case name.  ``mac`` wins
        over a ``mac`` leaf.  Malformed values raise :class:`~imdsclient.errors.IMDSError`.
        """
        data: dict[str, object] = {}
        associations: dict[str, str] = {}
        for name, body in leaves.items():
            if name.startswith(_ASSOCIATIONS):
                public_ip = name[len(_ASSOCIATIONS) :].strip("/")
                if public_ip:
                    associations[public_ip] = body.strip()
            elif name.endswith("/"):
                continue
            elif name in _LIST_LEAVES:
                data[name] = _split_lines(body)
            elif name in _ALIASES:
                data[name] = body.strip()
            elif name.replace("-", "_") not in cls.model_fields:
                data[name.replace("-", "_")] = body  # a leaf AWS added: kept as an extra
        data["ipv4-associations"] = associations
        data["mac"] = mac
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise IMDSError(
                f"Unusable network interface data for {mac!r} from IMDS: "
                f"not the documented shape ({validation_summary(exc)})",
                path=path,
                hint=HINTS["bad_response"],
            ) from None


_ALIASES = frozenset(
    field.alias for field in NetworkInterface.model_fields.values() if field.alias is not None
)


def _split_lines(body: str) -> list[str]:
    """IMDS joins multiple values with LF; blank lines carry nothing."""
    return [item.strip() for item in body.split("\n") if item.strip()]


class PublicKey(_IMDSModel):
    """One SSH key pair from ``public-keys/``: the listing gives ``index=name``."""

    index: int = Field(ge=0)
    name: str
    openssh_key: Optional[str] = None


def credential_process_json(creds: IAMCredentials) -> dict[str, object]:
    """The AWS CLI/SDK ``credential_process`` output (``Version: 1``) for these credentials."""
    return {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.get_secret_value(),
        "SessionToken": creds.token.get_secret_value(),
        "Expiration": format_utc(creds.expiration),
    }


def botocore_dict(creds: IAMCredentials) -> dict[str, str]:
    """What botocore's ``InstanceMetadataFetcher.retrieve_iam_role_credentials()`` returns."""
    return {
        "role_name": creds.role_name,
        "access_key": creds.access_key_id,
        "secret_key": creds.secret_access_key.get_secret_value(),
        "token": creds.token.get_secret_value(),
        "expiry_time": format_utc(creds.expiration),
    }
