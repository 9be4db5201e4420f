"""``watch()``: what a quiet watch costs, how soon an event is yielded, and hours of watching.

Targets (docs/performance.md, issue #19):

- **cost**: a quiet watch at the default interval (5 s) with a warm token makes 4 GETs per
  poll, 48 per minute, and no PUT. Measured in real time against a simulator on 127.0.0.1 for
  ``--seconds`` (default 60), counting the simulator's log, and exactly on a ``FakeClock``.
- **latency**: from an event appearing in the simulator to the iterator yielding it, at most
  one interval. Measured in real time at a short interval (``--interval``, default 0.5 s: Spot
  notices published and withdrawn by a ``Timeline`` at off-grid moments), and on a
  ``FakeClock`` at the default 5 s for many random moments.
- **hours**: six simulated hours on a ``FakeClock`` at the default interval, with a whole
  lifecycle on a ``Timeline``, a one-hour token (so it is refreshed six times), then again
  under ~10 % random faults: GETs, PUTs, 401s, events missed and repeated.

Everything runs in this process against ``IMDSSimulator`` / ``SimulatorState`` (loopback or
in-memory); nothing is sent anywhere else. Exit status 1 if a target is missed.

Usage: ``python benchmarks/watch.py [--quick] [--seconds S] [--interval S] [--samples N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from _bench import Spread, clean_environment, loopback_only, machine, table

from imdsclient import IMDSClient, InstanceEvent, WatchStatus
from imdsclient._api.lifecycle import TARGET_LIFECYCLE_PATH
from imdsclient.testing import FakeClock, IMDSSimulator, SimulatorState, Timeline

DEFAULT_INTERVAL = 5.0
GETS_PER_MINUTE = 48


class _Enough(Exception):
    """Raised from ``on_poll`` to end a real-time watch."""


def quiet_real(seconds: float) -> dict[str, float]:
    """Real time, TCP simulator: the GETs and PUTs logged in a ``seconds`` window of a quiet
    watch whose token was already warm."""
    with IMDSSimulator() as sim:
        sim.delete(TARGET_LIFECYCLE_PATH)
        with IMDSClient(endpoint=loopback_only(sim.url)) as imds:
            imds.get("instance-id")  # warm the token
            began = time.time()

            def enough(status: WatchStatus) -> None:
                if time.time() - began >= seconds:
                    raise _Enough

            with contextlib.suppress(_Enough):
                for event in imds.watch(on_poll=enough):
                    raise SystemExit(f"a quiet watch yielded {event}")
        window = [r for r in sim.requests if began <= r.time < began + seconds]
    minutes = seconds / 60
    return {
        "minutes": minutes,
        "gets_per_minute": sum(r.method == "GET" for r in window) / minutes,
        "puts": sum(r.method == "PUT" for r in window),
    }


def quiet_fake() -> dict[str, float]:
    """FakeClock: exactly one simulated minute after warm-up."""
    clock = FakeClock()
    sim = SimulatorState(clock=clock)
    sim.delete(TARGET_LIFECYCLE_PATH)
    transport = httpx.MockTransport(sim.handle_httpx)
    with IMDSClient(clock=clock, transport=transport) as imds:
        imds.get("instance-id")
        sim.clear_requests()
        assert list(imds.watch(max_polls=12)) == []
    return {"gets_per_minute": sim.count("GET"), "puts": sim.count("PUT")}


def publish_and_withdraw(interval: float, samples: int, rng: random.Random) -> Timeline:
    """Spot notices at off-grid moments, each withdrawn two intervals later."""
    timeline = Timeline()
    at = interval  # let the first poll happen first
    for _ in range(samples):
        at += rng.uniform(0, interval)
        timeline.spot_interruption(at)
        timeline.at(
            at + 2 * interval, "withdraw", lambda state, due: state.cancel_spot_interruption()
        )
        at += 3 * interval
    return timeline


def latency_real(interval: float, samples: int, seed: int) -> list[float]:
    """Real time, TCP simulator: seconds from each notice's appearance to its yield."""
    rng = random.Random(seed)
    timeline = publish_and_withdraw(interval, samples, rng)
    appears = [step.at for step in timeline.steps if step.what.startswith("spot")]
    with IMDSSimulator() as sim:
        started = time.time()
        sim.play(timeline)  # counts from now
        lags: list[float] = []
        polls = int((appears[-1] + 3 * interval) / interval) + 1
        with IMDSClient(endpoint=loopback_only(sim.url)) as imds:
            for _ in imds.watch(interval=interval, kinds="spot-interruption", max_polls=polls):
                lags.append(time.time() - (started + appears[len(lags)]))
    if len(lags) != samples:
        raise SystemExit(f"latency: {len(lags)} notices yielded, {samples} published")
    return lags


