"""Drain work before the instance goes away: a Spot interruption or an Auto Scaling scale-in.

``imdsclient.on_interruption()`` watches IMDS from a background thread (two GETs per poll) and,
when the instance is about to go away, sets ``watcher.interrupted`` and calls your function with
an ``Interruption``: why (``reason``) and by when (``deadline``, UTC). Here a worker loop checks
the event between jobs: once it is set the worker takes no new job, finishes the one in hand and
exits with time to spare.

This script only ever talks to a simulator on 127.0.0.1, never to a real IMDS. Point it at one::

    python -m imdsclient serve --spot-interruption-in 10 &
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338 python examples/drain_on_interruption.py

or run it as is: it starts its own simulator, whose Spot notice appears two seconds in.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlsplit

import imdsclient
from imdsclient.testing import IMDSSimulator, Timeline

JOB_SECONDS = 0.1
MAX_JOBS = 600  # give up after about a minute without an interruption


def drain(found: imdsclient.Interruption) -> None:
    """Called once, from the watcher's thread: say what is coming (a real service would stop
    accepting work here, deregister from its load balancer, flush its buffers...)."""
    print(
        f"interruption: {found.reason}, deadline {found.deadline:%Y-%m-%dT%H:%M:%SZ}, "
        f"{found.seconds_left():.0f} s left",
        flush=True,
    )


def work_until_interrupted(imds: imdsclient.IMDSClient) -> int:
    with imdsclient.on_interruption(drain, client=imds, interval=1.0) as watcher:
        done = 0
        while not watcher.interrupted.is_set() and done < MAX_JOBS:
            time.sleep(JOB_SECONDS)  # one job's work
            done += 1
        if watcher.error is not None:
            print(f"error: {watcher.error}", file=sys.stderr)
            return 1
        found = watcher.wait(timeout=5)
    if found is None:
        print(f"no interruption after {done} jobs; giving up", file=sys.stderr)
        return 1
    print(f"drained: {done} jobs done, none cut short; {found.seconds_left():.0f} s to spare")
    return 0


def main() -> int:
    endpoint = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    simulator = None
    if endpoint is None:
        simulator = IMDSSimulator(timeline=Timeline().spot_interruption(at=2)).start()
        endpoint = simulator.url
    elif urlsplit(endpoint).hostname != "127.0.0.1":
        print(f"error: {endpoint} is not a simulator on 127.0.0.1; not using it", file=sys.stderr)
        return 2
    try:
        with imdsclient.IMDSClient(endpoint=endpoint) as imds:
            return work_until_interrupted(imds)
    finally:
        if simulator is not None:
            simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
