"""Pure parsers for ``doctor``: firewall listings, routes and NIC counters in, findings out.

No I/O here: ``_doctor`` runs the tools through its ``CommandRunner`` and hands the text over, so
every branch is tested with recorded outputs.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "IPTABLES_NFT_TABLES",
    "BlockingRule",
    "default_route_interface",
    "ip_route_interface",
    "iptables_nft_tables",
    "nic_counters",
    "parse_iptables",
    "parse_nft",
    "uid_note",
]


@dataclass(frozen=True)
class BlockingRule:
    """A firewall rule that drops or rejects traffic to an IMDS address."""

    tool: str  # "iptables" or "nft"
    rule: str  # as listed
    verdict: str  # REJECT / DROP / reject / drop
    delete: str | None  # the exact command that removes it, when it can be known
    note: str = ""  # which processes it applies to
    table: str = ""  # "filter" (iptables) or "FAMILY NAME" (nft, e.g. "ip filter")
    how_to_delete: str = ""  # when there is no exact command: how to find one


def _covers(spec: str, targets: Iterable[str]) -> bool:
    """Whether an address/CIDR spec (or a comma-separated list of them) contains a target."""
    for part in spec.split(","):
        try:
            network = ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            continue
        for target in targets:
            address = ipaddress.ip_address(target)
            if address.version == network.version and address in network:
                return True
    return False


def _value_after(words: list[str], *flags: str) -> tuple[str | None, bool]:
    """The value following the first of ``flags``, and whether it was negated with ``!``."""
    for index, word in enumerate(words[:-1]):
        if word in flags:
            return words[index + 1], index > 0 and words[index - 1] == "!"
    return None, False


def _owner_note(words: list[str], uid: int | None) -> str:
    owner, negated = _value_after(words, "--uid-owner")
    return uid_note(owner, negated, uid)


def uid_note(owner: str | None, negated: bool, uid: int | None) -> str:
    """Which processes an owner match hits: ``owner`` is a UID, a range ``A-B``, a list
    ``{ A, B-C }`` or a user name; ``None`` means the rule has no owner match."""
    if owner is None:
        return "applies to every process on this host"
    shown = owner.strip("{} ").replace(" ", "")
    scope = f"processes whose UID is {'not ' if negated else ''}{shown}"
    if uid is None:
        return f"applies to {scope}"
    inside = False
    for part in shown.split(","):
        low, _, high = part.strip('"').partition("-")
        if not (low.isdigit() and (high.isdigit() or not high)):
            return f"applies to {scope}"  # a user name: cannot tell without looking it up
        inside = inside or int(low) <= uid <= int(high or low)
    hits = inside != negated
    return f"applies to {scope}; this process (UID {uid}) is {'' if hits else 'not '}affected"


def parse_iptables(
    text: str, targets: Iterable[str], *, uid: int | None = None
) -> list[BlockingRule]:
    """Rules from ``iptables -S [CHAIN]`` or ``iptables-save`` that REJECT/DROP an IMDS address.

    The delete command is the rule as listed with ``-A`` turned into ``-D`` (plus ``-t TABLE``
    outside the filter table), so it matches exactly the rule that was found.
    """
    wanted = list(targets)
    table = "filter"
    found: list[BlockingRule] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:].strip() or "filter"
            continue
        if not line.startswith("-A "):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        verdict, _ = _value_after(words, "-j", "--jump")
        if verdict not in ("REJECT", "DROP"):
            continue
        destination, negated = _value_after(words, "-d", "--destination")
        if destination is None or negated or not _covers(destination, wanted):
            continue
        where = "" if table == "filter" else f"-t {table} "
        found.append(
            BlockingRule(
                "iptables",
                line,
                verdict,
                f"sudo iptables {where}-D {line[3:].strip()}",
                _owner_note(words, uid),
                table,
            )
        )
    return found


_IPTABLES_NFT_WARNING = re.compile(r"table (\S+ \S+) is managed by iptables-nft")
#: The tables iptables-nft keeps in nft (family ``ip``): its rules show in both listings.
IPTABLES_NFT_TABLES = frozenset(f"ip {t}" for t in ("filter", "nat", "mangle", "raw", "security"))


def iptables_nft_tables(nft_stderr: str, iptables_listing: str | None) -> frozenset[str]:
    """The nft tables (``"ip filter"``) whose rules an ``iptables`` listing already showed.

    ``nft`` warns on stderr about each table iptables-nft manages; ``iptables-save`` from
    iptables-nft says ``(nf_tables)`` in its header.  Only family ``ip``: ``iptables-save``
    does not list ip6tables' rules, so those are reported from the nft listing.
    """
    if iptables_listing is None:
        return frozenset()
    managed = set(_IPTABLES_NFT_WARNING.findall(nft_stderr))
    if "(nf_tables)" in iptables_listing.split("\n", 1)[0]:
        managed |= IPTABLES_NFT_TABLES
    return frozenset(t for t in managed if t.startswith("ip "))


_NFT_TABLE = re.compile(r"^table\s+(\S+)\s+(\S+)\s*\{")
_NFT_CHAIN = re.compile(r"^chain\s+(\S+)\s*\{")
_NFT_HANDLE = re.compile(r"\s*#\s*handle\s+(\d+)\s*$")
_NFT_DADDR = re.compile(r"\b(?:ip|ip6)\s+daddr\s+(!=\s*)?(\{[^}]*\}|\S+)")
_NFT_VERDICT = re.compile(r"\b(drop|reject)\b")
_NFT_SKUID = re.compile(r"\b(?:meta\s+)?skuid\s+(!=\s*)?(\{[^}]*\}|\S+)")


def parse_nft(text: str, targets: Iterable[str], *, uid: int | None = None) -> list[BlockingRule]:
    """Rules from ``nft -a list ruleset`` that drop or reject an IMDS address.

    With ``-a`` each rule ends in ``# handle N`` and the delete command is exact; without
    handles the note says how to find one.  A ``meta skuid`` match (also how iptables-nft
    rules with ``--uid-owner`` show) is explained as the UIDs it hits.
    """
    wanted = list(targets)
    family = name = chain = ""
    found: list[BlockingRule] = []
    for raw in text.splitlines():
        line = raw.strip()
        table = _NFT_TABLE.match(line)
        if table:
            family, name = table.groups()
            continue
        chain_match = _NFT_CHAIN.match(line)
        if chain_match:
            chain = chain_match.group(1)
            continue
        handle = _NFT_HANDLE.search(line)
        rule = line[: handle.start()] if handle else line
        verdict = _NFT_VERDICT.search(rule)
        daddr = _NFT_DADDR.search(rule)
        if verdict is None or daddr is None or daddr.group(1):
            continue
        if not _covers(daddr.group(2).strip("{} ").replace(" ", ""), wanted):
            continue
        where = f"{family} {name} {chain}"
        owner = _NFT_SKUID.search(rule)
        note = uid_note(owner.group(2) if owner else None, bool(owner and owner.group(1)), uid)
        delete: str | None = None
        how = ""
        if handle:
            delete = f"sudo nft delete rule {where} handle {handle.group(1)}"
        else:
            how = (
                "nft deletes rules by handle: list them with `sudo nft -a list ruleset`, then "
                f"run `sudo nft delete rule {where} handle <N>`"
            )
        nft_table = f"{family} {name}"
        found.append(
            BlockingRule("nft", rule.strip(), verdict.group(1), delete, note, nft_table, how)
        )
    return found


def default_route_interface(proc_net_route: str) -> str | None:
    """The interface of the default route in ``/proc/net/route`` (destination and mask 0)."""
    for line in proc_net_route.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            return fields[0]
    return None


def ip_route_interface(ip_route: str) -> str | None:
    """The ``dev`` of the first default route in ``ip route show default`` output."""
    for line in ip_route.splitlines():
        match = re.search(r"\bdev\s+(\S+)", line)
        if line.startswith("default") and match:
            return match.group(1)
    return None


def nic_counters(ethtool_s: str) -> dict[str, int]:
    """``name: number`` pairs from ``ethtool -S IFACE``."""
    counters: dict[str, int] = {}
    for line in ethtool_s.splitlines():
        name, sep, value = line.strip().partition(":")
        if sep and value.strip().isdigit():
            counters[name.strip()] = int(value.strip())
    return counters