def latency_fake(samples: int, seed: int) -> list[float]:
    """FakeClock at the default interval: seconds from appearance to the poll that yields it."""
    clock = FakeClock()
    timeline = publish_and_withdraw(DEFAULT_INTERVAL, samples, random.Random(seed))
    appears = [step.at for step in timeline.steps if step.what.startswith("spot")]
    sim = SimulatorState(clock=clock, timeline=timeline, log_limit=None)
    start = datetime.fromtimestamp(clock.time(), tz=timezone.utc)
    polls = int((appears[-1] + 3 * DEFAULT_INTERVAL) / DEFAULT_INTERVAL) + 1
    with IMDSClient(clock=clock, transport=httpx.MockTransport(sim.handle_httpx)) as imds:
        events = list(imds.watch(kinds="spot-interruption", max_polls=polls))
    if len(events) != samples:
        raise SystemExit(f"latency (FakeClock): {len(events)} yielded, {samples} published")
    return [(e.seen_at - start).total_seconds() - at for e, at in zip(events, appears)]


#: (seconds after the start, kind, what identifies it) of every event of the six-hour lifecycle.
LIFECYCLE = [
    (0.0, "lifecycle-state", "InService"),
    (3613.0, "rebalance-recommendation", None),
    (7207.0, "scheduled-event", "ev-reboot"),
    (10821.0, "scheduled-event", "ev-stop"),
    (18000.0, "lifecycle-state", "Terminated"),
    (19803.0, "spot-interruption", "terminate"),
]


def lifecycle() -> Timeline:
    return (
        Timeline()
        .autoscaling(terminated_at=18000)
        .rebalance_recommendation(at=3613)
        .maintenance(at=7207, event_id="ev-reboot")
        .maintenance(at=10821, code="instance-stop", event_id="ev-stop")
        .spot_interruption(at=19803)
    )


def identify(event: InstanceEvent) -> tuple[str, Any]:
    detail: Any = event.detail
    if event.kind == "scheduled-event":
        return event.kind, detail.event_id
    if event.kind == "spot-interruption":
        return event.kind, detail.action
    return event.kind, detail if isinstance(detail, str) else None


