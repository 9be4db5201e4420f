"""Shared helpers for the benchmark scripts: loopback guard, statistics, tables, machine facts.

Not a benchmark itself. Scripts run as ``python benchmarks/NAME.py`` import it as ``_bench`` (the
script's directory is first on ``sys.path``). ``SimulatorProcess`` runs an ``IMDSSimulator`` in a
child process, so that a benchmark's client threads do not share a GIL with the server's threads.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "SimulatorProcess",
    "Spread",
    "clean_environment",
    "loopback_only",
    "machine",
    "table",
]


def loopback_only(url: str) -> str:
    """Return ``url`` if it points at 127.0.0.1; refuse to run otherwise."""
    if urlsplit(url).hostname != "127.0.0.1":
        raise SystemExit(f"refusing to benchmark anything but 127.0.0.1 (got {url})")
    return url


def clean_environment() -> None:
    """Drop proxy and AWS settings from this process, so no contender goes anywhere else."""
    for name in list(os.environ):
        if name.upper().startswith(("AWS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")):
            del os.environ[name]
    os.environ["NO_PROXY"] = "127.0.0.1"
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


@dataclass(frozen=True)
class Spread:
    """Median and spread of a list of samples."""

    median: float
    low: float
    high: float
    iqr: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        ordered = sorted(samples)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4)
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q3 - q1, len(ordered))

    def show(self, fmt: str = "{:.1f}") -> str:
        """``median (min-max, IQR x)``."""
        med, low, high, iqr = (fmt.format(v) for v in (self.median, self.low, self.high, self.iqr))
        return f"{med} ({low}-{high}, IQR {iqr})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, columns padded so it also reads well in a terminal."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def machine() -> str:
    """CPU count, CPU model, Python version and date: what every result table is stamped with."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for raw in info:
                if raw.startswith("model name"):
                    model = raw.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    today = datetime.date.today().isoformat()
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.python_implementation()} "
        f"{sys.version.split()[0]}, {today}"
    )


def _serve(conn: Connection, knobs: dict[str, Any]) -> None:
    """Child process: run a simulator and answer calls on its methods until told to stop."""
    from imdsclient.testing import IMDSSimulator

    with IMDSSimulator(**knobs) as sim:
        conn.send(sim.url)
        while True:
            name, args, kwargs = conn.recv()
            if name == "stop":
                return
            try:
                attr = getattr(sim, name)
                conn.send((True, attr(*args, **kwargs) if callable(attr) else attr))
            except Exception as exc:  # reported to the parent, which raises
                conn.send((False, repr(exc)))


class SimulatorProcess:
    """An ``IMDSSimulator`` in a child process (spawned), driven over a pipe.

    ``call("count", status=429)`` runs ``sim.count(status=429)`` there; attributes that are not
    callable (``requests``) are returned as they are.
    """

    def __init__(self, **knobs: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, knobs), daemon=True)
        self._process.start()
        if not self._conn.poll(30):
            self._process.kill()
            raise SystemExit("the simulator process did not start")
        self.url = loopback_only(self._conn.recv())

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run a simulator method (or read an attribute) in the child and return the result."""
        self._conn.send((name, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"simulator.{name} failed: {value}")
        return value

    def close(self) -> None:
        """Stop the simulator and wait for the child to exit."""
        if self._process.is_alive():
            self._conn.send(("stop", (), {}))
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._conn.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
