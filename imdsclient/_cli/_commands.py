"""One small function per command; the registry of commands is ``imdsclient._cli.COMMANDS``.

Each function takes the parsed arguments and returns an exit code; ``IMDSError``,
``ValueError`` and ``CommandError`` propagate to ``main``, which prints one message and picks the
exit code. Heavy
imports (the client, pydantic models, json, the simulator, the doctor) happen inside the function
that needs them, so ``get instance-id`` loads neither pydantic nor the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, TextIO

from imdsclient._cli import _exit_codes as codes
from imdsclient._cli._exit_codes import CommandError
from imdsclient.errors import HINTS, MetadataNotFoundError

if TYPE_CHECKING:
    from datetime import datetime

    from imdsclient._cli._values import Form
    from imdsclient._client import IMDSClient
    from imdsclient._clock import Clock
    from imdsclient._watch import InstanceEvent, Kind, WatchStatus

__all__ = [
    "HEARTBEAT",
    "Command",
    "OutputError",
    "event_record",
    "event_records",
    "flush_stdout",
    "format_record",
    "watch_events",
]

Command = Callable[[argparse.Namespace], int]
Record = dict[str, Any]

# -- helpers --------------------------------------------------------------------------------


def _client(args: argparse.Namespace, **seams: Any) -> IMDSClient:
    """A client with the global options applied over the environment and ~/.aws/config.

    ``seams`` (``clock=``, ``transport=``) are for tests calling a command function directly.
    At a terminal, retries show a progress line on stderr (:mod:`._progress`).
    """
    from imdsclient._client import IMDSClient

    return IMDSClient(
        endpoint=args.endpoint,
        timeout=args.timeout,
        num_attempts=args.attempts,
        v1_fallback=False if args.no_v1_fallback else None,
        on_retry=_progress_hook(args),
        **seams,
    )


def _progress_hook(args: argparse.Namespace) -> Callable[[Any], None] | None:
    """A retry progress line for a person at a terminal; none for pipes, files or ``-v``."""
    stderr = sys.stderr
    try:
        interactive = stderr is not None and stderr.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        interactive = False
    if args.verbose or not interactive:
        return None
    from imdsclient._cli._progress import RetryProgress

    return RetryProgress(lambda line: print(line, file=sys.stderr, flush=True))


class OutputError(Exception):
    """stdout cannot be written: closed (``>&-``) or refused (a full disk); not a closed pipe."""


@contextlib.contextmanager
def _writing() -> Iterator[TextIO]:
    """stdout, with write failures other than a closed pipe turned into :class:`OutputError`."""
    out = sys.stdout
    if out is None:
        raise OutputError("cannot write to stdout: it is closed")
    try:
        yield out
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from exc


def _print(text: str) -> None:
    line = text if text.endswith("\n") else text + "\n"
    with _writing() as out:
        try:
            out.write(line)
        except UnicodeEncodeError:  # stdout not UTF-8 (PYTHONIOENCODING=ascii): pass IMDS's through
            out.flush()
            out.buffer.write(line.encode("utf-8", "surrogateescape"))
            out.buffer.flush()


def _write_bytes(data: bytes) -> None:
    """Exact bytes to stdout, nothing added."""
    with _writing() as out:
        buffer = getattr(out, "buffer", None)
        if buffer is None:  # a text-only stream (an embedding program's StringIO)
            out.write(data.decode("utf-8", "surrogateescape"))
            return
        out.flush()
        buffer.write(data)
        buffer.flush()


def flush_stdout() -> None:
    """Flush stdout now, so a failing flush is an error here rather than at interpreter exit."""
    if sys.stdout is not None:
        with _writing() as out:
            out.flush()


def _print_json(value: object, *, compact: bool = False) -> None:
    import json

    if compact:
        _print(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    else:
        _print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_fields(fields: Mapping[str, object]) -> None:
    """``name  value`` lines, aligned; lists joined with commas; empty values left out."""
    shown = {k: v for k, v in fields.items() if v is not None and v != []}
    width = max((len(k) for k in shown), default=0)
    for key, value in shown.items():
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        _print(f"{key:<{width}}  {text}")


# -- reading values -------------------------------------------------------------------------


def _form(args: argparse.Namespace) -> Form:
    """``lines``, ``json`` or ``shell``, from ``--json`` / ``--shell`` (``--prefix`` needs it)."""
    if args.prefix and not args.shell:
        raise CommandError("--prefix names shell variables: use it with --shell")
    return "json" if args.json else "shell" if args.shell else "lines"


def cmd_get(args: argparse.Namespace) -> int:
    """``get PATH [PATH …]``: one client, one token; values in order, all or nothing."""
    from imdsclient._cli import _values
    from imdsclient._protocol import normalize_path

    form = _form(args)
    paths: list[str] = args.paths
    for path in paths:
        if path == "":
            raise CommandError(
                "'' is the meta-data root, a folder, not a value: list it with `imdsclient ls`, "
                "or print the whole tree with `imdsclient dump`"
            )
    full = [normalize_path(path) for path in paths]  # InvalidPathError before any request
    names = (
        _values.shell_names(list(zip(paths, full)), args.prefix)
        if form == "shell"
        else [""] * len(paths)
    )
    with _client(args) as imds:
        values = [imds.get_bytes(path) for path in paths]
    _write_bytes(_values.render(list(zip(paths, names, values)), form))
    return codes.OK


def _check_folder(imds: IMDSClient, path: str) -> None:
    """``ls``/``dump`` of a value: exit 2 saying so (one GET of the parent's listing)."""
    from imdsclient._cli import _values
    from imdsclient._protocol import normalize_path

    full = normalize_path(path) if path else "/latest/meta-data/"
    if _values.folder_kind(full, imds.list) == "value":
        raise CommandError(_values.get_instead(path))


def cmd_ls(args: argparse.Namespace) -> int:
    """``ls [PATH]``: one entry per line, folders ending in ``/`` (``--json``: an array)."""
    from imdsclient._protocol import normalize_path

    with _client(args) as imds:
        _check_folder(imds, args.path)
        entries = imds.list(args.path)
    if args.path and normalize_path(args.path).rstrip("/") == "/latest":
        # IMDS lists these two folders without their '/'; ls keeps its one rule.
        entries = [e + "/" if e in ("meta-data", "dynamic") else e for e in entries]
    if args.json:
        _print_json(entries)
    else:
        for entry in entries:
            _print(entry)
    return codes.OK


def cmd_dump(args: argparse.Namespace) -> int:
    """``dump [PATH]``: the tree as JSON; credential documents masked as ``**********``."""
    with _client(args) as imds:
        if args.path:
            _check_folder(imds, args.path)
        tree = imds.dump(args.path)
    _print_json(tree)
    return codes.OK


def _typed_fields(
    args: argparse.Namespace, document: Any, what: str, items_shown: Mapping[str, object]
) -> bool:
    """FIELDs or ``--shell`` of a typed document: print them the ``get`` way; ``False`` when
    the command should print the whole document its own way instead."""
    from imdsclient._cli import _values

    form = _form(args)
    if not args.fields and form != "shell":
        return False
    fields = document.model_dump(mode="json")
    aliases = dict(zip(document.model_dump(mode="json", by_alias=True), fields))
    wanted = args.fields or list(items_shown)
    picked = _values.pick(fields, aliases, wanted, what)
    _emit_picked(picked, form, args.prefix)
    return True


def _emit_picked(picked: list[tuple[str, str, object]], form: Form, prefix: str) -> None:
    from imdsclient._cli import _values

    names = (
        _values.shell_names([(typed, name) for typed, name, _ in picked], prefix)
        if form == "shell"
        else [""] * len(picked)
    )
    items = [(typed, n, value) for (typed, _, value), n in zip(picked, names)]
    _write_bytes(_values.render(items, form))


def _shown(fields: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None and v != []}


def cmd_identity(args: argparse.Namespace) -> int:
    """``identity [FIELD …] [--verify]``: the identity document (verified: from the signed
    bytes), or the FIELDs' values."""
    if args.verify:
        return _identity_verified(args)
    with _client(args) as imds:
        document = imds.instance_identity()
    if _typed_fields(args, document, "identity", _shown(document.model_dump(mode="json"))):
        return codes.OK
    if args.json:
        _print_json(document.model_dump(mode="json", by_alias=True))
    else:
        _print_fields(document.model_dump(mode="json"))
    return codes.OK


def _certificates_file(path: str) -> dict[str, dict[str, str]]:
    """``--certificates FILE``: a JSON object ``{region: {kind: PEM}}``; ``ValueError`` if not."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except OSError as exc:
        raise ValueError(f"cannot read --certificates {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"--certificates {path} is not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(
        isinstance(kinds, dict) and all(isinstance(pem, str) for pem in kinds.values())
        for kinds in value.values()
    ):
        raise ValueError(f"--certificates {path} must hold {{region: {{kind: PEM}}}}")
    return value


def _identity_verified(args: argparse.Namespace) -> int:
    """``identity --verify``: the document's rsa2048 signature checked, then the signed bytes.

    Trusts ``--certificates FILE``, else the embedded simulator's own certificates under
    ``--simulate``, else AWS's bundled ones.
    """
    simulator = getattr(args, "simulator", None)
    certificates: Any = None
    if args.certificates is not None:
        certificates = _certificates_file(args.certificates)
    elif simulator is not None:
        certificates = simulator.identity_certificates
    with _client(args) as imds:
        verified = imds.verified_identity(certificates=certificates, allow_dsa=args.allow_dsa)
    if verified.certificate_expired:
        print(
            "imdsclient: warning: a certificate that verified this document has expired "
            "(its key is still trusted); update imdsclient for current certificates",
            file=sys.stderr,
        )
    document = verified.document
    if _typed_fields(args, document, "identity", _shown(document.model_dump(mode="json"))):
        return codes.OK
    if args.json:
        _write_bytes(verified.raw + b"\n")
    else:
        _print_fields(verified.document.model_dump(mode="json"))
    return codes.OK


def cmd_iam_info(args: argparse.Namespace) -> int:
    """``iam-info [FIELD …]``: the attached instance profile (no credentials)."""
    with _client(args) as imds:
        info = imds.iam_info()
    if info is None:
        path = "/latest/meta-data/iam/info"
        raise MetadataNotFoundError(
            f"IMDS has nothing at {path} (404)", status=404, path=path, hint=HINTS["no_role"]
        )
    if _typed_fields(args, info, "iam-info", _shown(info.model_dump(mode="json"))):
        return codes.OK
    if args.json:
        _print_json(info.model_dump(mode="json", by_alias=True))
    else:
        _print_fields(info.model_dump(mode="json"))
    return codes.OK


def cmd_tags(args: argparse.Namespace) -> int:
    """``tags [KEY …]``: ``key<TAB>value`` lines or a JSON object, or the KEYs' values."""
    with _client(args) as imds:
        tags = imds.tags()
    form = _form(args)
    if args.fields or form == "shell":
        for key in args.fields:
            if key not in tags:
                path = f"/latest/meta-data/tags/instance/{key}"
                raise MetadataNotFoundError(
                    f"The instance has no tag {key!r}", status=404, path=path, hint=HINTS["no_tags"]
                )
        keys = args.fields or list(tags)
        _emit_picked([(key, key, tags[key]) for key in keys], form, args.prefix)
    elif args.json:
        _print_json(tags)
    else:
        for key, value in tags.items():
            _print(f"{key}\t{value}")
    return codes.OK


def cmd_user_data(args: argparse.Namespace) -> int:
    """``user-data``: the exact bytes, nothing added."""
    with _client(args) as imds:
        data = imds.user_data()
    if data is None:
        path = "/latest/user-data"
        raise MetadataNotFoundError(
            f"IMDS has nothing at {path} (404)", status=404, path=path, hint=HINTS["no_user_data"]
        )
    _write_bytes(data)
    return codes.OK


def cmd_wait(args: argparse.Namespace, *, clock: Clock | None = None, transport: Any = None) -> int:
    """``wait [--timeout S]``: exit 0 once IMDS answers; else the last error after S seconds."""
    from imdsclient._cli._wait import PROBE_PATH, wait_until_up
    from imdsclient._clock import SYSTEM_CLOCK

    clock = clock if clock is not None else SYSTEM_CLOCK
    with _client(args, clock=clock, transport=transport) as imds:
        wait_until_up(lambda: imds.get_bytes(PROBE_PATH), timeout=args.wait_timeout, clock=clock)
    return codes.OK


def cmd_completion(args: argparse.Namespace) -> int:
    """``completion bash|zsh``: the completion script, generated from the parser by shtab."""
    try:
        import shtab
    except ImportError:
        raise CommandError(
            "shell completion needs shtab, which is not installed: "
            "pip install 'imdsclient[completion]'",
            codes.PROBLEM,
        ) from None
    from imdsclient._cli import build_parser

    _print(shtab.complete(build_parser(), shell=args.target))
    return codes.OK


# -- events ---------------------------------------------------------------------------------

#: Seconds between heartbeat lines of ``events --watch`` on a terminal.
HEARTBEAT = 60.0


def event_record(event: InstanceEvent) -> Record:
    """One event as a flat record: ``kind``, ``seen_at``, then the detail's fields (``state``
    for a lifecycle state), as ``events`` prints it."""
    detail = event.detail
    fields = {"state": detail} if isinstance(detail, str) else detail.model_dump(mode="json")
    record: Record = {"kind": event.kind, "seen_at": f"{event.seen_at:%Y-%m-%dT%H:%M:%SZ}"}
    record.update((k, v) for k, v in fields.items() if k not in record)
    return record


def event_records(imds: IMDSClient) -> list[Record]:
    """What is pending now, as the first poll of ``watch()`` would report it; a failure raises."""
    from datetime import datetime, timezone

    from imdsclient._watch import Tracker

    now = datetime.now(timezone.utc)
    current: tuple[tuple[Kind, Any], ...] = (
        ("spot-interruption", imds.spot_instance_action()),
        ("rebalance-recommendation", imds.rebalance_recommendation()),
        ("scheduled-event", imds.scheduled_events()),
        ("lifecycle-state", imds.autoscaling_target_lifecycle_state()),
    )
    tracker = Tracker()
    return [
        event_record(event) for kind, value in current for event in tracker.update(kind, value, now)
    ]


def format_record(record: Record, as_json: bool) -> str:
    """A JSON line, or ``KIND key=value ...`` with every value quoted for a POSIX shell."""
    import json

    if as_json:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    import shlex

    def text(value: object) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    fields = [
        f"{k}={shlex.quote(text(v))}" for k, v in record.items() if k != "kind" and v is not None
    ]
    return " ".join([shlex.quote(record["kind"]), *fields])


def watch_events(
    imds: IMDSClient,
    emit: Callable[[Record], None],
    *,
    interval: float,
    max_polls: int | None = None,
    count: int | None = None,
    notes: TextIO | None = None,
) -> int:
    """``events --watch``: ``emit`` each event ``imds.watch()`` yields; the number emitted.

    Stops after ``max_polls`` polls or ``count`` events (default: never).  ``notes`` (stderr
    when it is a terminal) gets a start line and, every :data:`HEARTBEAT` seconds, a line
    saying the watch is alive (and which sources it cannot read, if any).
    """
    emitted = 0
    last_note: datetime | None = None

    def heartbeat(status: WatchStatus) -> None:
        nonlocal last_note
        if notes is None:
            return
        if last_note is not None and (status.seen_at - last_note).total_seconds() < HEARTBEAT:
            return
        if last_note is not None:
            blind = f"; cannot read {', '.join(status.blind)}" if status.blind else ""
            when = f"{status.seen_at:%Y-%m-%dT%H:%M:%SZ}"
            _note(
                notes, f"still watching: {status.polls} polls, {emitted} events, last {when}{blind}"
            )
        last_note = status.seen_at

    if notes is not None:
        every = f"{interval:g}"
        _note(notes, f"watching {imds.config.base_url} for events every {every} s (Ctrl-C to stop)")
    try:
        for event in imds.watch(interval=interval, max_polls=max_polls, on_poll=heartbeat):
            emit(event_record(event))
            emitted += 1
            if count is not None and emitted >= count:
                break
    except KeyboardInterrupt:  # Ctrl-C is the normal way to stop
        if notes is not None:
            _note(notes, f"stopped after {emitted} events")
    return emitted


def _note(stream: TextIO, text: str) -> None:
    stream.write(f"imdsclient: {text}\n")
    stream.flush()


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # closed or detached
        return False


def cmd_events(args: argparse.Namespace) -> int:
    """``events [--watch]``: one line per event (JSON lines with ``--json``)."""
    watch_only = [
        flag
        for flag, value in (
            ("--interval", args.interval),
            ("--max-polls", args.max_polls),
            ("--count", args.count),
        )
        if value is not None
    ]
    if watch_only and not args.watch:
        raise ValueError(f"--watch is needed for {', '.join(watch_only)}")

    def emit(record: Record) -> None:
        _print(format_record(record, args.json))
        flush_stdout()

    with _client(args) as imds:
        if not args.watch:
            for record in event_records(imds):
                emit(record)
            return codes.OK
        watch_events(
            imds,
            emit,
            interval=args.interval if args.interval is not None else 5.0,
            max_polls=args.max_polls,
            count=args.count,
            notes=sys.stderr if _is_terminal(sys.stderr) else None,
        )
    return codes.OK


# -- credentials, doctor, simulator ---------------------------------------------------------


def cmd_credential_process(args: argparse.Namespace) -> int:
    """``credential-process``: the one command that prints secrets, in the SDK's format.

    Its ``Expiration`` is never in the past: expired credentials are extended (with a warning
    on stderr) within static stability's bound, as the drop-ins do.
    """
    import logging
    import random

    from imdsclient._clock import SYSTEM_CLOCK
    from imdsclient._refresh import credential_process_document

    with _client(args) as imds:
        creds = imds.iam_credentials(role=args.role)
    document = credential_process_document(
        creds,
        clock=SYSTEM_CLOCK,
        rng=random.Random(),  # noqa: S311 -- jitter, not cryptography
        logger=logging.getLogger("imdsclient.credential_process"),
    )
    _print_json(document, compact=True)
    return codes.OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """``doctor``: the seven checks listed in docs/cli.md; exit 1 when any finds a problem."""
    from imdsclient._cli import _doctor

    report = _doctor.run_checks(
        _doctor.overrides_from(args),
        interface=args.interface,
    )
    if args.json:
        _print_json(report.as_dict())
    else:
        _print(report.render())
    return codes.PROBLEM if report.has_problem else codes.OK


def cmd_serve(args: argparse.Namespace) -> int:
    """``serve``: the simulator in the foreground until Ctrl-C; the first line holds the URL."""
    import imdsclient.testing
    from imdsclient._cli._serve_args import knobs_from
    from imdsclient.testing import Timeline

    knobs = knobs_from(args)  # ValueError (a bad --tree): a usage error, before anything starts
    try:
        imdsclient.testing.serve(
            args.host,
            args.port,
            out=sys.stdout if sys.stdout is not None else io.StringIO(),  # `>&-`: just serve
            log_requests=bool(args.log_requests or args.verbose),
            **knobs,
            timeline=Timeline.from_seconds(
                spot_interruption=args.spot_interruption_in,
                rebalance=args.rebalance_in,
                maintenance=args.maintenance_in,
                autoscaling_terminate=args.asg_terminate_in,
            ),
        )
    except OSError as exc:  # port in use, address not available, ...
        print(
            f"imdsclient: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return codes.PROBLEM
    return codes.OK
