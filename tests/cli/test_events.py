"""`events`: one line per event, and `--watch` printing each new event once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

from imdsclient import IMDSClient
from imdsclient._cli import _commands
from imdsclient.errors import IMDSConnectionError
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli


def test_no_events_prints_nothing(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """A quiet instance: exit 0 and empty output."""
    result = cli("--endpoint", imds_simulator.url, "events")
    assert (result.code, result.out) == (0, "")


def test_each_kind_of_event_as_json_lines(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """Spot notice, rebalance recommendation and a scheduled event: one JSON object each."""
    imds_simulator.schedule_spot_interruption("stop")
    imds_simulator.recommend_rebalance()
    event_id = imds_simulator.add_scheduled_event("system-reboot")
    result = cli("--endpoint", imds_simulator.url, "events", "--json")
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["type"] for r in records] == [
        "spot-instance-action",
        "rebalance-recommendation",
        "scheduled-event",
    ]
    assert records[0]["action"] == "stop"
    assert records[0]["time"].endswith("Z")
    assert records[2]["event_id"] == event_id
    assert records[2]["code"] == "system-reboot"


def test_text_events_start_with_their_type(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """Without --json: `TYPE key=value ...` lines."""
    imds_simulator.schedule_spot_interruption("terminate")
    result = cli("--endpoint", imds_simulator.url, "events")
    assert result.out.startswith("spot-instance-action action=terminate time=")


def test_watch_prints_each_new_event_once(imds_simulator: IMDSSimulator) -> None:
    """Events appearing between polls are printed once each; a changed event counts as new."""
    emitted: list[dict[str, Any]] = []
    naps: list[float] = []

    def reschedule() -> None:  # a completed event would move to events/maintenance/history
        imds_simulator.clear_scheduled_events()
        imds_simulator.add_scheduled_event(
            "instance-stop", event_id="ev-1", not_before=datetime(2030, 1, 1, tzinfo=timezone.utc)
        )

    steps: list[Callable[[], object]] = [
        lambda: imds_simulator.schedule_spot_interruption("terminate"),
        lambda: None,
        lambda: imds_simulator.add_scheduled_event(
            "instance-stop", event_id="ev-1", state="active"
        ),
        reschedule,
    ]

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        steps[len(naps) - 1]()

    with IMDSClient(endpoint=imds_simulator.url) as imds:
        polls = _commands.watch_events(
            lambda: _commands.event_records(imds),
            emitted.append,
            interval=7.5,
            sleep=sleep,
            max_polls=5,
        )
    assert polls == 5
    assert naps == [7.5] * 4
    assert [(e["type"], e.get("state")) for e in emitted] == [
        ("spot-instance-action", None),
        ("scheduled-event", "active"),
        ("scheduled-event", "active"),
    ]
    assert emitted[1]["not_before"] != emitted[2]["not_before"]


def test_watch_keeps_going_after_a_failed_poll() -> None:
    """A failure after the first poll is reported through warn, and polling continues."""
    answers: list[Any] = [
        [{"type": "a"}],
        IMDSConnectionError("gone"),
        [{"type": "a"}, {"type": "b"}],
    ]
    warnings: list[str] = []
    emitted: list[dict[str, Any]] = []

    def poll() -> list[dict[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    _commands.watch_events(
        poll, emitted.append, interval=1, sleep=lambda s: None, max_polls=3, warn=warnings.append
    )
    assert emitted == [{"type": "a"}, {"type": "b"}]
    assert len(warnings) == 1
    assert "gone" in warnings[0]


def test_watch_fails_fast_on_the_first_poll() -> None:
    """A failure on the very first poll propagates (a misconfiguration should not loop)."""

    def poll() -> list[dict[str, Any]]:
        raise IMDSConnectionError("nothing there")

    with pytest.raises(IMDSConnectionError):
        _commands.watch_events(poll, lambda r: None, interval=1, sleep=lambda s: None)


def test_watch_through_main_stops_after_max_polls(
    cli: Cli, imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`events --watch --json --max-polls 3`: the same notice printed once, exit 0."""
    naps: list[float] = []
    monkeypatch.setattr(_commands, "_sleep", naps.append)
    imds_simulator.recommend_rebalance()
    result = cli(
        "--endpoint", imds_simulator.url, "events", "--watch", "--json", "--max-polls", "3"
    )
    assert result.code == 0
    assert [json.loads(line)["type"] for line in result.out.splitlines()] == [
        "rebalance-recommendation"
    ]
    assert naps == [5.0, 5.0]


def test_ctrl_c_ends_watch_cleanly_with_0(
    cli: Cli, imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while watching is the normal way out: exit 0, no traceback, output kept."""

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_commands, "_sleep", interrupt)
    imds_simulator.schedule_spot_interruption()
    result = cli("--endpoint", imds_simulator.url, "events", "--watch", "--interval", "0.5")
    assert result.code == 0
    assert result.out.startswith("spot-instance-action ")
    assert "Traceback" not in result.err
