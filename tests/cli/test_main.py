"""``main``: parsing, usage errors, one-line error messages and one exit code per error class."""

from __future__ import annotations

import argparse
import errno
import io
import re
import sys
from typing import Any

import pytest

from imdsclient import _cli
from imdsclient._cli import _exit_codes as codes
from imdsclient._cli import build_parser, main
from imdsclient._retry import instant_retries
from imdsclient.errors import HINTS, IMDSConnectionError
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("no subcommands")


def _command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_main_defines_only_the_chosen_command() -> None:
    """``build_parser(lazy=True)`` (what ``main`` uses) defines a command's options when it is
    parsed: after ``get``, every other command has only its ``-h``."""
    parser = build_parser(lazy=True)
    args = parser.parse_args(["--endpoint", "http://127.0.0.1:9", "get", "--json", "ami-id"])
    assert (args.command, args.json, args.paths, args.endpoint) == (
        "get",
        True,
        ["ami-id"],
        "http://127.0.0.1:9",
    )
    counts = {name: len(sub._actions) for name, sub in _command_parsers(parser).items()}
    assert counts.pop("get") > 5
    assert set(counts.values()) == {1}
    full = {name: len(sub._actions) for name, sub in _command_parsers(build_parser()).items()}
    assert min(full.values()) > 5


@pytest.mark.parametrize("name", ["", *sorted(_cli.COMMANDS)])
def test_help_is_the_complete_parsers(cli: Cli, name: str) -> None:
    """``--help`` of the top level and of every command prints what the complete parser does."""
    parser = build_parser()
    expected = (_command_parsers(parser)[name] if name else parser).format_help()
    result = cli(*([name] if name else []), "--help")
    assert (result.code, result.out) == (0, expected)


def test_parser_and_registry_name_the_same_commands() -> None:
    """Every parsed command has a function and every function a parser entry (no dir())."""
    assert _subcommands(build_parser()) == set(_cli.COMMANDS)
    assert set(_cli.COMMANDS) == {
        "get",
        "ls",
        "dump",
        "identity",
        "iam-info",
        "tags",
        "user-data",
        "events",
        "credential-process",
        "wait",
        "doctor",
        "serve",
        "completion",
    }


