"""The ``imdsclient`` command line: ``main(argv) -> int``; ``run()`` is the console script's and
``python -m imdsclient``'s entry point.

Start-up stays lean: this module imports argparse and the exit code table, nothing else. A run
defines only its own command's options (:class:`_LazyCommands`), and each command imports what
it needs when it runs (the client for ``get``, pydantic models for ``identity``, the simulator
for ``--simulate`` and ``serve``, the doctor for ``doctor``). ``tests/cli/test_subprocess.py``
pins what ``get`` imports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, NoReturn, cast

from imdsclient._cli import _commands
from imdsclient._cli import _exit_codes as codes
from imdsclient._cli._commands import Command, OutputError, flush_stdout
from imdsclient._cli._exit_codes import CommandError
from imdsclient.errors import IMDSConnectionError, IMDSError

__all__ = ["CLIENT_ONLY", "build_parser", "main", "run"]

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


#: Global options that only a client uses; ``serve`` refuses them (it is the server).
CLIENT_ONLY = {
    "endpoint": ("--endpoint", "the simulator listens on --host and --port"),
    "timeout": ("--timeout", "its connections time out with --idle-timeout"),
    "attempts": ("--attempts", "it answers requests, it does not retry them"),
    "no_v1_fallback": ("--no-v1-fallback", "to refuse IMDSv1, use --http-tokens required"),
    "simulate": ("--simulate", "serve is the simulator already"),
}


def _prefix(text: str) -> str:
    if not text:  # the default: nothing to check (and no import on every start-up)
        return text
    from imdsclient._cli._shell import PREFIX

    if not PREFIX.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot start a shell variable name (letters, digits, _; no digit first)"
        )
    return text


def _add_global_options(
    parser: argparse.ArgumentParser,
    *,
    nested: bool,
    client: bool = True,
    without: tuple[str, ...] = (),
) -> None:
    """The global options; on subcommands too (``get X --endpoint URL``), without defaults there.

    A subcommand's defaults would overwrite what was given before the command, so there they are
    ``SUPPRESS``: an option given after the command wins, one given before it still counts.
    ``client=False`` (``serve``) leaves out the options only a client uses; ``without``
    leaves out options the command uses itself (``wait --timeout``).
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if nested else value

    def shown(text: str) -> str:
        # On serve the client-only options are parsed (to refuse them clearly), never shown.
        return text if client else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--endpoint",
        metavar="URL",
        default=default(None),
        help=shown(
            "IMDS base URL (default: AWS_EC2_METADATA_SERVICE_ENDPOINT, ~/.aws/config, "
            "or http://169.254.169.254)"
        ),
    )
    if "--timeout" not in without:
        group.add_argument(
            "--timeout",
            metavar="SECONDS",
            type=float,
            default=default(None),
            help=shown("timeout per attempt (default: AWS_METADATA_SERVICE_TIMEOUT or 1.0)"),
        )
    group.add_argument(
        "--attempts",
        metavar="N",
        type=int,
        default=default(None),
        help=shown(
            "attempts per request for transient failures; throttling (429/503) gets at least 10 "
            "(default: AWS_METADATA_SERVICE_NUM_ATTEMPTS or 3)"
        ),
    )
    group.add_argument(
        "--no-v1-fallback",
        action="store_true",
        default=default(False),
        help=shown("never send a request without an IMDSv2 token"),
    )
    group.add_argument(
        "--simulate",
        action="store_true",
        default=default(False),
        help=shown("answer from an embedded IMDS simulator (works anywhere, no EC2 needed)"),
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


def _value_forms(parser: argparse.ArgumentParser, json_help: str) -> None:
    """``--json`` or ``--shell`` (with ``--prefix``): how several values are printed."""
    forms = parser.add_mutually_exclusive_group()
    forms.add_argument("--json", action="store_true", help=json_help)
    forms.add_argument(
        "--shell",
        action="store_true",
        help="print NAME='value' lines, safe to eval whatever the values contain",
    )
    parser.add_argument(
        "--prefix",
        metavar="PREFIX",
        type=_prefix,
        default="",
        help="with --shell, put PREFIX in front of each name (e.g. IMDS_)",
    )


def _args_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", metavar="PATH", nargs="+", help="e.g. instance-id or /latest/user-data"
    )
    _value_forms(parser, "print one JSON object: each PATH as typed -> its value")


