"""`imdsclient serve`: a flag per simulator knob, the request log, the mode line, client flags."""

from __future__ import annotations

import inspect
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import imdsclient.testing
from imdsclient._cli import build_parser
from imdsclient._cli._serve_args import FLAGS, PYTHON_ONLY, knobs_from
from imdsclient.testing import IMDSSimulator
from imdsclient.testing._serve import serve as REAL_SERVE
from imdsclient.testing._state import AUTO
from tests.cli.conftest import Cli

PARAMETERS = inspect.signature(IMDSSimulator).parameters


def parse_serve(*flags: str) -> dict[str, Any]:
    """The simulator keywords `serve FLAGS` asks for."""
    return knobs_from(build_parser().parse_args(["serve", *flags]))


def help_text() -> str:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    sub: Any = action.choices["serve"]  # type: ignore[index]
    return str(sub.format_help())


def test_every_knob_has_a_serve_flag() -> None:
    """Each IMDSSimulator keyword (bar the Python-only clock) has a flag, listed in --help."""
    assert set(PARAMETERS) - PYTHON_ONLY == set(FLAGS)
    text = help_text()
    for flag in FLAGS.values():
        assert re.search(rf"(^|\s|\[){re.escape(flag)}\b", text), flag
    assert "--no-role" in text


def test_serve_defaults_are_the_simulator_defaults() -> None:
    """Without flags, serve asks for exactly what IMDSSimulator() does (but a smaller log)."""
    knobs = parse_serve()
    for name, value in knobs.items():
        default = PARAMETERS[name].default
        if name == "log_limit":
            assert value == 10_000
        elif name == "scheduled_events":
            assert list(value) == list(default) == []
        else:
            assert value == default, name


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--keep-alive"], {"keep_alive": True}),
        (["--http-version", "1.0"], {"http_version": "1.0"}),
        (["--max-connections", "8"], {"max_connections": 8}),
        (["--idle-timeout", "2.5"], {"idle_timeout": 2.5}),
        (["--latency", "0.002"], {"latency": 0.002}),
        (["--put-response-hop-limit", "2"], {"put_response_hop_limit": 2}),
        (["--log-limit", "5"], {"log_limit": 5}),
        (["--http-tokens", "required"], {"http_tokens": "required"}),
        (["--disabled"], {"endpoint_enabled": False}),
        (["--legacy", "405"], {"legacy": 405}),
        (["--hop-limit-drop"], {"hop_limit_drop": True}),
        (["--throttle-rps", "100"], {"throttle_rps": 100}),
        (["--throttle-status", "503"], {"throttle_status": 503}),
        (["--retry-after", "2"], {"throttle_retry_after": 2}),
        (["--tags"], {"tags_enabled": True}),
        (["--role", "app"], {"iam_role": "app"}),
        (["--no-role"], {"iam_role": None}),
        (["--no-identity-credentials"], {"identity_credentials": False}),
        (["--credential-lifetime", "3600"], {"credential_lifetime": 3600.0}),
        (["--credential-refresh-margin", "600"], {"credential_refresh_margin": 600.0}),
        (["--credentials-expired"], {"credentials_expired": True}),
        (["--instance-life-cycle", "spot"], {"instance_life_cycle": "spot"}),
        (["--placement-group", "pg"], {"placement_group": "pg"}),
        (["--partition-number", "2"], {"partition_number": 2}),
        (["--host-id", "h-01"], {"host_id": "h-01"}),
        (
            ["--autoscaling-lifecycle-state", "InService"],
            {"autoscaling_lifecycle_state": "InService"},
        ),
        (["--elastic-inference", "eia-1"], {"elastic_inference": "eia-1"}),
        (["--spot-interruption", "stop"], {"spot_interruption": "stop"}),
        (["--rebalance-recommendation"], {"rebalance_recommendation": True}),
        (
            ["--scheduled-event", "system-reboot", "--scheduled-event", "instance-stop:canceled"],
            {
                "scheduled_events": [
                    {"code": "system-reboot", "state": "active"},
                    {"code": "instance-stop", "state": "canceled"},
                ]
            },
        ),
        (["--fault-rate", "0.25"], {"fault_rate": 0.25}),
        (["--fault-kinds", "hang,empty"], {"fault_kinds": ("hang", "empty")}),
        (["--fault-seed", "7"], {"fault_seed": 7}),
    ],
)
def test_each_flag_sets_its_knob(flags: list[str], expected: dict[str, Any]) -> None:
    """A flag changes its own knob and nothing else."""
    knobs = parse_serve(*flags)
    defaults = parse_serve()
    assert {k: v for k, v in knobs.items() if v != defaults[k]} == expected
    IMDSSimulator(**knobs)  # the simulator accepts what the flags produce


