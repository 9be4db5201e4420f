"""Off EC2 with default settings: how fast the first call fails and ``is_available()`` answers.

Target (docs/performance.md): the first call fails in <= 2 s, and ``is_available()`` answers in
<= 1.2 s. Both are timed on a fresh ``IMDSClient`` (default timeout 1 s, 3 attempts) against two
endpoints, both on 127.0.0.1, never the real 169.254.169.254:

- ``refused``: a port nothing listens on (bound, then closed): the kernel answers RST at once,
  like a host with a REJECT firewall rule.
- ``blackhole``: a port whose SYNs are never answered, like an address that drops packets
  (off EC2, 169.254.169.254 usually just times out). The trick: a listening socket with
  ``listen(0)`` that never calls ``accept()``. Linux queues one completed connection; we make it
  with a non-blocking connect, then start a second that stays half-open. With the accept queue
  full, the kernel silently drops every further SYN, so any connect to that port hangs until the
  client's connect timeout. The script checks that the trick works before timing.

Runs alternate between the endpoints; medians and spread are reported.

Usage: ``python benchmarks/off_ec2.py [--quick] [--runs N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import time
from collections.abc import Callable, Iterator

from _bench import Spread, clean_environment, machine, table

from imdsclient import IMDSClient, IMDSError

FIRST_CALL_TARGET = 2.0
AVAILABLE_TARGET = 1.2


@contextlib.contextmanager
def refused_port() -> Iterator[str]:
    """A loopback URL whose port refuses connections."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def blackholed_port() -> Iterator[str]:
    """A loopback URL whose port never answers a SYN (a full accept queue; see the docstring)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):  # normally two: one queued, one left half-open
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
            _, writable, _ = select.select([], [filler], [], 0.2)
            if not writable:
                break
        else:
            raise SystemExit("could not fill the accept queue; the blackhole trick failed")
        check = socket.socket()
        check.settimeout(0.3)
        try:
            check.connect(address)
            raise SystemExit("a connect succeeded; the blackhole trick failed")
        except TimeoutError:
            pass
        finally:
            check.close()
        yield f"http://127.0.0.1:{address[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def first_call(url: str) -> tuple[float, str]:
    """Seconds until a fresh client's first ``get`` raises, and the error class."""
    with IMDSClient(endpoint=url) as client:
        started = time.perf_counter()
        try:
            client.get("instance-id")
        except IMDSError as exc:
            return time.perf_counter() - started, type(exc).__name__
    raise SystemExit(f"{url} answered; it should not have")


def availability(url: str) -> tuple[float, str]:
    """Seconds for a fresh client's ``is_available()``, and its answer."""
    with IMDSClient(endpoint=url) as client:
        started = time.perf_counter()
        answer = client.is_available()
        return time.perf_counter() - started, str(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--runs", type=int, help="runs of each measurement (default 5)")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 5)
    clean_environment()

    endpoints: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
        "refused": refused_port,
        "blackhole": blackholed_port,
    }
    probes = {"first call fails": first_call, "is_available()": availability}
    times: dict[tuple[str, str], list[float]] = {}
    outcomes: dict[tuple[str, str], set[str]] = {}
    for _ in range(runs):
        for endpoint, make in endpoints.items():
            for probe, measure in probes.items():
                with make() as url:
                    elapsed, outcome = measure(url)
                times.setdefault((endpoint, probe), []).append(elapsed)
                outcomes.setdefault((endpoint, probe), set()).add(outcome)

    rows = []
    ok = True
    for (endpoint, probe), samples in times.items():
        spread = Spread.of(samples)
        target = FIRST_CALL_TARGET if probe.startswith("first") else AVAILABLE_TARGET
        met = spread.high <= target
        ok = ok and met
        rows.append(
            [
                endpoint,
                probe,
                spread.show("{:.3f}"),
                f"<= {target}",
                "met" if met else "MISSED",
                ", ".join(sorted(outcomes[(endpoint, probe)])),
            ]
        )
    print(f"off EC2, default settings (timeout 1 s, 3 attempts): {runs} run(s); {machine()}")
    headers = ["endpoint", "what", "seconds median (min-max, IQR)", "target", "", "outcome"]
    print(table(headers, rows))
    print("A target counts as met only if the slowest run is within it.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