def _args_folder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", metavar="PATH", nargs="?", default="", help="folder (default: meta-data root)"
    )


def _args_ls(parser: argparse.ArgumentParser) -> None:
    _args_folder(parser)
    _json_flag(parser, "an array of the entries")


def _args_fields(parser: argparse.ArgumentParser, metavar: str, what: str) -> None:
    parser.add_argument("fields", metavar=metavar, nargs="*", help=what)
    _value_forms(
        parser, "print the document as JSON (IMDS's own keys), or with FIELDs an object of them"
    )


def _args_identity(parser: argparse.ArgumentParser) -> None:
    _args_fields(parser, "FIELD", "print only these fields, e.g. region account_id (or accountId)")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check the rsa2048 signature against AWS's certificates first (extra [verify]); "
        "with --simulate, against the simulator's",
    )
    parser.add_argument(
        "--allow-dsa",
        action="store_true",
        help="with --verify: use the pkcs7 (DSA/SHA-1) signature where IMDS has no rsa2048",
    )
    parser.add_argument(
        "--certificates",
        metavar="FILE",
        default=None,
        help="with --verify: trust the certificates in FILE, JSON {region: {kind: PEM}}",
    )


def _args_iam_info(parser: argparse.ArgumentParser) -> None:
    _args_fields(parser, "FIELD", "print only these fields, e.g. instance_profile_arn")


def _args_tags(parser: argparse.ArgumentParser) -> None:
    _args_fields(parser, "KEY", "print only the values of these tags, e.g. Name")


def _args_none(parser: argparse.ArgumentParser) -> None:
    del parser


def _args_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        dest="wait_timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=60.0,
        help="how long to wait in all (default: 60); the time per attempt is the global "
        "--timeout, given before the command",
    )


def _args_completion(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="SHELL", choices=("bash", "zsh"), help="bash or zsh")


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
    from imdsclient._cli._serve_args import add_serve_arguments

    add_serve_arguments(parser)
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
    "get": ("print the values at PATHs, one per line", _args_get, _commands.cmd_get),
    "ls": ("list a folder, one entry per line (folders end in /)", _args_ls, _commands.cmd_ls),
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
    "wait": ("wait until IMDS answers (boot scripts)", _args_wait, _commands.cmd_wait),
    "doctor": ("diagnose IMDS access step by step", _args_doctor, _commands.cmd_doctor),
    "serve": ("run the IMDS simulator until Ctrl-C", _args_serve, _commands.cmd_serve),
    "completion": (
        "print a bash or zsh completion script",
        _args_completion,
        _commands.cmd_completion,
    ),
}

_SERVE_DESCRIPTION = """\
Run the IMDS simulator until Ctrl-C. Its defaults are what a real, ordinary on-demand instance
does (every answer closes its connection, tags off, a role attached); each flag below changes one
thing. The first line printed holds the URL and the mode."""


if TYPE_CHECKING:
    import logging

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


