"""``imdsclient doctor``: the seven checks of docs/cli.md, each with verdict, evidence and fix.

Checks are data in, verdict out. External programs and files go through a
:class:`CommandRunner` (recorded outputs in tests; missing tools and permission errors become
"skipped", never a crash). HTTP steps send one request each through the client's own transport
(no proxy, no redirects, the body cap, nothing decoded) and judge the answer with the client's
own ``classify``, without the retry loop, so each step shows what IMDS itself answered and the
fix is the hint the client's error would carry.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

from imdsclient import _environment
from imdsclient._cli import _firewall, _proxies
from imdsclient._config import IMDSConfig
from imdsclient._protocol import (
    TOKEN_PATH,
    TTL_HEADER,
    Action,
    FailureKind,
    Outcome,
    Request,
    Response,
    Result,
    classify,
    get_request,
    token_request,
    token_ttl_from,
)
from imdsclient._transport import SYN_RESEND_SLACK, SyncPool, send_sync, sync_client
from imdsclient._version import __version__
from imdsclient.errors import HINTS, ConfigError, EndpointDisabledError, IMDSError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "IMDS_ADDRESSES",
    "Check",
    "CommandRunner",
    "Connector",
    "Report",
    "SystemRunner",
    "as_fix",
    "default_runner",
    "overrides_from",
    "run_checks",
    "tcp_connect",
]

Status = Literal["ok", "problem", "skipped"]

#: The addresses of the real IMDS; firewall rules and NO_PROXY are checked against these.
IMDS_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")
_PROBE_PATH = "/latest/meta-data/instance-id"
_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")
_COUNTER = "linklocal_allowance_exceeded"


class CommandRunner(Protocol):
    """Runs a program; never raises. Missing program: 127; not allowed to run it: 126."""

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """``(returncode, stdout, stderr)``."""


class SystemRunner:
    """Runs programs for real, with a time limit and the C locale (parsable output)."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """``(returncode, stdout, stderr)``; 127 missing, 126 not permitted, 124 timed out."""
        env = {**os.environ, "LC_ALL": "C"}
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
                env=env,
            )
        except FileNotFoundError:
            return 127, "", f"{argv[0]}: command not found"
        except PermissionError as exc:
            return 126, "", f"{argv[0]}: {exc.strerror or exc}"
        except subprocess.TimeoutExpired:
            return 124, "", f"{argv[0]}: no answer within {self.timeout:g} s"
        except OSError as exc:
            return 126, "", f"{argv[0]}: {exc}"
        return done.returncode, done.stdout, done.stderr


def default_runner() -> CommandRunner:
    """The runner ``doctor`` uses from the command line (tests replace this function)."""
    return SystemRunner()


@dataclass
class Check:
    """One check's verdict."""

    number: int
    name: str
    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: list[str] = field(default_factory=list)


