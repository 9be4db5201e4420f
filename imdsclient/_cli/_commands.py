"""One small function per command; the registry of commands is ``imdsclient._cli.COMMANDS``.

Each function takes the parsed arguments and returns an exit code; ``IMDSError`` and
``ValueError`` propagate to ``main``, which prints one message and picks the exit code. Heavy
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
from imdsclient.errors import HINTS, MetadataNotFoundError

if TYPE_CHECKING:
    from datetime import datetime

    from imdsclient._client import IMDSClient
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


def _client(args: argparse.Namespace) -> IMDSClient:
    """A client with the global options applied over the environment and ~/.aws/config."""
    from imdsclient._client import IMDSClient

    return IMDSClient(
        endpoint=args.endpoint,
        timeout=args.timeout,
        num_attempts=args.attempts,
        v1_fallback=False if args.no_v1_fallback else None,
    )


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
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()


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


def cmd_get(args: argparse.Namespace) -> int:
    """``get PATH``: the value alone; one that is not UTF-8 text exactly as served."""
    with _client(args) as imds:
        data = imds.get_bytes(args.path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # e.g. gzipped user-data: binary safe, like `user-data`
        _write_bytes(data)
        return codes.OK
    _print(text)
    return codes.OK


def cmd_ls(args: argparse.Namespace) -> int:
    """``ls [PATH]``: one entry per line; folders end in ``/``."""
    with _client(args) as imds:
        entries = imds.list(args.path)
    for entry in entries:
        _print(entry)
    return codes.OK


def cmd_dump(args: argparse.Namespace) -> int:
    """``dump [PATH]``: the tree as JSON (credentials are never included)."""
    with _client(args) as imds:
        tree = imds.dump(args.path)
    _print_json(tree)
    return codes.OK


def cmd_identity(args: argparse.Namespace) -> int:
    """``identity``: the instance identity document."""
    with _client(args) as imds:
        document = imds.instance_identity()
    if args.json:
        _print_json(document.model_dump(mode="json", by_alias=True))
    else:
        _print_fields(document.model_dump(mode="json"))
    return codes.OK


def cmd_iam_info(args: argparse.Namespace) -> int:
    """``iam-info``: the attached instance profile (no credentials)."""
    with _client(args) as imds:
        info = imds.iam_info()
    if info is None:
        raise MetadataNotFoundError(
            "No IAM instance profile is attached to this instance",
            status=404,
            path="/latest/meta-data/iam/info",
            hint=HINTS["no_role"],
        )
    if args.json:
        _print_json(info.model_dump(mode="json", by_alias=True))
    else:
        _print_fields(info.model_dump(mode="json"))
    return codes.OK


def cmd_tags(args: argparse.Namespace) -> int:
    """``tags``: ``key<TAB>value`` lines, or a JSON object; nothing when there are no tags."""
    with _client(args) as imds:
        tags = imds.tags()
    if args.json:
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
        raise MetadataNotFoundError(
            "This instance has no user-data",
            status=404,
            path="/latest/user-data",
            hint=HINTS["not_found"],
        )
    _write_bytes(data)
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
    """``credential-process``: the one command that prints secrets, in the SDK's format."""
    from imdsclient._api.iam import credential_process_json

    with _client(args) as imds:
        creds = imds.iam_credentials(role=args.role)
    _print_json(credential_process_json(creds), compact=True)
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
    from imdsclient.testing import Timeline, serve

    try:
        serve(
            args.host,
            args.port,
            out=sys.stdout if sys.stdout is not None else io.StringIO(),  # `>&-`: just serve
            http_tokens=args.http_tokens,
            endpoint_enabled=not args.disabled,
            legacy=args.legacy,
            hop_limit_drop=args.hop_limit_drop,
            throttle_rps=args.throttle_rps,
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
