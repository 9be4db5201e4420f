"""The network lab's figures: the client on a real kernel, under the failures the AWS guide lists.

Builds the lab of ``tests/network/_lab.py`` (network namespaces made here: the simulator on
169.254.169.254:80 in an "imds" namespace, an "instance" on its link, a "container" one
forwarding hop behind), measures, prints Markdown tables and removes every namespace. Needs
root, ``ip``, ``nft`` and ``iptables``; nothing is ever sent from the main namespace.

Figures (docs/performance.md, "Network lab"):

1. **Packet throttling**: nft drops packets towards IMDS over ``--rate`` packets/s while a
   background load (``--load`` threads of keep-alive GETs) keeps the limit binding; one-shot
   ``imdsclient get instance-id`` processes alternate with one-shot botocore fetchers
   (``InstanceMetadataFetcher().retrieve_iam_role_credentials()``, its defaults), 20 each per
   round: failures and exit codes.
2. The same limit without the background load: 32 threads x 50 gets through one client, and 8
   processes x 4 threads x 50 gets: errors.
3. **Off EC2**: the network drops every packet (silence), or there is no route (the "void"
   namespace), or it answers ICMP host-unreachable: seconds to the first call's error, and to
   ``is_available()``.
4. **Hop limit 1, container**: tokens required (the error) and optional (the first value).

Timings are wall seconds of the call inside the namespace (for one-shots, of the process),
medians with (min-max, IQR) over the runs, scenarios interleaved. ``--baseline DIR`` adds an
older imdsclient (``DIR/imdsclient``), alternating with this checkout's in every figure, so that
before and after are measured in the same run. Nothing is asserted: the
exit status is 1 only when the lab cannot be built.

Usage: ``sudo python benchmarks/network_lab.py [--quick] [--rounds N] [--rate PPS] [--load N]
[--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.network._lab

from _bench import Spread, machine, table

from tests.network._lab import Lab, LabUnavailable, Namespace

#: The imdsclient versions measured: name → environment that selects it (``None``: this one).
Versions = dict[str, Optional[dict[str, str]]]


def _one_shots(lab: Lab, rounds: int, rate: int, load: int, versions: Versions) -> list[list[str]]:
    """Figure 1: one-shot processes under packet throttling and a background load."""
    names = [f"{name} get" for name in versions] + ["botocore fetcher"]
    codes: dict[str, Counter[str]] = {name: Counter() for name in names}
    failures: dict[str, list[int]] = {name: [] for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    dropped: list[int] = []
    for _ in range(rounds):
        with lab.serve():
            lab.reset()
            lab.throttle(rate)
            spec = json.dumps({"threads": load, "seconds": 300})
            background = lab.spawn(
                lab.instance, [sys.executable, str(lab.script("_probe.py")), "load", spec]
            )
            time.sleep(1.0)
            failed = dict.fromkeys(names, 0)
            for _ in range(20):  # the contenders alternate, one one-shot each
                for name, env in versions.items():
                    done = lab.instance.cli("get", "instance-id", env=env, timeout=60)
                    codes[f"{name} get"][str(done.code)] += 1
                    failed[f"{name} get"] += done.code != 0
                    times[f"{name} get"].append(done.seconds)
                answer = lab.instance.probe("botocore", {"calls": 1})
                ok = bool(answer["calls"][0]["keys"])
                codes["botocore fetcher"]["credentials" if ok else "{}"] += 1
                failed["botocore fetcher"] += not ok
                times["botocore fetcher"].append(answer["calls"][0]["seconds"])
            lab.end(background)
            dropped.append(lab.dropped("throttle"))
            for name in names:
                failures[name].append(failed[name])
    rows: list[list[str]] = []
    for name in names:
        per_round = " / ".join(str(n) for n in failures[name])
        outcomes = ", ".join(f"{code}: {n}" for code, n in sorted(codes[name].items()))
        rows.append(
            [
                name,
                f"{per_round} of 20",
                outcomes,
                Spread.of(times[name]).show("{:.2f}"),
                " / ".join(str(n) for n in dropped),
            ]
        )
    return rows


def _concurrent(lab: Lab, rounds: int, rate: int, versions: Versions) -> list[list[str]]:
    """Figure 2: threads and processes sharing the throttled link."""
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for name, env in versions.items():  # A B A B: the versions alternate round by round
            with lab.serve():
                lab.reset()
                lab.throttle(rate)
                threads = lab.instance.probe(
                    "threads", {"threads": 32, "gets": 50}, env=env, timeout=600
                )
                results.setdefault((name, "32 threads x 50"), []).append(threads)
                for message in threads["messages"]:
                    print(f"   {name}, 32 threads: {message[:160]}", file=sys.stderr)
                spec = json.dumps({"threads": 4, "gets": 50})
                argv = [sys.executable, str(lab.script("_probe.py")), "threads", spec]
                processes = [lab.spawn(lab.instance, argv, env=env) for _ in range(8)]
                answers = []
                for process in processes:
                    out, _ = process.communicate(timeout=600)
                    answers.append(json.loads(out.strip().splitlines()[-1]))
                    lab.end(process)
                errors: Counter[str] = Counter()
                for answer in answers:
                    errors.update(answer["errors"])
                    for message in answer["messages"]:
                        print(f"   {name}, 8 processes: {message[:160]}", file=sys.stderr)
                seconds = max(answer["seconds"] for answer in answers)
                results.setdefault((name, "8 processes x 4 x 50"), []).append(
                    {"errors": dict(errors), "seconds": seconds}
                )
    rows: list[list[str]] = []
    for (name, load), runs in sorted(results.items(), key=lambda item: item[0][1]):
        errors_per_round = " / ".join(str(sum(r["errors"].values())) for r in runs)
        kinds: Counter[str] = Counter()
        for run in runs:
            kinds.update(run["errors"])
        rows.append(
            [
                load,
                name,
                errors_per_round,
                ", ".join(f"{k} {v}" for k, v in kinds.items()) or "-",
                Spread.of([r["seconds"] for r in runs]).show("{:.1f}"),
            ]
        )
    return rows


def _off_ec2(lab: Lab, runs: int, versions: Versions) -> list[list[str]]:
    """Figure 3: silence, no route, ICMP unreachable."""
    scenarios: dict[str, tuple[Namespace, str | None]] = {
        "silent drop": (lab.instance, "drop"),
        "no route": (lab.void, None),
        "ICMP host unreachable": (lab.instance, "reject with icmp type host-unreachable"),
    }
    samples: dict[tuple[str, str], list[float]] = {}
    outcomes: dict[tuple[str, str], set[str]] = {}
    with lab.serve():
        for _ in range(runs):
            for name, (ns, verdict) in scenarios.items():
                lab.reset()
                if verdict is not None:
                    lab.network(verdict)
                for version, env in versions.items():
                    answer = ns.probe("get", env=env)
                    key = (name, f"{version}: first call")
                    samples.setdefault(key, []).append(answer["seconds"])
                    outcomes.setdefault(key, set()).add(answer.get("error", "value"))
                    answer = ns.probe("available", env=env)
                    key = (name, f"{version}: is_available()")
                    samples.setdefault(key, []).append(answer["seconds"])
                    outcomes.setdefault(key, set()).add(str(answer["value"]))
                    cli = ns.cli("get", "instance-id", env=env)
                    outcomes.setdefault((name, f"{version}: CLI"), set()).add(str(cli.code))
                answer = ns.probe("botocore", {"calls": 1})
                call = answer["calls"][0]
                key = (name, "botocore fetcher")
                samples.setdefault(key, []).append(call["seconds"])
                outcomes.setdefault(key, set()).add("credentials" if call["keys"] else "{}")
    return _timing_rows(samples, outcomes)


def _timing_rows(
    samples: dict[tuple[str, str], list[float]], outcomes: dict[tuple[str, str], set[str]]
) -> list[list[str]]:
    rows = []
    for (name, what), values in samples.items():
        version = what.split(":")[0]
        cli = outcomes.get((name, f"{version}: CLI"))
        rows.append(
            [
                name,
                what,
                Spread.of(values).show("{:.3f}"),
                ", ".join(sorted(outcomes[(name, what)])),
                ", ".join(sorted(cli)) if cli and what.endswith("first call") else "",
            ]
        )
    return rows


def _hop_limit(lab: Lab, runs: int, versions: Versions) -> list[list[str]]:
    """Figure 4: hop limit 1 seen from the container, tokens required and optional."""
    samples: dict[tuple[str, str], list[float]] = {}
    outcomes: dict[tuple[str, str], set[str]] = {}
    for _ in range(runs):
        for tokens in ("required", "optional"):
            with lab.serve(http_tokens=tokens):
                lab.reset()
                lab.hop_limit(1)
                setting = f"tokens {tokens}"
                for version, env in versions.items():
                    answer = lab.container.probe("get", env=env)
                    key = (setting, f"{version}: first call")
                    samples.setdefault(key, []).append(answer["seconds"])
                    outcomes.setdefault(key, set()).add(answer.get("error", "value"))
                    cli = lab.container.cli("get", "instance-id", env=env)
                    outcomes.setdefault((setting, f"{version}: CLI"), set()).add(str(cli.code))
                answer = lab.container.probe("botocore", {"calls": 1})
                call = answer["calls"][0]
                key = (setting, "botocore fetcher")
                samples.setdefault(key, []).append(call["seconds"])
                outcomes.setdefault(key, set()).add("credentials" if call["keys"] else "{}")
    return _timing_rows(samples, outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of each (about 1 min)")
    parser.add_argument("--rounds", type=int, help="rounds of each figure (default 3)")
    parser.add_argument("--rate", type=int, default=300, help="packets/s towards IMDS (300)")
    parser.add_argument("--load", type=int, default=16, help="background load threads (16)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run the imdsclient package in DIR/imdsclient (e.g. `git archive main "
        "imdsclient | tar -x -C DIR`), alternating with this checkout's",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    # A SIGTERM (`timeout`, a CI cancel) unwinds like Ctrl-C, so that `with lab:` still ends
    # every process and removes every namespace it made.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        lab = Lab()
    except LabUnavailable as exc:
        print(f"the network lab cannot run here: {exc}", file=sys.stderr)
        return 1
    with lab:
        versions: Versions = {"imdsclient": None}
        if args.baseline is not None:
            versions["baseline"] = lab.add_source("baseline", args.baseline)
        print(f"network lab ({lab.prefix}); {machine()}\n")
        print(
            f"1. packet throttling at {args.rate} packets/s towards IMDS, background load of "
            f"{args.load} keep-alive GET loops; {rounds} round(s) of 20 one-shots each"
        )
        headers = ["one-shot", "failures per round", "outcomes", "seconds", "packets dropped"]
        print(table(headers, _one_shots(lab, rounds, args.rate, args.load, versions)))
        print(f"\n2. the same limit, no background load; {rounds} round(s)")
        headers = ["load", "version", "errors per round", "kinds", "seconds"]
        print(table(headers, _concurrent(lab, rounds, args.rate, versions)))
        runs = max(rounds, 3)
        print(f"\n3. off EC2 (default settings); {runs} run(s), scenarios interleaved")
        headers = ["network", "what", "seconds", "outcome", "CLI exit code"]
        print(table(headers, _off_ec2(lab, runs, versions)))
        print(f"\n4. hop limit 1, from the container; {runs} run(s)")
        headers = ["instance setting", "what", "seconds", "outcome", "CLI exit code"]
        print(table(headers, _hop_limit(lab, runs, versions)))
        lab.check_safety()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