@dataclass
class Report:
    """All checks, in order."""

    checks: list[Check]

    @property
    def problems(self) -> list[Check]:
        """The checks that found a problem."""
        return [check for check in self.checks if check.status == "problem"]

    @property
    def has_problem(self) -> bool:
        """Whether any check found a problem (``doctor`` then exits 1)."""
        return bool(self.problems)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` report."""
        return {
            "version": __version__,
            "ok": not self.has_problem,
            "problems": [check.name for check in self.problems],
            "checks": [
                {**asdict(check), "fix": [as_fix(line) for line in check.fix]}
                for check in self.checks
            ],
        }

    def render(self) -> str:
        """The human report: the version, one block per check, then a one-line verdict."""
        lines: list[str] = [f"imdsclient {__version__}"]
        for check in self.checks:
            verdict = f"[{check.status}]"
            lines.append(f"{verdict:<9} {check.number}. {check.name}: {check.summary}")
            lines.extend(f"{'':<12}{line}" for line in check.evidence)
            lines.extend(f"{'':<12}fix: {as_fix(line)}" for line in check.fix)
        problems = self.problems
        if problems:
            names = ", ".join(f"{c.number}. {c.name}" for c in problems)
            lines.append(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: {names}")
        else:
            lines.append("No problems found.")
        return "\n".join(lines)


_RUN_DOCTOR = "`python -m imdsclient doctor`"


def as_fix(hint: str) -> str:
    """A hint as doctor shows it after ``fix:``: without the advice to run doctor (this is
    doctor) and without a second "Fix:" (what follows it is the fix)."""
    if ". Fix: " in hint:
        hint = hint.split(". Fix: ", 1)[1]
    hint = re.sub(r"\s+(?:and|or) run " + re.escape(_RUN_DOCTOR), "", hint)
    kept: list[str] = []
    for sentence in re.split(r"(?<=\.)\s+", hint):
        clauses = [c for c in sentence.rstrip(".").split("; ") if _RUN_DOCTOR not in c]
        if clauses:
            kept.append("; ".join(clauses) + ("." if sentence.endswith(".") else ""))
    return " ".join(kept)


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The global command-line options as ``IMDSConfig`` overrides (unset ones left out)."""
    given = {
        "endpoint": args.endpoint,
        "timeout": args.timeout,
        "num_attempts": args.attempts,
        "v1_fallback": False if args.no_v1_fallback else None,
    }
    return {name: value for name, value in given.items() if value is not None}


# -- 1. configuration -----------------------------------------------------------------------


def check_config(
    env: Mapping[str, str], overrides: Mapping[str, Any]
) -> tuple[Check, IMDSConfig | None]:
    """AWS_EC2_METADATA_DISABLED and every resolved setting with where it came from."""
    try:
        config = IMDSConfig.from_environment(env, **overrides)
    except ConfigError as exc:
        check = Check(
            1,
            "configuration",
            "problem",
            f"the {exc.setting} setting is invalid",
            [str(exc)],
            [f"Correct or remove the {exc.setting} value ({exc.source})."],
        )
        return check, None
    evidence = [f"{name} = {value} ({source})" for name, value, source in config.describe()]
    evidence += _environment.doctor_lines(env)  # Lambda, ECS, EKS: what IMDS means there
    if config.disabled:
        summary = f"IMDS access is turned off ({config.sources['disabled']})"
        return Check(1, "configuration", "problem", summary, evidence, [HINTS["disabled"]]), config
    summary = f"IMDS access is enabled; requests go to {config.base_url}"
    return Check(1, "configuration", "ok", summary, evidence), config


# -- 2. proxies -----------------------------------------------------------------------------


def check_proxy(env: Mapping[str, str]) -> Check:
    """Proxy variables that proxy-aware tools would use for IMDS, each judged by its own rules
    (Python's urllib, and so botocore; curl): see ``_proxies``."""
    host = IMDS_ADDRESSES[0]
    shown = [f"{name}={_proxies.redact(env[name])}" for name in _PROXY_VARS if name in env]
    uses = [_proxies.urllib_use(env, host), _proxies.curl_use(env, host)]
    if not any(use.proxy for use in uses):
        return Check(2, "proxy", "ok", "no HTTP proxy variable applies to IMDS", shown)
    evidence = shown + [_judged(use, host) for use in uses]
    proxied = [use.tool for use in uses if use.proxied]
    if not proxied:
        summary = f"a proxy is set and every tool's no-proxy list covers {host}"
        return Check(2, "proxy", "ok", summary, evidence)
    summary = (
        f"{' and '.join(proxied)} would send IMDS requests to a proxy, which cannot reach a "
        "link-local address (imdsclient itself always connects directly)"
    )
    return Check(2, "proxy", "problem", summary, evidence, [_proxies.fix(env, host)])


def _judged(use: _proxies.ProxyUse, host: str) -> str:
    """One evidence line: which proxy a tool would use for IMDS, and whether it bypasses it."""
    if use.proxy is None:
        return f"{use.tool}: no proxy for http://{host}/"
    proxy = f"{use.proxy[0]}={_proxies.redact(use.proxy[1])}"
    if use.no_proxy is None:
        return f"{use.tool}: uses {proxy}; no no_proxy list"
    covers = "covers" if use.bypassed else "does not cover"
    note = f" ({use.note})" if use.note else ""
    return f"{use.tool}: uses {proxy}; its {use.no_proxy[0]} {covers} {host}{note}"


# -- 3. firewall ----------------------------------------------------------------------------


def _tool_failure(argv: Sequence[str], code: int, err: str) -> str:
    first = err.strip().splitlines()[0] if err.strip() else f"exit status {code}"
    if code == 127:
        return f"`{' '.join(argv)}`: not installed"
    return f"`{' '.join(argv)}` failed: {first}"


def check_firewall(runner: CommandRunner, targets: Sequence[str], uid: int | None) -> Check:
    """iptables and nft rules that REJECT or DROP traffic to IMDS, with the delete command.

    iptables-nft keeps its rules in nft, so they show in both listings: each is reported once,
    as the iptables rule (whose ``iptables -D`` is the command that owns it).
    """
    rules: list[_firewall.BlockingRule] = []
    evidence: list[str] = []
    missing = 0  # tools that are not installed at all
    v4 = [t for t in targets if ":" not in t]
    # iptables-save lists every table and chain (a DROP may sit in raw, or in a chain OUTPUT
    # jumps to); without it, `iptables -S` still lists every chain of the filter table.
    iptables_listing: str | None = None
    iptables_missing = True
    for argv in (("iptables-save",), ("iptables", "-S")):
        code, out, err = runner.run(argv)
        if code == 0:
            iptables_listing = out
            rules += _firewall.parse_iptables(out, v4, uid=uid)
            evidence.append(f"`{' '.join(argv)}`: {len(out.splitlines())} lines read")
            iptables_missing = False
            break
        evidence.append(_tool_failure(argv, code, err))
        iptables_missing = iptables_missing and code == 127
    missing += iptables_missing
    nft = ("nft", "-a", "list", "ruleset")
    code, out, err = runner.run(nft)
    nft_listed = code == 0
    if nft_listed:
        evidence.append(f"`{' '.join(nft)}`: {len(out.splitlines())} lines read")
        shared = _firewall.iptables_nft_tables(err, iptables_listing)
        found = _firewall.parse_nft(out, targets, uid=uid)
        twice = [rule for rule in found if rule.table in shared]
        rules += [rule for rule in found if rule.table not in shared]
        if twice:
            tables = ", ".join(sorted({rule.table for rule in twice}))
            evidence.append(
                f"nft also lists {len(twice)} of them in iptables-nft's tables ({tables}): "
                "the same rules as iptables', counted once"
            )
    else:
        missing += code == 127
        evidence.append(_tool_failure(nft, code, err))
    if rules:
        fix: list[str] = []
        for rule in rules:
            evidence.append(f"{rule.tool}: {rule.rule}" + (f" ({rule.note})" if rule.note else ""))
            fix.append(rule.delete or rule.how_to_delete)
        count = len(rules)
        summary = (
            f"{count} firewall rule{'s' if count > 1 else ''} block{'' if count > 1 else 's'} IMDS"
        )
        return Check(3, "firewall", "problem", summary, evidence, fix)
    if iptables_listing is not None or nft_listed:
        return Check(3, "firewall", "ok", "no rule rejects or drops IMDS traffic", evidence)
    if missing == 2:
        summary = "neither iptables nor nft is installed, so no local rule was found to check"
        return Check(3, "firewall", "skipped", summary, evidence)
    hint = "run doctor as root (sudo) to read the firewall rules"
    return Check(3, "firewall", "skipped", "the firewall rules could not be read", evidence, [hint])


# -- 4-6. the network steps -----------------------------------------------------------------


def _host_port(base_url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


#: Opens and closes one TCP connection, raising ``OSError`` (``socket.timeout`` included).
Connector = Callable[[str, int, float], None]


def tcp_connect(host: str, port: int, timeout: float) -> None:
    """The real :data:`Connector`."""
    socket.create_connection((host, port), timeout=timeout).close()


def check_tcp(
    config: IMDSConfig, env: Mapping[str, str] | None = None, connect: Connector = tcp_connect
) -> Check:
    """Can we open a TCP connection to the endpoint at all?  The verdict follows the errno."""
    host, port = _host_port(config.base_url)
    timeout = config.timeout + SYN_RESEND_SLACK  # what the client itself waits to connect
    where = f"TCP connect to {host}:{port} (timeout {timeout:g} s)"
    started = time.perf_counter()
    try:
        connect(host, port, timeout)
    except OSError as exc:
        summary, key = _unreachable(exc, host, port)
        fix = _environment.connection_hint(key, {} if env is None else env)
        name = errno.errorcode.get(exc.errno or 0, "")
        reason = "timed out" if isinstance(exc, socket.timeout) else exc.strerror or str(exc)
        evidence = [f"{where}: {reason}" + (f" ({name})" if name else "")]
        return Check(4, "reachability", "problem", summary, evidence, [fix])
    took = (time.perf_counter() - started) * 1000
    return Check(
        4,
        "reachability",
        "ok",
        f"{host}:{port} accepts connections",
        [f"{where}: connected in {took:.1f} ms"],
    )


def _unreachable(exc: OSError, host: str, port: int) -> tuple[str, str]:
    """What a failed connect means, by errno: the summary and the key of its fix in HINTS."""
    if isinstance(exc, socket.timeout):
        summary = "no answer to the connection request: a firewall DROP rule, or not on EC2"
        return summary, "connect_timeout"
    if exc.errno == errno.ECONNREFUSED:
        summary = (
            f"connection refused: a firewall REJECT rule, or nothing listens on {host}:{port} "
            "(a wrong endpoint setting, or not on EC2)"
        )
        return summary, "connect"
    if exc.errno == errno.ENETUNREACH:
        return f"no route to {host}: not on EC2, or the network is not up yet", "no_route"
    if exc.errno == errno.EHOSTUNREACH:
        summary = (
            f"host unreachable: nothing answers at {host} on this network, or a rule rejects "
            "with icmp-host-unreachable (not on EC2, or a wrong endpoint setting)"
        )
        return summary, "no_route"
    if exc.errno in (errno.EACCES, errno.EPERM):
        summary = "connecting is not permitted: a local firewall rule or security policy"
        return summary, "connect"
    return "connection failed: a firewall rule, a wrong endpoint, or not on EC2", "connect"


_FAILURE_TEXT = {
    FailureKind.READ_TIMEOUT: "no answer within the timeout (connected, but no response)",
    FailureKind.CONNECT_TIMEOUT: "could not connect within the timeout",
}


def _exchange(http: SyncPool, request: Request) -> tuple[Result, Outcome, str]:
    """One exchange through the client's own transport (body cap, no decoding, no proxy),
    classified by the client's own rules; and how to show it."""
    started = time.perf_counter()
    result = send_sync(http, request)
    outcome = classify(result, path=request.path, endpoint_seen=True)
    if isinstance(result, Response):
        took = (time.perf_counter() - started) * 1000
        return result, outcome, f"{result.status} in {took:.1f} ms"
    text = _FAILURE_TEXT.get(result.kind, f"failed: {result.detail or result.kind.value}")
    return result, outcome, text


def _status(result: Result) -> int | None:
    return result.status if isinstance(result, Response) else None


def _fix(outcome: Outcome) -> str:
    """The client's own hint for an answer; a 401 (which the client would act on) its hint."""
    if outcome.error is not None:
        return outcome.error.hint
    refused = outcome.action is Action.REFRESH_TOKEN
    return HINTS["unauthorized"] if refused else HINTS["bad_response"]


def check_token(http: SyncPool, config: IMDSConfig) -> tuple[Check, str | None]:
    """The IMDSv2 token PUT; returns the token (never shown) for the next check."""
    ttl = config.token_ttl
    result, outcome, text = _exchange(http, token_request(ttl))
    evidence = [f"PUT {TOKEN_PATH} ({TTL_HEADER}: {ttl}): {text}"]
    if outcome.action is Action.OK:
        assert isinstance(result, Response)
        try:
            token, _ = token_ttl_from(result, ttl)
        except IMDSError as exc:
            return Check(5, "token", "problem", exc.message, evidence, [exc.hint]), None
        return Check(5, "token", "ok", "IMDSv2 works: a session token was issued", evidence), token
    if outcome.action is Action.FALLBACK_V1 and outcome.reason == "hop_limit":
        summary = (
            "the token request got no answer although the endpoint accepts connections: the "
            "hop limit drops the response (typical inside containers)"
        )
        return Check(5, "token", "problem", summary, evidence, [HINTS["hop_limit"]]), None
    if outcome.action is Action.FALLBACK_V1:
        summary = (
            f"{_status(result)}: this endpoint does not issue tokens (IMDSv1 only), or something "
            "in between does not pass PUT requests"
        )
        if not config.v1_fallback:  # what imdsclient's own error will say
            return Check(
                5, "token", "problem", summary, evidence, [HINTS["v1_disabled_no_token"]]
            ), None
        fix = [
            "imdsclient falls back to IMDSv1 here; clients that require IMDSv2 will fail. "
            "Look for a proxy or firewall between this host and IMDS."
        ]
        return Check(5, "token", "problem", summary, evidence, fix), None
    assert outcome.error is not None
    if isinstance(outcome.error, EndpointDisabledError):
        evidence.append("a proxy that adds X-Forwarded-For also gets 403")
    summary = f"the token request failed: {outcome.error.message}"
    return Check(5, "token", "problem", summary, evidence, [outcome.error.hint]), None


def check_get(
    http: SyncPool, token: str | None, *, put_timed_out: bool = False
) -> tuple[Check, str | None]:
    """A GET with the token, and one without (does IMDSv1 answer?); and the instance id, when
    either GET read it (every fix then names this instance)."""
    evidence: list[str] = []
    fix: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    instance_id: str | None = None
    if token is None:
        evidence.append(f"GET {_PROBE_PATH} with token: skipped (no token)")
    else:
        result, outcome, text = _exchange(http, get_request(_PROBE_PATH, token))
        evidence.append(f"GET {_PROBE_PATH} with token: {text}")
        if outcome.action is Action.OK:
            notes.append("IMDSv2 GET works")
            instance_id = _instance_id(result)
        else:
            problems.append(f"GET with token: {text}")
            fix.append(_fix(outcome))
    result, outcome, text = _exchange(http, get_request(_PROBE_PATH, None))
    evidence.append(f"GET {_PROBE_PATH} without token: {text}")
    if outcome.action is Action.OK:
        instance_id = instance_id or _instance_id(result)
        notes.append("IMDSv1 answers (HttpTokens=optional)")
    elif outcome.action is Action.REFRESH_TOKEN and token is not None:
        notes.append(
            "HttpTokens=required (IMDSv1 is off): fine for IMDSv2 clients such as imdsclient "
            "and current AWS SDKs; only tools that speak IMDSv1 alone will fail"
        )
    elif outcome.action is Action.REFRESH_TOKEN:
        problems.append("IMDSv1 is off (HttpTokens=required) and no token could be obtained")
        fix.append(HINTS["hop_limit" if put_timed_out else "v1_refused"])
    else:
        problems.append(f"GET without token: {text}")
        fix.append(_fix(outcome))
    if problems:
        check = Check(6, "get", "problem", "; ".join(problems), evidence, list(dict.fromkeys(fix)))
        return check, instance_id
    return Check(6, "get", "ok", "; ".join(notes), evidence), instance_id


_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")


def _instance_id(result: Result) -> str | None:
    """The instance id in a 200 answer, if it looks like one (it goes into shell commands)."""
    if not isinstance(result, Response):
        return None
    text = result.body.decode("ascii", "replace").strip()
    return text if _INSTANCE_ID.fullmatch(text) else None


def _name_the_instance(checks: list[Check], instance_id: str) -> None:
    """Put the instance id into every fix that says ``--instance-id <instance-id>``."""
    for check in checks:
        check.fix = [line.replace("<instance-id>", instance_id) for line in check.fix]


# -- 7. throttling --------------------------------------------------------------------------


def find_interface(runner: CommandRunner) -> tuple[str | None, str]:
    """The default route's interface, from /proc/net/route or else `ip route`; and how."""
    code, out, _ = runner.run(("cat", "/proc/net/route"))
    if code == 0:
        name = _firewall.default_route_interface(out)
        if name:
            return name, "default route in /proc/net/route"
    code, out, _ = runner.run(("ip", "route", "show", "default"))
    if code == 0:
        name = _firewall.ip_route_interface(out)
        if name:
            return name, "default route from `ip route`"
    return None, "no default route found in /proc/net/route or `ip route`"


def check_throttling(runner: CommandRunner, interface: str | None) -> Check:
    """ENA's linklocal_allowance_exceeded: packets to IMDS dropped over the 1024 PPS limit."""
    how = "given with --interface"
    if interface is None:
        interface, how = find_interface(runner)
        if interface is None:
            return Check(
                7,
                "throttling",
                "skipped",
                "could not tell which network interface to read",
                [how],
                ["run `imdsclient doctor --interface IFACE`"],
            )
    argv = ("ethtool", "-S", interface)
    code, out, err = runner.run(argv)
    evidence = [f"interface {interface} ({how})"]
    if code != 0:
        evidence.append(_tool_failure(argv, code, err))
        fix = (
            ["install ethtool (e.g. `sudo apt-get install ethtool` or `sudo dnf install ethtool`)"]
            if code == 127
            else []
        )
        return Check(
            7, "throttling", "skipped", "the interface counters could not be read", evidence, fix
        )
    counters = _firewall.nic_counters(out)
    related = {k: v for k, v in counters.items() if k.endswith("_allowance_exceeded")}
    evidence += [f"{name}: {value}" for name, value in related.items()]
    count = counters.get(_COUNTER)
    if count is None:
        summary = f"{interface} does not report {_COUNTER} (only the ENA driver on EC2 does)"
        return Check(7, "throttling", "skipped", summary, evidence)
    if count:
        summary = f"{count} packets to IMDS were dropped over the 1024 packets/s limit"
        advice = (
            "the counter only grows; run doctor again later to see whether throttling continues"
        )
        return Check(7, "throttling", "problem", summary, evidence, [HINTS["throttled"], advice])
    return Check(7, "throttling", "ok", f"{_COUNTER} is 0 on {interface}", evidence)


# -- all together ---------------------------------------------------------------------------


def _skipped(number: int, name: str, why: str) -> Check:
    return Check(number, name, "skipped", why)


def run_checks(
    overrides: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    runner: CommandRunner | None = None,
    interface: str | None = None,
    uid: int | None = None,
    transport: httpx.BaseTransport | None = None,
    connect: Connector = tcp_connect,
) -> Report:
    """Run the seven checks in order; never raises for anything the environment does.

    ``transport`` and ``connect`` replace the network for tests (e.g. ``httpx.MockTransport(
    SimulatorState().handle_httpx)`` and a connector that returns), so no check waits on a clock.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    runner = runner if runner is not None else default_runner()
    if uid is None and hasattr(os, "getuid"):
        uid = os.getuid()
    config_check, config = check_config(environ, overrides or {})
    checks = [config_check, check_proxy(environ)]
    instance_id: str | None = None
    targets = list(IMDS_ADDRESSES)
    if config is not None:
        host, _ = _host_port(config.base_url)
        if _is_ip(host) and host not in targets:
            targets.append(host)
    checks.append(check_firewall(runner, targets, uid))
    if config is None:
        why = "the configuration is invalid (see check 1)"
        checks += [
            _skipped(4, "reachability", why),
            _skipped(5, "token", why),
            _skipped(6, "get", why),
        ]
    else:
        tcp = check_tcp(config, environ, connect)
        checks.append(tcp)
        if tcp.status != "ok":
            why = "the endpoint is unreachable (see check 4)"
            checks += [_skipped(5, "token", why), _skipped(6, "get", why)]
        else:
            with sync_client(config.base_url, config.timeout, transport) as http:
                token_check, token = check_token(http, config)
                timed_out = token_check.fix == [HINTS["hop_limit"]]
                get_check, instance_id = check_get(http, token, put_timed_out=timed_out)
                checks += [token_check, get_check]
    checks.append(check_throttling(runner, interface))
    if instance_id is not None:
        _name_the_instance(checks, instance_id)
    return Report(checks)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
