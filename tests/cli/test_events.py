"""`events`: what is pending now, one line each; `--watch` built on `IMDSClient.watch()`: each
new or changed event once, shell-quoted text or JSON lines, notes on a terminal only."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from imdsclient import IMDSClient
from imdsclient._api.lifecycle import TARGET_LIFECYCLE_PATH
from imdsclient._cli import _commands
from imdsclient._cli import _exit_codes as codes
from imdsclient.testing import FakeClock, IMDSSimulator, SimulatorState, Timeline
from tests.cli.conftest import Cli

WAIT = 30.0  # a guard against a hang, never a measurement


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def quiet(imds_simulator: IMDSSimulator) -> IMDSSimulator:
    """The default simulator without an Auto Scaling group: nothing pending."""
    imds_simulator.delete(TARGET_LIFECYCLE_PATH)
    return imds_simulator


def in_process(clock: FakeClock, timeline: Timeline | None = None) -> tuple[SimulatorState, Any]:
    sim = SimulatorState(clock=clock, timeline=timeline)
    sim.delete(TARGET_LIFECYCLE_PATH)
    client = IMDSClient(clock=clock, transport=httpx.MockTransport(sim.handle_httpx))
    return sim, client


def test_no_events_prints_nothing(cli: Cli, quiet: IMDSSimulator) -> None:
    """A quiet instance: exit 0 and empty output."""
    result = cli("--endpoint", quiet.url, "events")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_each_kind_of_event_as_json_lines(cli: Cli, quiet: IMDSSimulator) -> None:
    """Spot, rebalance, a scheduled event and the lifecycle state: one JSON object each, with
    ``kind`` and ``seen_at`` first, in the order ``watch()`` yields them."""
    quiet.schedule_spot_interruption("stop")
    quiet.recommend_rebalance()
    event_id = quiet.add_scheduled_event("system-reboot")
    quiet.set(TARGET_LIFECYCLE_PATH, "InService")
    result = cli("--endpoint", quiet.url, "events", "--json")
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["kind"] for r in records] == [
        "spot-interruption",
        "rebalance-recommendation",
        "scheduled-event",
        "lifecycle-state",
    ]
    assert all(list(r)[:2] == ["kind", "seen_at"] and r["seen_at"].endswith("Z") for r in records)
    assert records[0]["action"] == "stop"
    assert records[0]["time"].endswith("Z")
    assert records[2]["event_id"] == event_id
    assert records[3]["state"] == "InService"


def test_text_lines_are_shell_quoted(cli: Cli, quiet: IMDSSimulator) -> None:
    """``KIND key=value ...``: every value survives ``shlex.split`` exactly, whatever it holds."""
    nasty = 'Reboot; rm -rf / $(id) `id` it\'s "quoted"\ttab'
    quiet.add_scheduled_event("system-reboot", event_id="ev-1", description=nasty)
    result = cli("--endpoint", quiet.url, "events")
    (line,) = result.out.splitlines()
    kind, *pairs = shlex.split(line)
    fields = dict(pair.split("=", 1) for pair in pairs)
    assert kind == "scheduled-event"
    assert fields["description"] == nasty
    assert fields["event_id"] == "ev-1"
    assert "seen_at" in fields


def test_completed_events_are_not_printed(cli: Cli, quiet: IMDSSimulator) -> None:
    """An ended maintenance event is not pending: no line (as ``watch()`` ignores it)."""
    quiet.add_scheduled_event(state="completed")
    quiet.add_scheduled_event(state="canceled")
    assert cli("--endpoint", quiet.url, "events").out == ""


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--interval", "3"], "--interval"),
        (["--max-polls", "2"], "--max-polls"),
        (["--count", "1"], "--count"),
        (["--interval", "3", "--count", "1"], "--interval, --count"),
    ],
)
def test_watch_only_flags_need_watch(
    cli: Cli, quiet: IMDSSimulator, flags: list[str], named: str
) -> None:
    """Without --watch they are a usage error (exit 2) naming them; nothing is sent."""
    result = cli("--endpoint", quiet.url, "events", *flags)
    assert result.code == codes.USAGE
    assert result.err == f"imdsclient: error: --watch is needed for {named}\n"
    assert result.out == ""
    assert quiet.count() == 0


def test_watch_prints_each_new_or_changed_event_once(clock: FakeClock) -> None:
    """Over 10 simulated minutes: each event of the timeline once, in order, nothing repeated."""
    timeline = (
        Timeline()
        .autoscaling(in_service_at=0, terminated_at=400)
        .maintenance(at=61, event_id="ev-1")
        .spot_interruption(at=530)
    )
    sim, imds = in_process(clock, timeline)
    emitted: list[dict[str, Any]] = []
    with imds:
        count = _commands.watch_events(imds, emitted.append, interval=7.5, max_polls=80)
    assert count == len(emitted) == 4
    what = {
        "lifecycle-state": "state",
        "scheduled-event": "event_id",
        "spot-interruption": "action",
    }
    assert [(r["kind"], r[what[r["kind"]]]) for r in emitted] == [
        ("lifecycle-state", "InService"),
        ("scheduled-event", "ev-1"),
        ("lifecycle-state", "Terminated"),
        ("spot-interruption", "terminate"),
    ]
    assert clock.sleeps == [7.5] * 79
    assert sim.count("GET") == 4 * 80


def test_watch_stops_after_count_events(cli: Cli, quiet: IMDSSimulator) -> None:
    """``--count 1`` exits after the first event (here at the first poll: no wait at all)."""
    quiet.schedule_spot_interruption()
    quiet.recommend_rebalance()
    argv = ["events", "--watch", "--count", "1", "--json", "--max-polls", "2"]  # bounded
    result = cli("--endpoint", quiet.url, *argv)
    assert result.code == 0
    assert [json.loads(line)["kind"] for line in result.out.splitlines()] == ["spot-interruption"]
    assert quiet.count("GET") == 4


def test_watch_with_one_poll_prints_what_is_pending(cli: Cli, quiet: IMDSSimulator) -> None:
    """``--max-polls 1``: the first poll's events, then exit 0; nothing on a non-terminal stderr."""
    quiet.recommend_rebalance()
    result = cli("--endpoint", quiet.url, "events", "--watch", "--max-polls", "1")
    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("rebalance-recommendation seen_at=")
    assert " notice_time=" in result.out


