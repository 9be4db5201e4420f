"""``imdsclient wait``: probe IMDS until it answers or the time is up.

The loop is a plain function of a probe and a clock, so tests run it on a ``FakeClock`` with a
probe that fails N times (or a client whose transport comes up after N requests): no real sleep.
"""

from __future__ import annotations

from typing import Callable

from imdsclient._clock import Clock
from imdsclient.errors import (
    IMDSConnectionError,
    IMDSError,
    MetadataNotFoundError,
    ThrottledError,
)

__all__ = ["INTERVAL", "PROBE_PATH", "is_transient", "wait_until_up"]

#: Seconds between two probes (less when the deadline is nearer).
INTERVAL = 0.5
#: What a probe reads: every instance has it, and it is one short GET.
PROBE_PATH = "instance-id"


def is_transient(error: IMDSError) -> bool:
    """Whether waiting can cure ``error``: IMDS not reachable yet, throttling, a 5xx.

    Anything else (403 disabled, 401, 400, ``AWS_EC2_METADATA_DISABLED``) is an answer that will
    not change by waiting, so ``wait`` reports it at once.
    """
    if isinstance(error, (IMDSConnectionError, ThrottledError)):
        return True
    return type(error) is IMDSError and error.status is not None and error.status >= 500


def wait_until_up(
    probe: Callable[[], object],
    *,
    timeout: float,
    clock: Clock,
    interval: float = INTERVAL,
) -> int:
    """Call ``probe`` until it returns (or raises ``MetadataNotFoundError``: IMDS answered).

    Returns the number of probes made. A transient failure (:func:`is_transient`) is retried
    every ``interval`` seconds until ``timeout`` seconds have passed on ``clock``; then the last
    one is raised. Any other failure is raised at once. At most ``timeout / interval + 2``
    probes, whatever the clock does.
    """
    deadline = clock.monotonic() + timeout
    last: IMDSError | None = None
    for probes in range(1, int(timeout / interval) + 3):
        try:
            probe()
        except MetadataNotFoundError:
            return probes
        except IMDSError as exc:
            if not is_transient(exc):
                raise
            last = exc
        else:
            return probes
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            break
        clock.sleep(min(interval, remaining))
    assert last is not None
    raise last
