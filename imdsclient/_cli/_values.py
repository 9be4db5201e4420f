"""Printing several values at once (``get``, and the typed commands' FIELDs), and telling a
folder from a value for ``ls`` and ``dump``. Pure: bytes out, no I/O.

Three forms (docs/cli.md, "Several values"):

- ``lines``: each value then a newline, in the order given. With several values, one that
  contains a newline is refused (the lines could not be told apart): use ``--json`` or
  ``--shell``. A single value is written exactly as served (binary safe), a newline added
  unless it ends with one.
- ``json``: one object, each key as the user typed it → its value; bytes that are not UTF-8
  as ``base64:…``.
- ``shell``: ``NAME='value'`` lines that ``eval`` can never misread (:mod:`._shell`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Callable, Literal

from imdsclient._cli._exit_codes import CommandError

# json, base64, shlex and ._shell are imported where needed: `get instance-id` pays for none.

__all__ = [
    "BASE64_PREFIX",
    "Form",
    "Item",
    "folder_kind",
    "get_instead",
    "pick",
    "render",
    "shell_names",
]

Form = Literal["lines", "json", "shell"]
#: (the key as the user typed it, the variable name for ``shell``, the value). A value is bytes
#: (as IMDS served it), text, or a JSON value (a typed field: list, number, ``None``).
Item = tuple[str, str, object]

#: How ``--json`` shows bytes that are not UTF-8 (the same as ``dump``).
BASE64_PREFIX = "base64:"

_LATEST_FOLDERS = ("/latest/meta-data", "/latest/dynamic")


def _text(value: object) -> str:
    """A value as one text: bytes decoded (undecodable bytes kept), lists comma-joined."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _json_value(value: object) -> object:
    import base64

    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return BASE64_PREFIX + base64.b64encode(value).decode("ascii")
    return value


def render(items: Sequence[Item], form: Form) -> bytes:
    """What to write to stdout for ``items``; :class:`CommandError` (exit 2) if they cannot be
    shown that way. Nothing is written by the caller unless every value could be rendered."""
    if form == "json":
        import json

        shown = {key: _json_value(value) for key, _, value in items}
        return (json.dumps(shown, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    lines: list[str] = []
    for key, name, value in items:
        text = _text(value)
        if form == "shell":
            from imdsclient._cli import _shell

            try:
                lines.append(_shell.assignment(name, text) + "\n")
            except _shell.ShellValueError as exc:
                raise CommandError(f"the value of {key!r}: {exc}; use --json") from None
        elif len(items) == 1:
            lines.append(text if text.endswith("\n") else text + "\n")
        elif "\n" in text:
            raise CommandError(
                f"the value of {key!r} has several lines, so the values printed one per line "
                "could not be told apart; use --json (or --shell)"
            )
        else:
            lines.append(text + "\n")
    if form == "lines" and len(items) == 1 and isinstance(items[0][2], bytes):
        data = items[0][2]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:  # binary (gzipped user-data): exactly as served, nothing added
            return data
    return "".join(lines).encode("utf-8", "surrogateescape")


def shell_names(keys: Sequence[tuple[str, str]], prefix: str = "") -> list[str]:
    """The variable name of each ``(key as typed, what it names)``; names come from the second
    (a normalized path, a canonical field name). Two different things with one name, or a key
    with no name at all, are a :class:`CommandError`."""
    from imdsclient._cli import _shell

    names: list[str] = []
    owner: dict[str, tuple[str, str]] = {}
    for typed, source in keys:
        name = _shell.name_for(source, prefix)
        if not name:
            raise CommandError(f"no shell variable name can be made from {typed!r}")
        first = owner.setdefault(name, (typed, source))
        if first[1] != source:
            raise CommandError(
                f"{first[0]!r} and {typed!r} would both be {name}; use --json, or ask for them "
                "in two calls with different --prefix values"
            )
        names.append(name)
    return names


def pick(
    fields: Mapping[str, object],
    aliases: Mapping[str, str],
    wanted: Sequence[str],
    what: str,
) -> list[tuple[str, str, object]]:
    """``(as typed, canonical name, value)`` for each wanted field of a typed document.

    ``fields`` maps canonical (snake_case) names to values; ``aliases`` maps IMDS's own keys
    (``accountId``, ``InstanceProfileArn``) to canonical names, so either spelling works.
    """
    picked: list[tuple[str, str, object]] = []
    for field in wanted:
        name = field if field in fields else aliases.get(field)
        if name is None or name not in fields:
            known = ", ".join(fields)
            raise CommandError(f"{what} has no field {field!r}; its fields: {known}")
        picked.append((field, name, fields[name]))
    return picked


def folder_kind(path: str, list_folder: Callable[[str], list[str]]) -> str | None:
    """``"folder"``, ``"value"``, or ``None`` (cannot tell) for ``path`` (absolute, normalized).

    IMDS answers a folder with or without its ``/`` and may answer a leaf asked with one, so
    only the parent's listing tells: an entry ``name/`` is a folder, ``name`` a value
    (``public-keys/`` lists folder ``0/`` as ``0=key-name``). ``list_folder`` is one GET; the
    roots need none.
    """
    trimmed = path.rstrip("/")
    if trimmed in ("", "/latest", *_LATEST_FOLDERS):
        return "folder"
    if trimmed == "/latest/user-data":
        return "value"
    parent, name = trimmed.rsplit("/", 1)
    if parent in ("", "/latest"):
        return None
    from imdsclient.errors import MetadataNotFoundError

    try:
        entries = list_folder(parent + "/")
    except MetadataNotFoundError:
        return None  # the parent is not there: the request itself will say so
    if name + "/" in entries:
        return "folder"
    if parent.endswith("/public-keys") and any(e.split("=", 1)[0] == name for e in entries):
        return "folder"
    return "value" if name in entries else None


def get_instead(path: str) -> str:
    """The message for ``ls``/``dump`` of a value."""
    import shlex

    leaf = shlex.quote(path.rstrip("/") or path)
    return f"{path!r} is a value, not a folder: read it with `imdsclient get {leaf}`"