def test_a_terminal_gets_a_start_line(
    cli: Cli, quiet: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr a terminal: one start line naming the endpoint and the interval."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    result = cli(
        "--endpoint", quiet.url, "events", "--watch", "--max-polls", "1", "--interval", "2"
    )
    assert result.code == 0
    assert terminal.getvalue() == (
        f"imdsclient: watching {quiet.url} for events every 2 s (Ctrl-C to stop)\n"
    )


def test_a_heartbeat_every_minute_says_it_is_alive_and_what_it_cannot_read(
    clock: FakeClock,
) -> None:
    """On a terminal, a line per simulated minute: polls, events, last poll, blind sources."""
    sim, imds = in_process(clock)
    sim.inject("error", count=100, path="/latest/meta-data/events/maintenance/scheduled")
    notes = Terminal()
    with imds:
        _commands.watch_events(imds, lambda r: None, interval=5, max_polls=30, notes=notes)
        url = imds.config.base_url
    lines = notes.getvalue().splitlines()
    assert lines[0] == f"imdsclient: watching {url} for events every 5 s (Ctrl-C to stop)"
    assert lines[1:] == [
        "imdsclient: still watching: 13 polls, 0 events, last 2026-01-01T00:01:00Z; "
        "cannot read scheduled-event",
        "imdsclient: still watching: 25 polls, 0 events, last 2026-01-01T00:02:00Z; "
        "cannot read scheduled-event",
    ]


class Interrupting(FakeClock):
    """A FakeClock whose ``n``-th sleep is Ctrl-C."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.sleeps) == self.n:
            raise KeyboardInterrupt


def test_ctrl_c_ends_the_watch_quietly_with_a_note_on_a_terminal() -> None:
    """KeyboardInterrupt while waiting: the events so far count, and the note says so."""
    clock = Interrupting(3)
    sim, imds = in_process(clock, Timeline().rebalance_recommendation(at=6))
    notes = Terminal()
    with imds:
        emitted = _commands.watch_events(imds, lambda r: None, interval=5, notes=notes)
    assert emitted == 1
    assert notes.getvalue().splitlines()[-1] == "imdsclient: stopped after 1 events"
    assert sim.count("GET") == 4 * 3


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_in_a_real_process_exits_0_without_a_traceback(quiet: IMDSSimulator) -> None:
    """SIGINT to ``python -m imdsclient events --watch``: exit 0, output kept, no traceback."""
    quiet.schedule_spot_interruption()
    # --max-polls only bounds it should nothing be printed; SIGINT comes after poll 1
    argv = ["--endpoint", quiet.url, "events", "--watch", "--max-polls", "3"]
    process = subprocess.Popen(
        [sys.executable, "-m", "imdsclient", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed by the first poll; then it waits 5 s
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert first.startswith("spot-interruption seen_at=")
    assert rest == ""
    assert "Traceback" not in err
