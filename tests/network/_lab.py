"""The network lab: IMDS on 169.254.169.254:80 on a real kernel, in namespaces made here.

Topology (IPv4; no default route anywhere; no veth end ever in the main namespace)::

    container                  instance                                  imds
    eth0 169.254.200.2 ─veth─ ctr0 169.254.200.1                          imds0 169.254.100.1
                               eth0 169.254.100.2 ─────────────veth───── + 169.254.169.254/32
    void: loopback only (no route to IMDS at all)

* **imds** runs the simulator (``_labserver.py``) on 169.254.169.254:80 and holds the rules
  that stand for the network: packet-rate throttling, a silent drop, ICMP unreachable, and the
  hop limit (below).
* **instance** reaches 169.254.169.254 on its link (as an EC2 instance does) and forwards for
  the container; its own firewall rules are the "local firewall" of the AWS guide.
* **container** is one forwarding hop behind the instance (like Docker's bridge).
* **void** has no route to IMDS: the "not on EC2, no network" case.

The hop limit, done by the kernel (until the simulator's ``put_response_hop_limit`` knob from
issue #13 can replace it): an nft rule in the imds namespace marks a connection as soon as a
request beginning ``PUT `` arrives on it, and every later packet the server sends on that
connection leaves with IP TTL N. The instance shares the link (TTL is not decremented), the
container is one hop further, so with N = 1 its token answers die at the instance, exactly as a
too-low ``HttpPutResponseHopLimit`` does on EC2.

Safety: every command that may send traffic runs through :meth:`Namespace.run` /
:meth:`Lab.spawn`, which always prefix ``ip netns exec <lab namespace>``; namespaces are
named ``imdslab-<pid>-<n>-<role>``; every process is ended by its PID; :meth:`Lab.close` removes
every namespace, and :meth:`Lab.check_safety` proves the main namespace gained no interface and
no lab namespace has a default route.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from tests.network._server import Server
from tests.network._venv import unprivileged_python

__all__ = [
    "IMDS_IP",
    "UNPRIVILEGED",
    "Done",
    "Lab",
    "LabUnavailable",
    "Namespace",
    "Server",
    "User",
    "lab_unavailable_reason",
]

IMDS_IP = "169.254.169.254"
HERE = Path(__file__).resolve().parent
SCRIPTS = ("_labserver.py", "_proxy.py", "_probe.py")

#: ``None`` is root; otherwise ``(uid, gid)`` dropped to with ``setpriv``.
User = Optional[tuple[int, int]]
UNPRIVILEGED: tuple[int, int] = (1000, 1000)

_STALE = re.compile(r"^imdslab-(\d+)-")
_LABS = itertools.count(1)  # labs built by this process: each gets its own names


class LabUnavailable(Exception):
    """The lab cannot be built here; the message says why (tests skip with it)."""


@dataclass(frozen=True)
class Done:
    """A finished command: exit code, output, and how long it took (for reports only)."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> Any:
        """The last stdout line, parsed (the probe and ``--json`` commands print one)."""
        lines = [line for line in self.out.splitlines() if line.strip()]
        if not lines:
            raise AssertionError(f"{' '.join(self.argv)} printed nothing; stderr: {self.err}")
        return json.loads(lines[-1])


