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

Timings are wall seconds of the call inside the namespace (not process start-up), medians with
(min-max, IQR) over the runs, runs of different scenarios interleaved. Nothing is asserted: the
exit status is 1 only when the lab cannot be built.

Usage: ``sudo python benchmarks/network_lab.py [--quick] [--rounds N] [--rate PPS] [--load N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.network._lab

from _bench import Spread, machine, table

from tests.network._lab import Lab, LabUnavailable, Namespace


def _one_shots(lab: Lab, rounds: int, rate: int, load: int) -> list[list[str]]:
    """Figure 1: one-shot processes under packet throttling and a background load."""
    rows: list[list[str]] = []
    codes: dict[str, Counter[str]] = {"imdsclient get": Counter(), "botocore fetcher": Counter()}
    failures: dict[str, list[int]] = {name: [] for name in codes}
    times: dict[str, list[float]] = {name: [] for name in codes}
    dropped: list[int] = []
    for _ in range(rounds):
        with lab.serve():
            lab.reset()
            lab.throttle(rate)
            spec = json.dumps({"threads": load, "seconds": 120})
            background = lab.spawn(
                lab.instance, [sys.executable, str(lab.script("_probe.py")), "load", spec]
            )
            time.sleep(1.0)
            failed = dict.fromkeys(codes, 0)
            for _ in range(20):
                done = lab.instance.cli("get", "instance-id", timeout=60)
                codes["imdsclient get"][str(done.code)] += 1
                failed["imdsclient get"] += done.code != 0
                times["imdsclient get"].append(done.seconds)
                answer = lab.instance.probe("botocore", {"calls": 1})
                ok = bool(answer["calls"][0]["keys"])
                codes["botocore fetcher"]["credentials" if ok else "{}"] += 1
                failed["botocore fetcher"] += not ok
                times["botocore fetcher"].append(answer["calls"][0]["seconds"])
            lab.end(background)
            dropped.append(_dropped(lab.imds))
            for name in codes:
                failures[name].append(failed[name])
    for name in codes:
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


def _dropped(ns: Namespace) -> int:
    listing = ns.run(["nft", "list", "table", "inet", "throttle"]).out
    words = listing.split()
    return int(words[words.index("packets") + 1]) if "packets" in words else -1


def _concurrent(lab: Lab, rounds: int, rate: int) -> list[list[str]]:
    """Figure 2: threads and processes sharing the throttled link."""
    rows: list[list[str]] = []
    results: dict[str, list[dict[str, Any]]] = {"32 threads x 50": [], "8 processes x 4 x 50": []}
    for _ in range(rounds):
        with lab.serve():
            lab.reset()
            lab.throttle(rate)
            results["32 threads x 50"].append(
                lab.instance.probe("threads", {"threads": 32, "gets": 50}, timeout=600)
            )
            spec = json.dumps({"threads": 4, "gets": 50})
            argv = [sys.executable, str(lab.script("_probe.py")), "threads", spec]
            processes = [lab.spawn(lab.instance, argv) for _ in range(8)]
            answers = []
            for process in processes:
                out, _ = process.communicate(timeout=600)
                answers.append(json.loads(out.strip().splitlines()[-1]))
                lab.end(process)
            errors: Counter[str] = Counter()
            for answer in answers:
                errors.update(answer["errors"])
            seconds = max(answer["seconds"] for answer in answers)
            results["8 processes x 4 x 50"].append({"errors": dict(errors), "seconds": seconds})
    for name, runs in results.items():
        errors_per_round = " / ".join(str(sum(r["errors"].values())) for r in runs)
        kinds: Counter[str] = Counter()
        for run in runs:
            kinds.update(run["errors"])
        rows.append(
            [
                name,
                errors_per_round,
                ", ".join(f"{k} {v}" for k, v in kinds.items()) or "-",
                Spread.of([r["seconds"] for r in runs]).show("{:.1f}"),
            ]
        )
    return rows


def _off_ec2(lab: Lab, runs: int) -> list[list[str]]:
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
                for what in ("imdsclient first call", "is_available()", "botocore fetcher"):
                    if what.startswith("imdsclient"):
                        answer = ns.probe("get")
                        seconds, outcome = answer["seconds"], answer.get("error", "value")
                    elif what.startswith("is_"):
                        answer = ns.probe("available")
                        seconds, outcome = answer["seconds"], str(answer["value"])
                    else:
                        answer = ns.probe("botocore", {"calls": 1})
                        call = answer["calls"][0]
                        seconds, outcome = call["seconds"], "credentials" if call["keys"] else "{}"
                    samples.setdefault((name, what), []).append(seconds)
                    outcomes.setdefault((name, what), set()).add(outcome)
                cli = ns.cli("get", "instance-id")
                outcomes.setdefault((name, "CLI exit code"), set()).add(str(cli.code))
    rows = []
    for (name, what), values in samples.items():
        exit_codes = ", ".join(sorted(outcomes[(name, "CLI exit code")]))
        rows.append(
            [
                name,
                what,
                Spread.of(values).show("{:.3f}"),
                ", ".join(sorted(outcomes[(name, what)])),
                exit_codes if what.startswith("imdsclient") else "",
            ]
        )
    return rows


def _hop_limit(lab: Lab, runs: int) -> list[list[str]]:
    """Figure 4: hop limit 1 seen from the container, tokens required and optional."""
    samples: dict[tuple[str, str], list[float]] = {}
    outcomes: dict[tuple[str, str], set[str]] = {}
    for _ in range(runs):
        for tokens in ("required", "optional"):
            with lab.serve(http_tokens=tokens):
                lab.reset()
                lab.hop_limit(1)
                answer = lab.container.probe("get")
                key = (tokens, "imdsclient first call")
                samples.setdefault(key, []).append(answer["seconds"])
                outcomes.setdefault(key, set()).add(answer.get("error", "value"))
                cli = lab.container.cli("get", "instance-id")
                outcomes.setdefault((tokens, "CLI"), set()).add(str(cli.code))
                answer = lab.container.probe("botocore", {"calls": 1})
                call = answer["calls"][0]
                key = (tokens, "botocore fetcher")
                samples.setdefault(key, []).append(call["seconds"])
                outcomes.setdefault(key, set()).add("credentials" if call["keys"] else "{}")
    rows = []
    for (tokens, what), values in samples.items():
        exit_codes = ", ".join(sorted(outcomes[(tokens, "CLI")]))
        rows.append(
            [
                f"tokens {tokens}",
                what,
                Spread.of(values).show("{:.3f}"),
                ", ".join(sorted(outcomes[(tokens, what)])),
                exit_codes if what.startswith("imdsclient") else "",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of each (about 1 min)")
    parser.add_argument("--rounds", type=int, help="rounds of each figure (default 3)")
    parser.add_argument("--rate", type=int, default=300, help="packets/s towards IMDS (300)")
    parser.add_argument("--load", type=int, default=16, help="background load threads (16)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    try:
        lab = Lab()
    except LabUnavailable as exc:
        print(f"the network lab cannot run here: {exc}", file=sys.stderr)
        return 1
    with lab:
        print(f"network lab ({lab.prefix}); {machine()}\n")
        print(
            f"1. packet throttling at {args.rate} packets/s towards IMDS, background load of "
            f"{args.load} keep-alive GET loops; {rounds} round(s) of 20 one-shots each"
        )
        headers = ["one-shot", "failures per round", "outcomes", "seconds", "packets dropped"]
        print(table(headers, _one_shots(lab, rounds, args.rate, args.load)))
        print(f"\n2. the same limit, no background load; {rounds} round(s)")
        headers = ["load", "errors per round", "kinds", "seconds"]
        print(table(headers, _concurrent(lab, rounds, args.rate)))
        runs = max(rounds, 3)
        print(f"\n3. off EC2 (default settings); {runs} run(s), scenarios interleaved")
        headers = ["network", "what", "seconds", "outcome", "CLI exit code"]
        print(table(headers, _off_ec2(lab, runs)))
        print(f"\n4. hop limit 1, from the container; {runs} run(s)")
        print(table(headers, _hop_limit(lab, runs)))
        lab.check_safety()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
