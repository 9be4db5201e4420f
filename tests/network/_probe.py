"""Lab only: run one client scenario inside a lab namespace and print one JSON line.

Started by the lab tests as ``ip netns exec <ns> [setpriv …] python _probe.py MODE [JSON]``,
always with the default endpoint (169.254.169.254 inside the lab). Modes:

* ``get``: ``IMDSClient(**client).get(path)``;
* ``available``: ``IMDSClient(**client).is_available()``;
* ``boto``: imdsclient's botocore drop-in fetcher, ``retrieve_iam_role_credentials()`` ``calls``
  times, with the WARNING records it logged;
* ``botocore``: botocore's own ``InstanceMetadataFetcher`` the same way (for comparison);
* ``threads``: ``threads`` threads x ``gets`` gets through one shared ``IMDSClient``;
* ``load``: background traffic, ``threads`` raw keep-alive GET loops for ``seconds``;
* ``pause``: a get, a line out, a line in, another get (the network changes in between);
* ``longlived``: one client on a ``FakeClock``, a get at each offset of ``at`` (seconds), to see
  when a long-lived client probes the token endpoint again.

Timings are wall seconds of the calls themselves (the client is built first, as
``benchmarks/off_ec2.py`` does); the tests assert outcomes, never these times.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from typing import Any

from imdsclient import IMDSClient, IMDSError


def _error(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": type(exc).__name__, "message": str(exc)}


def _get(spec: dict[str, Any]) -> dict[str, Any]:
    with IMDSClient(**spec.get("client", {})) as imds:
        started = time.perf_counter()  # the call, as benchmarks/off_ec2.py times it
        try:
            out: dict[str, Any] = {"ok": True, "value": imds.get(spec.get("path", "instance-id"))}
        except IMDSError as exc:
            out = _error(exc)
        out["seconds"] = time.perf_counter() - started
    return out


def _available(spec: dict[str, Any]) -> dict[str, Any]:
    with IMDSClient(**spec.get("client", {})) as imds:
        started = time.perf_counter()
        value = imds.is_available()
        return {"ok": True, "value": value, "seconds": time.perf_counter() - started}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.levelname}: {record.getMessage()}")


def _fetch_credentials(fetcher: Any, calls: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for _ in range(calls):
        started = time.perf_counter()
        creds = fetcher.retrieve_iam_role_credentials()
        seconds = time.perf_counter() - started
        results.append({"keys": sorted(creds), "role": creds.get("role_name"), "seconds": seconds})
    return {"ok": all(r["keys"] for r in results), "calls": results}


def _boto(spec: dict[str, Any]) -> dict[str, Any]:
    from imdsclient.boto import InstanceMetadataFetcher

    records = _Records()
    logging.getLogger().addHandler(records)
    out = _fetch_credentials(InstanceMetadataFetcher(timeout=1, num_attempts=1), spec["calls"])
    out["warnings"] = records.messages
    return out


def _botocore(spec: dict[str, Any]) -> dict[str, Any]:
    from botocore.utils import InstanceMetadataFetcher

    records = _Records()
    logging.getLogger().addHandler(records)
    out = _fetch_credentials(InstanceMetadataFetcher(timeout=1, num_attempts=1), spec["calls"])
    out["warnings"] = records.messages
    return out


def _threads(spec: dict[str, Any]) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    messages: list[str] = []
    lock = threading.Lock()
    gets = int(spec["gets"])

    def work(imds: IMDSClient) -> None:
        for _ in range(gets):
            try:
                imds.get(spec.get("path", "instance-id"))
            except IMDSError as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                    if len(messages) < 5:
                        messages.append(str(exc))

    started = time.perf_counter()
    with IMDSClient(**spec.get("client", {})) as imds:
        workers = [threading.Thread(target=work, args=(imds,)) for _ in range(spec["threads"])]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=600)
    return {
        "ok": not errors,
        "calls": spec["threads"] * gets,
        "errors": dict(errors),
        "messages": messages,
        "seconds": time.perf_counter() - started,
    }


def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """Background traffic: ``threads`` IMDSv1 GET loops for ``seconds`` seconds, on one
    keep-alive connection each, or a new connection per request with ``fresh``."""
    import http.client

    deadline = time.monotonic() + float(spec["seconds"])
    done: Counter[str] = Counter()
    lock = threading.Lock()

    def loop() -> None:
        connection = http.client.HTTPConnection("169.254.169.254", 80, timeout=0.5)
        while time.monotonic() < deadline:
            try:
                connection.request("GET", "/latest/meta-data/instance-id")
                connection.getresponse().read()
                outcome = "ok"
            except OSError:
                connection.close()
                outcome = "failed"
            if spec.get("fresh"):
                connection.close()
            with lock:
                done[outcome] += 1
        connection.close()

    workers = [threading.Thread(target=loop) for _ in range(int(spec["threads"]))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=float(spec["seconds"]) + 10)
    return {"ok": True, **done}


def _pause(spec: dict[str, Any]) -> dict[str, Any]:
    """A get, then a line on stdout, then (after a line on stdin) another get on the same
    client: the test changes the network in between, after the endpoint has answered."""
    with IMDSClient(**spec.get("client", {})) as imds:
        imds.get("instance-id")
        print(json.dumps({"contact": True}), flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        try:
            out: dict[str, Any] = {"ok": True, "value": imds.get("instance-id")}
        except IMDSError as exc:
            out = _error(exc)
    out["seconds"] = time.perf_counter() - started
    return out


def _longlived(spec: dict[str, Any]) -> dict[str, Any]:
    from imdsclient.testing import FakeClock

    clock = FakeClock()
    start = clock.monotonic()
    calls: list[dict[str, Any]] = []
    with IMDSClient(clock=clock, **spec.get("client", {})) as imds:
        for offset in spec["at"]:
            clock.advance(start + offset - clock.monotonic())
            started = time.perf_counter()
            try:
                imds.get("instance-id")
                call: dict[str, Any] = {"ok": True}
            except IMDSError as exc:
                call = _error(exc)
            call.update(at=offset, seconds=time.perf_counter() - started)
            calls.append(call)
    return {"ok": all(c["ok"] for c in calls), "calls": calls}


MODES = {
    "get": _get,
    "available": _available,
    "boto": _boto,
    "botocore": _botocore,
    "threads": _threads,
    "load": _load,
    "pause": _pause,
    "longlived": _longlived,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[2]) if len(argv) > 2 else {}
    print(json.dumps(MODES[argv[1]](spec)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
