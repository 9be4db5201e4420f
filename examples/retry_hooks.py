"""Count retries with an ``on_retry`` hook, for metrics or logs of your own.

A hook is any callable taking an ``imdsclient.RetryEvent``; it is called before each backoff
sleep with the request's method and path, the attempt that failed, the wait about to be taken,
the cause (``"HTTP 429"``, ``"connection dropped"``…) and whether it was throttling. Passing
``on_retry`` replaces the default hook, which logs each retry to the ``imdsclient`` logger.

A healthy IMDS needs no retries, so on EC2 this usually prints ``0 retries``.

Run it on EC2, or anywhere against ``python -m imdsclient serve`` with
``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338``.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter

import imdsclient


class RetryCounter:
    """An ``on_retry`` hook: counts retries by cause; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_cause: Counter[str] = Counter()
        self.throttled = 0
        self.waited = 0.0

    def __call__(self, event: imdsclient.RetryEvent) -> None:
        with self._lock:
            self.by_cause[event.cause] += 1
            self.throttled += event.throttled
            self.waited += event.wait

    @property
    def total(self) -> int:
        return sum(self.by_cause.values())


def main() -> int:
    counter = RetryCounter()
    status = 0
    try:
        with imdsclient.IMDSClient(on_retry=counter) as imds:
            for path in ("instance-id", "instance-type", "placement/region", "local-ipv4"):
                print(f"{path}: {imds.get(path)}")
    except imdsclient.IMDSError as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    causes = ", ".join(f"{cause}: {n}" for cause, n in sorted(counter.by_cause.items()))
    print(
        f"retries: {counter.total} ({causes or 'none'}); throttled: {counter.throttled}; "
        f"waited: {counter.waited:.3f} s"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