def test_help_lists_commands_and_every_exit_code(cli: Cli) -> None:
    """--help exits 0 and its epilog is the exit code table."""
    result = cli("--help")
    assert result.code == 0
    assert codes.help_epilog() in result.out
    assert "\nexamples:\n  imdsclient get instance-id placement/region" in result.out
    for code, cause, _ in codes.EXIT_CODES:
        assert f"{code:>3}  {cause}" in result.out
    assert "credential-process" in result.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required: COMMAND"),
        (["get"], "required: PATH"),
        (["--timeout", "soon", "get", "x"], "invalid float value"),
        (["events", "--interval", "0"], "must be a number greater than 0"),
        (["serve", "--port", "70000"], "not a port number"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(cli: Cli, argv: list[str], message: str) -> None:
    """argparse's own errors: exit 2 and a message on stderr, nothing on stdout."""
    result = cli(*argv)
    assert result.code == codes.USAGE
    assert message in result.err
    assert result.out == ""


def test_bad_path_exits_2_before_any_request(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """A path with '..' is a usage error (ValueError): exit 2, one line, nothing sent."""
    result = cli("--endpoint", imds_simulator.url, "get", "../secret")
    assert result.code == codes.USAGE
    assert result.err.startswith("imdsclient: error: IMDS path '../secret'")
    assert len(result.err.strip().splitlines()) == 1
    assert imds_simulator.requests == []


@pytest.mark.parametrize(
    ("argv", "setting"),
    [
        (["--endpoint", "not a url"], "endpoint"),
        (["--endpoint", "ftp://169.254.169.254"], "endpoint"),
        (["--timeout", "-1"], "timeout"),
        (["--attempts", "0"], "num_attempts"),
    ],
)
def test_bad_settings_exit_2_naming_the_setting(cli: Cli, argv: list[str], setting: str) -> None:
    """ConfigError from the global options: exit 2, the message names setting and source."""
    result = cli(*argv, "get", "instance-id")
    assert result.code == codes.USAGE
    assert f"Invalid {setting}" in result.err
    assert "(from argument)" in result.err


def test_bad_environment_setting_exits_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid environment variable is reported with its name."""
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "many")
    result = cli("get", "instance-id")
    assert result.code == codes.USAGE
    assert "AWS_METADATA_SERVICE_NUM_ATTEMPTS" in result.err


def test_simulate_and_endpoint_together_is_a_usage_error(cli: Cli) -> None:
    """--simulate picks the endpoint itself, so --endpoint with it is refused."""
    result = cli("--simulate", "--endpoint", "http://127.0.0.1:9", "get", "instance-id")
    assert result.code == codes.USAGE
    assert "cannot be combined" in result.err


def test_global_options_work_after_the_command(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`get instance-id --endpoint URL` works as well as the options before the command."""
    result = cli("get", "instance-id", "--endpoint", imds_simulator.url)
    assert (result.code, result.out) == (0, "i-1234567890abcdef0\n")


def test_option_before_the_command_survives_the_subparser(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """A global option given before the command is not reset by the subcommand's parser."""
    imds_simulator.legacy = 405
    result = cli("--no-v1-fallback", "--endpoint", imds_simulator.url, "get", "instance-id")
    assert result.code == 14


def _throttled(sim: IMDSSimulator) -> None:
    sim.throttle_next(1000)


@pytest.mark.parametrize(
    ("setup", "argv", "code", "hint"),
    [
        (lambda s: None, ["get", "no-such-thing"], 15, "not_found"),
        (lambda s: setattr(s, "endpoint_enabled", False), ["get", "ami-id"], 12, None),
        (
            lambda s: s.inject("error", status=400, path="instance-id"),
            ["get", "instance-id"],
            13,
            "bad_request",
        ),
        (
            lambda s: setattr(s, "legacy", 404),
            ["--no-v1-fallback", "get", "instance-id"],
            14,
            "v1_disabled_no_token",
        ),
        (_throttled, ["get", "instance-id"], 16, "throttled"),
        (
            lambda s: s.inject("error", status=418, path="instance-id"),
            ["get", "instance-id"],
            10,
            "bad_response",
        ),
        (
            lambda s: setattr(s, "hop_limit_drop", True),
            ["--no-v1-fallback", "--timeout", "0.1", "get", "instance-id"],
            18,
            "hop_limit",
        ),
    ],
)
def test_each_error_class_has_its_own_exit_code(
    cli: Cli,
    imds_simulator: IMDSSimulator,
    setup: object,
    argv: list[str],
    code: int,
    hint: str | None,
) -> None:
    """The simulator in each failure mode gives the table's code and one line with the fix."""
    setup(imds_simulator)  # type: ignore[operator]
    with instant_retries():
        result = cli("--endpoint", imds_simulator.url, *argv)
    assert result.code == code
    assert result.out == ""
    assert result.err.startswith("imdsclient: error: ")
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    assert HINTS[hint or "endpoint_disabled"] in result.err


def test_disabled_by_environment_exits_11_without_a_request(
    cli: Cli, imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_EC2_METADATA_DISABLED=true: exit 11, the hint, and the simulator saw nothing."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id")
    assert result.code == 11
    assert HINTS["disabled"] in result.err
    assert imds_simulator.requests == []


def test_unreachable_endpoint_exits_17(cli: Cli) -> None:
    """Nothing listening (the suite's dead loopback port): connection error, exit 17."""
    result = cli("get", "instance-id")
    assert result.code == 17
    assert HINTS["connect"] in result.err


@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_connection_error_names_the_endpoint_tried(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """A non-default endpoint (--endpoint or the environment) is named in the one error line."""
    if given == "environment":
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:7")
        result = cli("get", "instance-id")
    else:
        result = cli("--endpoint", "http://127.0.0.1:7", "get", "instance-id")
    assert result.code == 17
    first, hint = result.err.split("; the endpoint tried was http://127.0.0.1:7. ")
    assert first.startswith("imdsclient: error: IMDS connection failed")
    assert hint.strip() == HINTS["connect"]


def test_version_prints_the_name_and_version(cli: Cli) -> None:
    """`--version`: `imdsclient X.Y.Z` on stdout, exit 0."""
    from imdsclient import __version__

    result = cli("--version")
    assert (result.code, result.out, result.err) == (0, f"imdsclient {__version__}\n", "")
    assert re.fullmatch(r"imdsclient \d+\.\d+\.\d+\n", result.out)


@pytest.mark.parametrize("name", sorted(_cli.COMMANDS))
def test_every_command_help_has_a_description_and_examples(cli: Cli, name: str) -> None:
    """`COMMAND --help` exits 0 with a description beyond the one-liner and an examples block."""
    result = cli(name, "--help")
    assert result.code == 0
    summary = _cli.COMMANDS[name][0]
    assert "\nexamples:\n  imdsclient" in result.out
    assert summary not in result.out.split("\n\n")[1]  # the description says more than that


def test_attempts_help_says_throttling_gets_at_least_ten(cli: Cli) -> None:
    """--attempts is per request for transient failures; --help says 429/503 get at least 10."""
    out = " ".join(cli("--help").out.split())
    assert "throttling (429/503) gets at least 10" in out


def test_verbose_shows_the_traceback_and_request_log(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """-v adds the traceback and one log line per request; the exit code is unchanged."""
    result = cli("-v", "--endpoint", imds_simulator.url, "get", "no-such-thing")
    assert result.code == 15
    assert "Traceback (most recent call last)" in result.err
    assert "GET /latest/meta-data/no-such-thing -> 404" in result.err
    assert result.err.rstrip().splitlines()[-1].startswith("imdsclient: error: ")


def test_ctrl_c_exits_130_without_a_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, imds_simulator: IMDSSimulator
) -> None:
    """KeyboardInterrupt anywhere in a command: exit 130, no traceback."""

    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    summary, define, _ = _cli.COMMANDS["get"]
    monkeypatch.setitem(_cli.COMMANDS, "get", (summary, define, interrupted))
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id")
    assert result.code == codes.INTERRUPTED
    assert "Traceback" not in result.err


def test_simulate_answers_without_any_endpoint(cli: Cli) -> None:
    """--simulate starts an embedded simulator: works with the suite's dead default endpoint."""
    result = cli("--simulate", "get", "placement/region")
    assert (result.code, result.out, result.err) == (0, "us-east-1\n", "")


def test_main_leaves_the_logger_as_it_found_it(capsys: pytest.CaptureFixture[str]) -> None:
    """Each run adds its stderr handler and level for the run only, then removes them."""
    import logging

    logger = logging.getLogger("imdsclient")
    before = (logger.level, list(logger.handlers))
    main(["-v", "get", "a b"])
    main(["get", "a b"])
    assert (logger.level, list(logger.handlers)) == before
    capsys.readouterr()


class _FullDisk(io.StringIO):
    """A stdout on a full disk: every write fails with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("stdout", [None, _FullDisk()], ids=["closed", "full"])
def test_unwritable_stdout_is_one_message_and_exit_1(
    cli: Cli, imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch, stdout: object
) -> None:
    """stdout closed (`>&-`) or failing (`>/dev/full`): one line on stderr, exit 1, no crash."""
    monkeypatch.setattr(sys, "stdout", stdout)
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id")
    assert result.code == codes.PROBLEM
    assert result.err.startswith("imdsclient: error: cannot write to stdout")
    assert len(result.err.splitlines()) == 1


def test_closed_stderr_keeps_the_error_message_off_stdout(
    cli: Cli, imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With stderr closed (`2>&-`) the error is lost, never printed where the value would be."""
    monkeypatch.setattr(sys, "stderr", None)
    result = cli("--endpoint", imds_simulator.url, "get", "no-such-thing")
    assert (result.code, result.out) == (15, "")


def test_serve_with_stdout_closed_still_serves(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve >&- &` runs the simulator without its URL line instead of crashing."""
    import threading

    import imdsclient.testing

    real_serve = imdsclient.testing.serve
    stopped = threading.Event()
    stopped.set()  # serve() returns as soon as it has started and printed

    def serve_once(host: str, port: int, **knobs: Any) -> None:
        real_serve(host, port, stop=stopped, **knobs)

    monkeypatch.setattr(imdsclient.testing, "serve", serve_once)
    monkeypatch.setattr(sys, "stdout", None)
    result = cli("serve", "--port", "0")
    assert (result.code, result.err) == (0, "")


def test_connection_error_on_lambda_names_lambda(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off IMDS on Lambda the one-line error says Lambda has no IMDS, not to look at firewalls."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "my-function")
    result = cli("--endpoint", "http://127.0.0.1:9", "get", "instance-id")
    assert result.code == codes.exit_code_for(IMDSConnectionError("x"))
    assert "Lambda has no IMDS" in result.err
    assert "iptables" not in result.err
