"""The ``imdsclient`` command line: ``main(argv) -> int`` (console script and ``python -m``).

Start-up stays lean: this module imports argparse and the exit code table, nothing else. Each
command imports what it needs when it runs (the client for ``get``, pydantic models for
``identity``, the simulator for ``--simulate`` and ``serve``, the doctor for ``doctor``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Callable

from imdsclient._cli import _commands
from imdsclient._cli import _exit_codes as codes
from imdsclient._cli._commands import Command, OutputError, flush_stdout
from imdsclient.errors import IMDSError

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
Read EC2 instance metadata (IMDS) from the command line, diagnose IMDS trouble, or run the
IMDS simulator. Values are printed alone on stdout; errors are one message on stderr.
Relative paths are under /latest/meta-data/; absolute paths are used as given."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number in 0..65535")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """The global options; on subcommands too (``get X --endpoint URL``), without defaults there.

    A subcommand's defaults would overwrite what was given before the command, so there they are
    ``SUPPRESS``: an option given after the command wins, one given before it still counts.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if nested else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--endpoint",
        metavar="URL",
        default=default(None),
        help="IMDS base URL (default: AWS_EC2_METADATA_SERVICE_ENDPOINT, ~/.aws/config, "
        "or http://169.254.169.254)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=default(None),
        help="timeout per attempt (default: AWS_METADATA_SERVICE_TIMEOUT or 1.0)",
    )
    group.add_argument(
        "--attempts",
        metavar="N",
        type=int,
        default=default(None),
        help="attempts per request for transient failures; throttling (429/503) gets at least 10 "
        "(default: AWS_METADATA_SERVICE_NUM_ATTEMPTS or 3)",
    )
    group.add_argument(
        "--no-v1-fallback",
        action="store_true",
        default=default(False),
        help="never send a request without an IMDSv2 token",
    )
    group.add_argument(
        "--simulate",
        action="store_true",
        default=default(False),
        help="answer from an embedded IMDS simulator (works anywhere, no EC2 needed)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log each request to stderr and show tracebacks",
    )


def _json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def _args_path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="e.g. instance-id or /latest/user-data")


def _args_folder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", metavar="PATH", nargs="?", default="", help="folder (default: meta-data root)"
    )


def _args_identity(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, "the document (IMDS's own keys)")


def _args_iam_info(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, "the document (IMDS's own keys)")


def _args_tags(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, "a JSON object")


def _args_none(parser: argparse.ArgumentParser) -> None:
    del parser


def _args_events(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, "one JSON object per line")
    parser.add_argument(
        "--watch", action="store_true", help="keep polling and print each new or changed event once"
    )
    watch = parser.add_argument_group("with --watch only")
    watch.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_positive_float,
        default=None,
        help="seconds between polls (default: 5)",
    )
    watch.add_argument(
        "--max-polls",
        metavar="N",
        type=_positive_int,
        default=None,
        help="stop after N polls (default: until Ctrl-C)",
    )
    watch.add_argument(
        "--count",
        metavar="N",
        type=_positive_int,
        default=None,
        help="stop after printing N events (--count 1: wait for the first)",
    )


def _args_credential_process(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role", metavar="NAME", default=None, help="role name (default: the attached role)"
    )


def _args_doctor(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, "a report")
    parser.add_argument(
        "--interface",
        metavar="IFACE",
        default=None,
        help="network interface for the throttling counter (default: the default route's)",
    )


def _args_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=_port, default=1338, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument(
        "--http-tokens",
        choices=("optional", "required"),
        default="optional",
        help="'required': GETs without a token get 401 (IMDSv1 off)",
    )
    parser.add_argument("--disabled", action="store_true", help="answer everything with 403")
    parser.add_argument(
        "--legacy",
        type=int,
        choices=(404, 405),
        default=None,
        help="answer the token PUT with 404 or 405 (IMDSv1-only)",
    )
    parser.add_argument(
        "--hop-limit-drop",
        action="store_true",
        help="never answer the token PUT (hop limit too low)",
    )
    parser.add_argument(
        "--throttle-rps",
        metavar="N",
        type=_positive_int,
        default=None,
        help="serve at most N requests per second, answer 429 to the rest",
    )
    timeline = parser.add_argument_group("lifecycle timeline (SECONDS after the start)")
    for flag, what in (
        ("--spot-interruption-in", "publish a Spot interruption notice (terminate, 2 min later)"),
        ("--rebalance-in", "publish a rebalance recommendation"),
        ("--maintenance-in", "schedule a system-reboot event; completed 7 min later"),
        ("--asg-terminate-in", "Auto Scaling target lifecycle state InService, then Terminated"),
    ):
        timeline.add_argument(flag, metavar="SECONDS", type=float, default=None, help=what)


