"""Packet throttling on a real kernel: dropped SYNs on first contact and after it."""

from __future__ import annotations

import json
import sys

from tests.network._lab import Lab, User


def test_a_dropped_first_syn_on_first_contact_is_survived(lab: Lab, user: User) -> None:
    """The first SYN is dropped: Linux resends it after 1 s, inside the connect timeout."""
    with lab.serve():
        lab.drop_first_syn()
        done = lab.instance.cli("get", "instance-id", user=user)
        assert (done.code, done.err) == (0, "")
        assert lab.dropped("firstsyn") == 1


def test_threads_get_through_a_syn_limit(lab: Lab) -> None:
    """One new connection a second: 8 threads sharing a client all get their values, each
    connect timeout after first contact retried with the throttling budget."""
    with lab.serve(keep_alive=True):  # SYNs of reconnections only, as the test was sized
        lab.throttle_syns(1)
        answer = lab.instance.probe("threads", {"threads": 8, "gets": 5})
        assert answer["errors"] == {}
        assert lab.dropped("synlimit") > 0  # the limit did bind


def test_connect_timeouts_after_contact_outlast_num_attempts(lab: Lab) -> None:
    """After contact, SYNs dropped for 3.5 s (far more than 3 attempts' worth) are waited out."""
    spec = json.dumps({"client": {"num_attempts": 3}})
    argv = [sys.executable, str(lab.script("_probe.py")), "pause", spec]
    with lab.serve(keep_alive=True) as imds:  # the reset must hit the kept-alive connection
        probe = lab.spawn(lab.instance, argv)
        try:
            assert json.loads(probe.stdout.readline()) == {"contact": True}  # type: ignore[union-attr]
            imds.call("inject", kind="reset")  # the kept-alive connection dies: a new one is needed
            lab.block_syns(Lab.INSTANCE_IP, 3.5)
            out, _ = probe.communicate("go\n", timeout=60)
        finally:
            lab.end(probe)
        assert json.loads(out)["ok"], out
        assert lab.dropped("synblock") >= 4  # at least three attempts' SYNs and resends
