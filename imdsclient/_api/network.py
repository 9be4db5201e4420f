"""Network interfaces: one model per MAC, built from the folder of leaves IMDS serves for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from pydantic import Field, ValidationError

from imdsclient._api._model import IMDSModel, validation_summary
from imdsclient._api.crawl import crawl, leaf_texts
from imdsclient._flow import Flow, operation
from imdsclient._protocol import META_DATA
from imdsclient._session import Session
from imdsclient.errors import HINTS, IMDSError

__all__ = ["NetworkInterface", "network_interfaces"]


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


class NetworkInterface(IMDSModel):
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


@operation()
def network_interfaces(session: Session) -> Flow[list[NetworkInterface]]:
    """Every network interface, ordered by device number (the primary one first)."""
    folder = META_DATA + "network/interfaces/macs/"
    tree = yield from crawl(session, folder)
    interfaces = [
        NetworkInterface.from_leaves(
            mac, leaf_texts(leaves, folder + mac + "/"), path=folder + mac + "/"
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
