"""``serve()``: the simulator in the foreground (``python -m imdsclient serve`` runs it).

It prints one line first (the URL and the mode), so a script can read the URL and a person can see
at a glance how this simulator differs from a default one. It stops on Ctrl-C, or when the given
``threading.Event`` is set, without a traceback either way.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import IO, Any

from imdsclient.testing._server import IMDSSimulator

__all__ = ["describe", "serve"]


def describe(sim: IMDSSimulator) -> str:
    """The simulator's mode in a few words, e.g. ``real IMDS mode (Connection: close); …``."""
    if sim.keep_alive and sim.http_version == "1.1":
        parts = ["keep-alive mode (real IMDS closes every connection)"]
    else:
        parts = ["real IMDS mode (Connection: close)"]
    if sim.http_version == "1.0":
        parts.append("HTTP/1.0 status lines")
    parts.append(f"tokens {sim.http_tokens}")
    if not sim.endpoint_enabled:
        parts.append("endpoint disabled (403)")
    if sim.legacy is not None:
        parts.append(f"IMDSv1 only (token PUT answers {sim.legacy})")
    if sim.hop_limit_drop:
        parts.append("token PUT never answered (hop limit drop)")
    if sim.put_response_hop_limit is not None:
        parts.append(f"PUT answers with hop limit {sim.put_response_hop_limit}")
    if sim.throttle_rps is not None:
        retry = f", Retry-After {sim.throttle_retry_after}" if sim.throttle_retry_after else ""
        parts.append(
            f"throttled above {sim.throttle_rps} requests/s ({sim.throttle_status}{retry})"
        )
    parts.append("tags on" if sim.tags_enabled else "tags off")
    parts.append(f"role {sim.iam_role}" if sim.iam_role else "no role")
    if sim.credentials_expired:
        parts.append("credentials expired")
    return "; ".join(parts)


def serve(
    host: str = "127.0.0.1",
    port: int = 1338,
    *,
    stop: threading.Event | None = None,
    out: IO[str] | None = None,
    log_requests: bool = False,
    **knobs: Any,
) -> None:
    """Run a simulator in the foreground until Ctrl-C (or until ``stop`` is set).

    Prints the URL and the mode first. ``knobs`` are ``IMDSSimulator`` keywords;
    ``log_requests`` sends one line per request to stderr (``request_log=sys.stderr``). The
    request log kept in memory is capped at 10 000 entries, since a long-running server has no
    reader for it. A port that cannot be bound raises ``OSError`` before anything is printed.
    """
    stream = out if out is not None else sys.stdout
    knobs.setdefault("log_limit", 10_000)
    if log_requests:
        knobs.setdefault("request_log", sys.stderr)
    simulator = IMDSSimulator(host=host, port=port, **knobs)
    try:
        simulator.start()
        print(
            f"IMDS simulator listening on {simulator.url} ({describe(simulator)}; Ctrl-C to stop)",
            file=stream,
        )
        stream.flush()
        waiter = stop if stop is not None else threading.Event()
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while closing
            simulator.stop()
