"""`serve --spot-interruption-in S --rebalance-in S --maintenance-in S --asg-terminate-in S`:
the simulator plays each step of the lifecycle S seconds after it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from imdsclient._cli import _exit_codes as codes
from tests.cli.conftest import Cli

MD = "/latest/meta-data/"


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child is POSIX-only here")
def test_serve_flags_start_each_step() -> None:
    """All four at 0 s: the first request sees the notice (2 min ahead), the recommendation,
    the scheduled event and ``Terminated``."""
    flags = ["--spot-interruption-in", "0", "--rebalance-in", "0", "--maintenance-in", "0"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imdsclient",
            "serve",
            "--port",
            "0",
            *flags,
            "--asg-terminate-in",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
        with httpx.Client(base_url=url, trust_env=False) as http:
            spot = http.get(MD + "spot/instance-action").json()
            assert spot["action"] == "terminate"
            assert http.get(MD + "events/recommendations/rebalance").status_code == 200
            (event,) = http.get(MD + "events/maintenance/scheduled").json()
            assert event["Code"] == "system-reboot"
            assert http.get(MD + "autoscaling/target-lifecycle-state").text == "Terminated"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_a_negative_time_is_a_usage_error(cli: Cli) -> None:
    """``--rebalance-in -5``: exit 2 and a message; nothing is started."""
    result = cli("serve", "--port", "0", "--rebalance-in", "-5")
    assert result.code == codes.USAGE
    assert "a step's time must be a number of seconds >= 0, not -5.0" in result.err
    assert result.out == ""