def _host(*argv: str, check: bool = True, stdin: str | None = None) -> Done:
    """An administrative command in the main namespace (``ip netns add``, ``ip -n …``).

    Only ever iproute2 configuring lab namespaces: nothing that sends traffic runs here.
    """
    if argv[0] != "ip":
        raise AssertionError(f"only `ip` runs in the main namespace, not {argv!r}")
    started = time.perf_counter()
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    result = Done(tuple(argv), done.returncode, done.stdout, done.stderr, 0.0)
    result = Done(result.argv, result.code, result.out, result.err, time.perf_counter() - started)
    if check and done.returncode != 0:
        raise LabUnavailable(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return result


def lab_unavailable_reason() -> str | None:
    """Why the lab cannot run here, or ``None``: checked before anything is built."""
    if not sys.platform.startswith("linux"):
        return "the network lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the network lab needs root to create network namespaces (CI runs as root)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install {package})"
    return None


class Namespace:
    """One lab namespace; everything that runs in it goes through ``ip netns exec``."""

    def __init__(self, lab: Lab, role: str) -> None:
        self.lab = lab
        self.role = role
        self.name = f"{lab.prefix}-{role}"

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def argv(self, argv: Sequence[str], user: User = None) -> list[str]:
        """``argv`` as it runs inside this namespace, as root or dropped to ``user``."""
        drop: list[str] = []
        if user is not None:
            uid, gid = user
            drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        return ["ip", "netns", "exec", self.name, *drop, *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        user: User = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        stdin: str | None = None,
        check: bool = False,
    ) -> Done:
        """Run ``argv`` here to completion (killed by its PID after ``timeout`` seconds)."""
        full = self.argv(argv, user)
        started = time.perf_counter()
        done = subprocess.run(
            full,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.lab.environment(user, env),
            cwd=self.lab.workdir,
        )
        result = Done(
            tuple(full), done.returncode, done.stdout, done.stderr, time.perf_counter() - started
        )
        if check and result.code != 0:
            raise AssertionError(f"`{' '.join(full)}` failed ({result.code}): {result.err}")
        return result

    def sh(self, *argv: str, stdin: str | None = None) -> Done:
        """A root setup command here (``nft``, ``iptables``, ``sysctl``); must succeed."""
        return self.run(argv, stdin=stdin, check=True, timeout=30)

    def nft(self, script: str) -> Done:
        """Load an nft script into this namespace's ruleset."""
        return self.sh("nft", "-f", "-", stdin=script)

    def flush(self) -> None:
        """Remove every firewall rule here (nft and iptables-nft alike)."""
        self.sh("nft", "flush", "ruleset")

    def python(self, user: User) -> list[str]:
        """The interpreter for ``user``: this one for root, the lab's venv for others."""
        return [self.lab.interpreter(user)]

    def cli(
        self, *args: str, user: User = None, env: Mapping[str, str] | None = None, **kw: Any
    ) -> Done:
        """``python -m imdsclient ARGS`` here, with the default endpoint."""
        return self.run([*self.python(user), "-m", "imdsclient", *args], user=user, env=env, **kw)

    def probe(
        self,
        mode: str,
        spec: Mapping[str, Any] | None = None,
        *,
        user: User = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> Any:
        """Run ``_probe.py MODE SPEC`` here and return its JSON answer."""
        argv = [*self.python(user), str(self.lab.script("_probe.py")), mode, json.dumps(spec or {})]
        done = self.run(argv, user=user, env=env, timeout=timeout)
        if done.code != 0:
            raise AssertionError(f"probe {mode} failed ({done.code}): {done.err}")
        return done.json()


@dataclass
class _UserPython:
    """The unprivileged venv, once looked for."""

    python: str | None = None
    reason: str = ""
    tried: bool = False


class Lab:
    """Builds the namespaces, runs things in them, and removes every trace afterwards."""

    def __init__(self) -> None:
        reason = lab_unavailable_reason()
        if reason is not None:
            raise LabUnavailable(reason)
        self.prefix = f"imdslab-{os.getpid()}-{next(_LABS)}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.workdir.chmod(0o755)
        self._processes: list[subprocess.Popen[str]] = []
        self._main_links = self._links()
        self._user = _UserPython()
        self.created: list[Namespace] = []
        self.imds = Namespace(self, "imds")
        self.instance = Namespace(self, "inst")
        self.container = Namespace(self, "ctr")
        self.void = Namespace(self, "void")
        try:
            _remove_stale()
            self._copy_sources()
            self._build()
            self.check_safety()
        except BaseException:
            self.close()
            raise

    # -- building -------------------------------------------------------------------------

    def _copy_sources(self) -> None:
        """The scripts and this checkout's ``imdsclient``, readable by an unprivileged UID."""
        import imdsclient

        src = self.workdir / "src"
        shutil.copytree(Path(imdsclient.__file__).parent, src / "imdsclient")
        for script in SCRIPTS:
            shutil.copy(HERE / script, self.workdir / script)
        for path in [self.workdir, *self.workdir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (self.workdir / "home").mkdir(mode=0o777)
        (self.workdir / "home").chmod(0o777)

    def add_source(self, name: str, package_parent: Path) -> dict[str, str]:
        """Another ``imdsclient`` (``package_parent/imdsclient``, e.g. an older checkout) copied
        next to this one; the returned environment makes lab processes run it instead."""
        target = self.workdir / name
        shutil.copytree(package_parent / "imdsclient", target / "imdsclient")
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return {"PYTHONPATH": str(target)}

    def script(self, name: str) -> Path:
        """A lab script's copy (readable by every UID)."""
        return self.workdir / name

    def _build(self) -> None:
        for ns in (self.imds, self.instance, self.container, self.void):
            _host("ip", "netns", "add", ns.name)
            self.created.append(ns)
            _host("ip", "-n", ns.name, "link", "set", "lo", "up")
        imds, inst, ctr = self.imds.name, self.instance.name, self.container.name
        try:
            # Both ends are created inside lab namespaces: none ever exists in the main one.
            _host("ip", "-n", inst, "link", "add", "eth0", "type", "veth", "peer", "name",
                  "imds0", "netns", imds)  # fmt: skip
            _host("ip", "-n", ctr, "link", "add", "eth0", "type", "veth", "peer", "name",
                  "ctr0", "netns", inst)  # fmt: skip
        except LabUnavailable as exc:
            raise LabUnavailable(f"no veth support here: {exc}") from None
        for name, dev, addresses in (
            (imds, "imds0", ("169.254.100.1/24", f"{IMDS_IP}/32")),
            (inst, "eth0", ("169.254.100.2/24",)),
            (inst, "ctr0", ("169.254.200.1/24",)),
            (ctr, "eth0", ("169.254.200.2/24",)),
        ):
            for address in addresses:
                _host("ip", "-n", name, "addr", "add", address, "dev", dev)
            _host("ip", "-n", name, "link", "set", dev, "up")
        _host("ip", "-n", inst, "route", "add", f"{IMDS_IP}/32", "dev", "eth0")
        _host("ip", "-n", ctr, "route", "add", f"{IMDS_IP}/32", "via", "169.254.200.1")
        _host("ip", "-n", imds, "route", "add", "169.254.200.0/24", "via", "169.254.100.2")
        self.instance.sh("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ns in (self.imds, self.instance):  # every REJECT answers, however many tests ask
            ns.sh("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
        try:
            self.imds.nft("table inet probe { }\n")
            self.imds.flush()
        except AssertionError as exc:
            raise LabUnavailable(f"no nf_tables support here: {exc}") from None

    @staticmethod
    def _links() -> list[str]:
        return sorted(
            line.split(":", 2)[1].strip().split("@")[0]
            for line in _host("ip", "-o", "link", "show").out.splitlines()
            if line.strip()
        )

    def check_safety(self) -> None:
        """The main namespace gained no interface; no lab namespace has a default route."""
        if self._links() != self._main_links:
            raise AssertionError(f"the main namespace's links changed: {self._links()}")
        for ns in self.created:
            routes = _host("ip", "-n", ns.name, "route", "show", "default").out.strip()
            if routes:
                raise AssertionError(f"{ns.name} has a default route: {routes}")

    # -- running ----------------------------------------------------------------------------

    def environment(self, user: User, extra: Mapping[str, str] | None) -> dict[str, str]:
        """A clean environment: no AWS settings or proxies from outside, the default endpoint."""
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.workdir / "home"),
            "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        # Every process runs this process's imdsclient (copied), whichever interpreter it is.
        env["PYTHONPATH"] = str(self.workdir / "src")
        env.update(extra or {})
        return env

    def interpreter(self, user: User) -> str:
        """The Python to run as ``user`` (root: this one)."""
        if user is None:
            return sys.executable
        python = self.user_python()
        if python is None:
            raise LabUnavailable(self._user.reason)
        return python

    @property
    def user_python_reason(self) -> str:
        """Why there is no unprivileged venv (after :meth:`user_python` answered ``None``)."""
        return self._user.reason

    def user_python(self) -> str | None:
        """The unprivileged venv's Python (built once, see ``_venv``), or ``None``."""
        state = self._user
        if not state.tried:
            state.tried = True
            state.python, state.reason = unprivileged_python()
        return state.python

    def spawn(
        self,
        ns: Namespace,
        argv: Sequence[str],
        *,
        user: User = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start ``argv`` in ``ns`` in the background; ended by its PID in :meth:`close`."""
        process = subprocess.Popen(
            ns.argv(argv, user),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(user, env),
            cwd=self.workdir,
        )
        self._processes.append(process)
        return process

    def end(self, process: subprocess.Popen[str]) -> None:
        """End one of our processes by its PID: stdin closed, then SIGTERM, then SIGKILL."""
        if process.poll() is None:
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        for stream in (process.stdin, process.stdout, process.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if process in self._processes:
            self._processes.remove(process)

    @contextlib.contextmanager
    def serve(self, **knobs: Any) -> Iterator[Server]:
        """The simulator on 169.254.169.254:80 in the imds namespace, with ``knobs``."""
        argv = [sys.executable, str(self.script("_labserver.py")), json.dumps(knobs)]
        server = Server(self.spawn(self.imds, argv), "lab IMDS", self.end)
        try:
            line = server.readline()
            if not line.startswith("ready"):
                raise AssertionError(f"lab IMDS did not start: {line}")
            yield server
        finally:
            server.stop()

    @contextlib.contextmanager
    def proxy(self, ns: Namespace, port: int = 3128) -> Iterator[Server]:
        """The X-Forwarded-For proxy on 127.0.0.1:``port`` inside ``ns``."""
        argv = [sys.executable, str(self.script("_proxy.py")), str(port)]
        server = Server(self.spawn(ns, argv), "lab proxy", self.end)
        try:
            if server.readline() != "ready":
                raise AssertionError("lab proxy did not start")
            yield server
        finally:
            server.stop()

    # -- the network's behaviour ------------------------------------------------------------

    #: The instance's and the container's addresses (what IMDS sees as the source).
    INSTANCE_IP = "169.254.100.2"
    CONTAINER_IP = "169.254.200.2"

    def reset(self) -> None:
        """No firewall rule anywhere (the hop limit and throttling are rules too)."""
        for ns in self.created:
            ns.flush()

    def hop_limit(self, hops: int) -> None:
        """Token answers leave IMDS with IP TTL ``hops`` (see the module docstring)."""
        self.imds.nft(
            "table inet hoplimit {\n"
            "  chain seen { type filter hook input priority 0; policy accept;\n"
            "    tcp dport 80 @ih,0,32 0x50555420 ct mark set 0x1; }\n"
            "  chain answer { type filter hook output priority 0; policy accept;\n"
            f"    tcp sport 80 ct mark 0x1 ip ttl set {hops}; }}\n"
            "}\n"
        )

    def throttle(self, packets_per_second: int, burst: int = 5) -> None:
        """Drop packets towards IMDS over ``packets_per_second`` (IMDS's per-ENI limit)."""
        self.imds.nft(
            "table inet throttle {\n"
            "  chain in { type filter hook input priority -10; policy accept;\n"
            f'    iifname "imds0" limit rate over {packets_per_second}/second '
            f"burst {burst} packets counter drop; }}\n"
            "}\n"
        )

    def network(self, verdict: str) -> None:
        """What the network does with packets towards IMDS: ``drop`` (silence) or an nft
        ``reject with icmp type …`` (e.g. ``reject with icmp type host-unreachable``)."""
        self.imds.nft(
            "table inet network {\n"
            "  chain in { type filter hook input priority -20; policy accept;\n"
            f'    iifname "imds0" {verdict}; }}\n'
            "}\n"
        )

    def drop_first_syn(self) -> None:
        """Drop the first connection request (SYN) each source sends, and only that one."""
        self.imds.nft(
            "table inet firstsyn {\n"
            "  set seen { type ipv4_addr; flags dynamic; }\n"
            "  chain in { type filter hook input priority -15; policy accept;\n"
            "    tcp flags & (syn | ack) == syn ip saddr != @seen "
            "add @seen { ip saddr } counter drop; }\n"
            "}\n"
        )

    def block_syns(self, source: str, seconds: float) -> None:
        """Drop every connection request (SYN) from ``source`` for the next ``seconds``."""
        self.imds.nft(
            "table inet synblock {\n"
            "  set blocked { type ipv4_addr; flags timeout; }\n"
            "  chain in { type filter hook input priority -15; policy accept;\n"
            "    tcp flags & (syn | ack) == syn ip saddr @blocked counter drop; }\n"
            "}\n"
            f"add element inet synblock blocked {{ {source} timeout {int(seconds * 1000)}ms }}\n"
        )

    def throttle_syns(self, per_second: int) -> None:
        """Let through at most ``per_second`` connection requests (SYNs) a second, drop the
        rest: packet throttling aimed at new connections."""
        self.imds.nft(
            "table inet synlimit {\n"
            "  chain in { type filter hook input priority -15; policy accept;\n"
            "    tcp flags & (syn | ack) == syn "
            f"limit rate over {per_second}/second burst 1 packets counter drop; }}\n"
            "}\n"
        )

    def dropped(self, table: str) -> int:
        """Packets the counter in lab table ``table`` (imds namespace) has dropped."""
        listing = self.imds.run(["nft", "list", "table", "inet", table], check=True).out
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", listing))

    # -- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        """End every process by its PID and remove every namespace."""
        for process in list(self._processes):
            with contextlib.suppress(Exception):
                self.end(process)
        for ns in reversed(self.created):
            pids = _host("ip", "netns", "pids", ns.name, check=False).out.split()
            for pid in pids:  # only ever started by this lab: nothing else runs in it
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _host("ip", "netns", "del", ns.name, check=False)
        self.created.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _remove_stale() -> None:
    """Remove lab namespaces left by a lab run whose process no longer exists."""
    listing = _host("ip", "netns", "list", check=False).out
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _STALE.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _host("ip", "netns", "del", name, check=False)
