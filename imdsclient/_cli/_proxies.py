"""Pure judgement for ``doctor``: would proxy-aware tools send IMDS requests to a proxy?

imdsclient itself never uses a proxy.  Other tools on the same host do, each by its own rules,
so each is judged by its own:

* **Python's urllib** (and so botocore, boto3 and the AWS CLI v1, which take their proxies from
  ``urllib.request.getproxies()`` and their bypass from ``proxy_bypass``):
  ``getproxies_environment`` reads every ``*_proxy`` variable in any case, then lets the
  lowercase one win (a lowercase one that is set but empty removes the entry); only the
  ``http`` entry applies to ``http://169.254.169.254`` (``ALL_PROXY`` is ignored).
  ``proxy_bypass_environment`` bypasses when ``no_proxy`` is exactly ``*``, or an entry (leading
  dots ignored) equals the host or is a dot-suffix of it; no CIDR blocks, no ports.
* **curl** reads ``http_proxy`` in lowercase only (never ``HTTP_PROXY``), then ``all_proxy`` /
  ``ALL_PROXY``; ``no_proxy`` before ``NO_PROXY``; empty means unset.  Since 7.86 an IP entry
  matches exactly or as a CIDR block; ``*`` alone bypasses everything.

Setting **both** ``no_proxy`` and ``NO_PROXY`` to the same list that names 169.254.169.254
satisfies every tool, so that is the fix ``doctor`` prints.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ProxyUse", "curl_use", "fix", "redact", "urllib_use"]


@dataclass(frozen=True)
class ProxyUse:
    """How one tool treats a request to the IMDS address."""

    tool: str
    proxy: tuple[str, str] | None  # (variable, value) of the proxy it would use, if any
    no_proxy: tuple[str, str] | None  # (variable, value) of the no-proxy list it reads
    bypassed: bool  # the no-proxy list covers the address
    note: str = ""

    @property
    def proxied(self) -> bool:
        """Whether this tool would send IMDS requests to the proxy."""
        return self.proxy is not None and not self.bypassed


def redact(url: str) -> str:
    """Hide user:password (``http://user:pw@proxy:3128`` → ``http://***@proxy:3128``)."""
    scheme, sep, rest = url.partition("://")  # the first "://": a password may contain one
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"


def _entries(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _in_cidr(entry: str, host: str) -> bool:
    if "/" not in entry:
        return False
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def urllib_use(env: Mapping[str, str], host: str) -> ProxyUse:
    """What Python's urllib (botocore, boto3, AWS CLI v1) does for ``http://HOST/``."""
    found: dict[str, tuple[str, str]] = {}
    for name, value in env.items():  # first pass: any case
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = (name, value)
    if "REQUEST_METHOD" in env:  # a CGI script: HTTP_PROXY may come from a client's header
        found.pop("http", None)
    for name, value in env.items():  # second pass: lowercase names win, empty ones remove
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[:-6]] = (name, value)
            else:
                found.pop(name.lower()[:-6], None)
    proxy, no_proxy = found.get("http"), found.get("no")
    bypassed = False
    note = ""
    if no_proxy is not None:
        value = no_proxy[1]
        bypassed = value == "*" or any(
            host == name or host.endswith("." + name)
            for name in (entry.lstrip(".").lower() for entry in _entries(value))
        )
        if not bypassed and any(_in_cidr(entry, host) for entry in _entries(value)):
            note = "urllib does not read CIDR blocks"
        elif not bypassed and any(e.partition(":")[0] == host for e in _entries(value)):
            note = "urllib does not match an entry with a port"
    return ProxyUse("Python urllib (botocore, boto3, AWS CLI v1)", proxy, no_proxy, bypassed, note)


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        if env.get(name):
            return name, env[name]
    return None


def curl_use(env: Mapping[str, str], host: str) -> ProxyUse:
    """What curl (7.86 or later) does for ``http://HOST/``."""
    proxy = _first(env, "http_proxy", "all_proxy", "ALL_PROXY")
    no_proxy = _first(env, "no_proxy", "NO_PROXY")
    bypassed = False
    if no_proxy is not None:
        value = no_proxy[1].strip()
        bypassed = value == "*" or any(
            entry.lower() == host or _in_cidr(entry, host) for entry in _entries(value)
        )
    return ProxyUse("curl", proxy, no_proxy, bypassed)


def fix(env: Mapping[str, str], host: str) -> str:
    """One command that makes every tool bypass proxies for ``host``, keeping current entries."""
    entries: list[str] = []
    for name in ("no_proxy", "NO_PROXY"):
        for entry in _entries(env.get(name, "")):
            if entry not in entries:
                entries.append(entry)
    if host not in entries:
        entries.append(host)
    value = shlex.quote(",".join(entries))
    return f"export no_proxy={value} NO_PROXY={value}"