#: Every command, the one registry (never ``dir()``): name → (help, arguments, what runs it).
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Command]] = {
    "get": ("print the value at PATH", _args_path, _commands.cmd_get),
    "ls": ("list a folder, one entry per line (folders end in /)", _args_folder, _commands.cmd_ls),
    "dump": ("print the tree under PATH as JSON", _args_folder, _commands.cmd_dump),
    "identity": ("print the instance identity document", _args_identity, _commands.cmd_identity),
    "iam-info": ("print the attached instance profile", _args_iam_info, _commands.cmd_iam_info),
    "tags": ("print the instance tags (key<TAB>value)", _args_tags, _commands.cmd_tags),
    "user-data": (
        "write the user-data, byte for byte, to stdout",
        _args_none,
        _commands.cmd_user_data,
    ),
    "events": ("print spot, rebalance and scheduled events", _args_events, _commands.cmd_events),
    "credential-process": (
        "print role credentials for AWS credential_process",
        _args_credential_process,
        _commands.cmd_credential_process,
    ),
    "doctor": ("diagnose IMDS access step by step", _args_doctor, _commands.cmd_doctor),
    "serve": ("run the IMDS simulator until Ctrl-C", _args_serve, _commands.cmd_serve),
}


def build_parser() -> argparse.ArgumentParser:
    """The complete argument parser (also used to generate documentation checks)."""
    parser = argparse.ArgumentParser(
        prog="imdsclient",
        description=_DESCRIPTION,
        epilog=codes.help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, nested=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True
    for name, (summary, define, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        define(sub)
        _add_global_options(sub, nested=True)
    return parser


def _setup_logging(verbose: int) -> Callable[[], None]:
    """Send imdsclient's log to stderr for this run; returns what undoes it."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("imdsclient: %(levelname)s: %(message)s"))
    logger = logging.getLogger("imdsclient")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return undo


def _fail(message: str, code: int) -> int:
    print(f"imdsclient: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see ``--help`` and ``docs/cli.md``)."""
    if sys.stderr is not None:
        return _main(argv)
    # stderr closed (`2>&-`): print() would fall back to stdout and mix messages into values.
    import os

    with open(os.devnull, "w", encoding="utf-8") as devnull:
        sys.stderr = devnull
        try:
            return _main(argv)
        finally:
            sys.stderr = None


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage error (2)
        return exit_.code if isinstance(exit_.code, int) else codes.USAGE
    if args.simulate and args.endpoint is not None:
        parser.print_usage(sys.stderr)
        return _fail("--simulate and --endpoint cannot be combined", codes.USAGE)
    restore_logging = _setup_logging(args.verbose)
    simulator: Any = None
    try:
        if args.simulate and args.command != "serve":
            from imdsclient.testing import IMDSSimulator

            simulator = IMDSSimulator().start()
            args.endpoint = simulator.url
        code = COMMANDS[args.command][2](args)
        flush_stdout()  # a full disk or closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return codes.INTERRUPTED
    except (IMDSError, ValueError) as exc:  # ValueError: bad path, ConfigError (a ValueError)
        if args.verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        return _fail(str(exc), codes.exit_code_for(exc))
    except BrokenPipeError:  # stdout closed early, e.g. `imdsclient dump | head`
        _silence_stdout()
        return codes.BROKEN_PIPE
    except OutputError as exc:  # stdout closed (`>&-`) or failing (`>/dev/full`)
        _silence_stdout()
        return _fail(str(exc), codes.PROBLEM)
    finally:
        if simulator is not None:
            simulator.stop()
        restore_logging()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (e.g. captured in tests): nothing will be flushed to a pipe