class _LazyCommands(_SubParsers):
    """Subcommands whose options are defined only once the command line names them.

    Defining every command's options costs each run milliseconds (``serve``'s alone import json
    and the simulator's settings), and a run needs one command's. Help, usage and errors are
    those of the complete parser (the top-level help lists the commands by name only).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Command name -> what defines its options, until it is chosen.
        self.pending: dict[str, Callable[[], None]] = {}

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        define = self.pending.pop(values[0], None)
        if define is not None:
            define()
        super().__call__(parser, namespace, values, option_string)


def build_parser(*, lazy: bool = False) -> argparse.ArgumentParser:
    """The complete argument parser (also used by ``completion`` and the documentation checks).

    ``lazy=True`` (``main``): each command's options are defined when it is parsed.
    """
    from imdsclient._cli._help import EXAMPLES, HELP
    from imdsclient._version import __version__

    parser = argparse.ArgumentParser(
        prog="imdsclient",
        description=_DESCRIPTION,
        epilog=EXAMPLES + "\n\n" + codes.help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"imdsclient {__version__}", help="print the version"
    )
    _add_global_options(parser, nested=False)
    commands = cast(
        _LazyCommands,
        parser.add_subparsers(
            dest="command", metavar="COMMAND", title="commands", action=_LazyCommands
        ),
    )
    commands.required = True
    for name, (summary, define, _) in COMMANDS.items():
        description, examples = HELP.get(name, (summary, ""))
        if name == "serve":
            description = _SERVE_DESCRIPTION
        sub = commands.add_parser(
            name,
            help=summary,
            description=description,
            epilog=examples or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        commands.pending[name] = _definer(name, sub, define)
    if not lazy:
        for define_options in commands.pending.values():
            define_options()
        commands.pending.clear()
    return parser


def _definer(
    name: str, sub: argparse.ArgumentParser, define: Callable[[argparse.ArgumentParser], None]
) -> Callable[[], None]:
    """What defines command ``name``'s options on ``sub``: its own, then the global ones."""

    def define_options() -> None:
        define(sub)
        without = ("--timeout",) if name == "wait" else ()
        _add_global_options(sub, nested=True, client=name != "serve", without=without)

    return define_options


def _setup_logging(verbose: int) -> Callable[[], None]:
    """Send imdsclient's log to stderr for this run; returns what undoes it."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("imdsclient: %(levelname)s: %(message)s"))
    handler.addFilter(_redacting)  # secrets masked by content, whoever logs them
    logger = logging.getLogger("imdsclient")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return undo


def _redacting(record: logging.LogRecord) -> bool:
    """:class:`~imdsclient._redact.RedactingFilter`, imported at the first record: a run that
    logs nothing (a quiet ``get``) does not compile its patterns."""
    from imdsclient._redact import RedactingFilter

    return RedactingFilter().filter(record)


def _fail(message: str, code: int) -> int:
    print(f"imdsclient: error: {message}", file=sys.stderr)
    return code


def run() -> NoReturn:
    """The console script and ``python -m imdsclient``: :func:`main`, then exit with its code.

    ``gc.freeze()`` first: the interpreter's shutdown then skips the full garbage collections
    over every object the ~290 imported modules made, a fifth to a quarter of a one-shot
    ``get``'s CPU time (docs/performance.md). Nothing else changes: atexit handlers run and
    streams are flushed as usual. Not in :func:`main`, which tests and programs call in their
    own process (a frozen object is never collected).
    """
    code = main()
    import gc

    gc.freeze()
    raise SystemExit(code)


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
    parser = build_parser(lazy=True)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage error (2)
        return exit_.code if isinstance(exit_.code, int) else codes.USAGE
    if args.command == "serve":
        for dest, (flag, instead) in CLIENT_ONLY.items():
            if getattr(args, dest, None):
                parser.print_usage(sys.stderr)
                message = f"{flag} is a client option, not one for serve: {instead}"
                return _fail(message, codes.USAGE)
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
            args.simulator = simulator  # `identity --verify` trusts its certificates
        code = COMMANDS[args.command][2](args)
        flush_stdout()  # a full disk or closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return codes.INTERRUPTED
    except (IMDSError, ValueError, CommandError) as exc:  # ValueError: ConfigError
        if args.verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        return _fail(_message(exc, args), codes.exit_code_for(exc))
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


def _message(exc: Exception, args: argparse.Namespace) -> str:
    """The error's text; a connection error names the endpoint when it is not the default."""
    if not isinstance(exc, IMDSConnectionError):
        return str(exc)
    from imdsclient._config import IMDSConfig

    try:
        config = IMDSConfig.from_environment(endpoint=args.endpoint)
    except ValueError:  # cannot happen once a client was built; never hide the real error
        return str(exc)
    if config.endpoint is None:
        return str(exc)  # the default address, which the hint names already
    return f"{exc.message.rstrip('.')}; the endpoint tried was {config.base_url}. {exc.hint}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (e.g. captured in tests): nothing will be flushed to a pipe