def hours(hours: float, fault_rate: float) -> dict[str, Any]:
    """FakeClock: ``hours`` of watching at 5 s with a one-hour token, optionally faulty."""
    clock = FakeClock()
    sim = SimulatorState(clock=clock, timeline=lifecycle(), log_limit=None)
    sim.delete(TARGET_LIFECYCLE_PATH)
    if fault_rate:
        sim.fault_rate(fault_rate, ("error", "reset"), seed=19)
    polls = int(hours * 3600 / DEFAULT_INTERVAL)
    transport = httpx.MockTransport(sim.handle_httpx)
    began = time.perf_counter()
    with IMDSClient(clock=clock, token_ttl=3600, transport=transport) as imds:
        events = list(imds.watch(max_polls=polls))
    wall = time.perf_counter() - began
    seen = [identify(e) for e in events]
    expected = [(kind, what) for at, kind, what in LIFECYCLE if at < hours * 3600]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lags = [
        (e.seen_at - (start + timedelta(seconds=at))).total_seconds()
        for e, (at, _, _) in zip(events, LIFECYCLE)
    ]
    return {
        "polls": polls,
        "gets": sim.count("GET"),
        "puts": sim.count("PUT"),
        "401s": sim.count(status=401),
        "faults": sim.count(status=500) + sum(1 for r in sim.requests if r.status is None),
        "events": len(events),
        "missed": len(set(expected) - set(seen)),
        "repeated": len(seen) - len(set(seen)),
        "max_lag": max(lags) if not fault_rate else float("nan"),
        "wall": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for a smoke run")
    parser.add_argument("--seconds", type=float, default=60.0, help="real-time quiet watch")
    parser.add_argument("--interval", type=float, default=0.5, help="real-time latency interval")
    parser.add_argument("--samples", type=int, default=20, help="real-time latency samples")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.samples = 10.0, 5
    clean_environment()
    print(f"Machine: {machine()}\n")
    ok = True

    fake = quiet_fake()
    real = quiet_real(args.seconds)
    rows = [
        ["FakeClock, 1 simulated minute", f"{fake['gets_per_minute']:.0f}", f"{fake['puts']:.0f}"],
        [
            f"real time, a {real['minutes'] * 60:.0f} s window",
            f"{real['gets_per_minute']:.1f}",
            f"{real['puts']:.0f}",
        ],
    ]
    print("### Quiet watch at the default interval (5 s), token warm\n")
    print(table(["run", "GETs per minute", "PUTs"], rows))
    ok &= fake["gets_per_minute"] == GETS_PER_MINUTE and fake["puts"] == 0
    ok &= real["gets_per_minute"] <= GETS_PER_MINUTE and real["puts"] == 0

    lag_real = latency_real(args.interval, args.samples, args.seed)
    lag_fake = latency_fake(200 if not args.quick else 50, args.seed)
    rows = [
        [
            f"real time, interval {args.interval:g} s",
            str(len(lag_real)),
            Spread.of(lag_real).show("{:.3f}"),
            f"{max(lag_real) / args.interval:.2f}",
        ],
        [
            "FakeClock, interval 5 s",
            str(len(lag_fake)),
            Spread.of(lag_fake).show("{:.2f}"),
            f"{max(lag_fake) / DEFAULT_INTERVAL:.2f}",
        ],
    ]
    print("\n### From appearing in the simulator to being yielded (seconds)\n")
    print(table(["run", "events", "latency s, median (min-max, IQR)", "max / interval"], rows))
    ok &= max(lag_fake) <= DEFAULT_INTERVAL
    ok &= max(lag_real) <= args.interval + 0.05  # + one poll's round trips on a loaded VM

    span = 1.0 if args.quick else 6.0
    rows = []
    for rate in (0.0, 0.10):
        got = hours(span, rate)
        rows.append(
            [
                f"{span:g} h, {'no faults' if not rate else f'{rate:.0%} faults'}",
                str(got["polls"]),
                str(got["gets"]),
                str(got["puts"]),
                str(got["401s"]),
                str(got["faults"]),
                str(got["events"]),
                str(got["missed"]),
                str(got["repeated"]),
                "-" if rate else f"{got['max_lag']:.0f}",
                f"{got['wall']:.1f}",
            ]
        )
        ok &= got["missed"] == 0 and got["repeated"] == 0
        if not rate:
            ok &= got["gets"] == 4 * got["polls"] and got["401s"] == 0
            ok &= got["max_lag"] <= DEFAULT_INTERVAL
    print("\n### Hours on a FakeClock at 5 s, one-hour token, the lifecycle timeline\n")
    headers = ["run", "polls", "GETs", "PUTs", "401s", "faults", "events", "missed", "repeated"]
    print(table([*headers, "max lag s", "wall s"], rows))
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