@pytest.mark.parametrize(
    "flags",
    [
        ["--partition-number", "8"],
        ["--put-response-hop-limit", "0"],
        ["--fault-rate", "2"],
        ["--fault-kinds", "explode"],
        ["--scheduled-event", "x:later"],
        ["--role", "a", "--no-role"],
        ["--idle-timeout", "0"],
        ["--latency", "-1"],
        ["--latency", "61"],
        ["--latency", "soon"],
    ],
)
def test_bad_flag_values_are_usage_errors(cli: Cli, flags: list[str]) -> None:
    """Out-of-range or unknown values stop serve with exit 2 before it listens."""
    assert cli("serve", *flags).code == 2


def test_a_tree_file_is_served(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--tree FILE replaces the default instance; an unreadable one is a usage error."""
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps({"instance-id": "i-0fromfile"}), encoding="utf-8")
    assert parse_serve("--tree", str(tree))["tree"] == {"instance-id": "i-0fromfile"}
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    result = cli("serve", "--tree", str(tmp_path / "bad.json"))
    assert result.code == 2
    assert "expected a JSON object" in result.err
    assert cli("serve", "--tree", str(tmp_path / "missing.json")).code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--endpoint", "http://127.0.0.1:9", "serve"],
        ["serve", "--endpoint", "http://127.0.0.1:9"],
        ["--attempts", "3", "serve"],
        ["serve", "--timeout", "1"],
        ["serve", "--no-v1-fallback"],
        ["--simulate", "serve"],
    ],
)
def test_client_only_options_are_refused(cli: Cli, argv: list[str]) -> None:
    """--endpoint, --timeout, --attempts, --no-v1-fallback, --simulate: usage error, exit 2."""
    result = cli(*argv)
    assert result.code == 2
    assert "is a client option, not one for serve" in result.err
    assert result.out == ""


def test_serve_help_does_not_offer_client_options() -> None:
    """serve --help lists -v but none of the client-only options."""
    text = help_text()
    for flag in ("--endpoint", "--timeout ", "--attempts", "--no-v1-fallback", "--simulate"):
        assert flag not in text
    assert "-v, --verbose" in text


def run_serve(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, *argv: str, requests: int = 0
) -> tuple[str, str]:
    """Run `serve` in a thread, send it ``requests`` GETs, stop it; (stdout, stderr)."""
    stop = threading.Event()
    urls: list[str] = []

    class Out:
        def write(self, text: str) -> int:
            urls.extend(w for w in text.split() if w.startswith("http://"))
            lines.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    lines: list[str] = []

    def serve(host: str, port: int, **knobs: Any) -> None:
        knobs["out"] = Out()
        REAL_SERVE(host, port, stop=stop, **knobs)

    monkeypatch.setattr(imdsclient.testing, "serve", serve)
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(cli(*argv)))
    thread.start()
    try:
        for _ in range(1000):
            if urls:
                break
            threading.Event().wait(0.005)
        with httpx.Client(base_url=urls[0], trust_env=False, timeout=5) as http:
            for _ in range(requests):
                http.get("/latest/meta-data/instance-id")
    finally:
        stop.set()
        thread.join()
    assert outcome[0].code == 0
    return "".join(lines), outcome[0].err


@pytest.mark.parametrize("flag", ["-v", "--log-requests"])
def test_request_log_goes_to_stderr(cli: Cli, monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    """-v or --log-requests: one line per request on stderr; without them, nothing."""
    _, err = run_serve(cli, monkeypatch, "serve", "--port", "0", flag, requests=2)
    lines = err.splitlines()
    assert len(lines) == 2
    assert all('"GET /latest/meta-data/instance-id" 200 19B no-token' in line for line in lines)
    _, quiet = run_serve(cli, monkeypatch, "serve", "--port", "0", requests=2)
    assert quiet == ""


def test_start_up_line_says_the_mode(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first line names the URL, then the mode and what differs from the defaults."""
    default, _ = run_serve(cli, monkeypatch, "serve", "--port", "0")
    assert re.fullmatch(
        r"IMDS simulator listening on http://127\.0\.0\.1:\d+ \(real IMDS mode \(Connection: "
        r"close\); tokens optional; tags off; role baskinc-role; Ctrl-C to stop\)\n",
        default,
    )
    flags = ("--keep-alive", "--http-tokens", "required", "--hop-limit-drop", "--no-role")
    changed, _ = run_serve(cli, monkeypatch, "serve", "--port", "0", "--tags", *flags)
    for words in ("keep-alive mode", "tokens required", "never answered", "tags on", "no role"):
        assert words in changed


def test_default_serve_knobs_match_a_running_default_simulator() -> None:
    """AUTO stays AUTO: a default serve gets the default role and identity credentials."""
    knobs = parse_serve()
    assert knobs["iam_role"] is AUTO
    with IMDSSimulator(**knobs) as sim:
        assert sim.iam_role == "baskinc-role"
        assert sim.identity_credentials is True
