"""Shell-safe output: POSIX quoting, and variable names derived from IMDS paths.

``quote`` and ``word`` are for any command that prints values a shell will read (``get
--shell``, and ``events`` lines so a description with spaces stays one field). Quoting is POSIX
single quotes: everything between them is literal, and a single quote inside is written as
``'\\''``, so ``eval`` of the output never runs or expands anything, whatever IMDS served.
"""

from __future__ import annotations

import re

__all__ = ["PREFIX", "ShellValueError", "assignment", "name_for", "quote", "word"]

_SAFE_WORD = re.compile(r"[A-Za-z0-9@%+=:,./_-]+")
_NOT_NAME = re.compile(r"[^A-Z0-9]+")
_META_DATA = "/latest/meta-data/"
_LATEST = "/latest/"
#: What ``--prefix`` accepts: the start of a shell variable name.
PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ShellValueError(ValueError):
    """A value no shell variable can hold (it contains a NUL character)."""


def quote(text: str) -> str:
    """``text`` in POSIX single quotes, always: ``it's`` → ``'it'\\''s'``."""
    if "\0" in text:
        raise ShellValueError("the value contains a NUL character, which no shell variable holds")
    return "'" + text.replace("'", "'\\''") + "'"


def word(text: str) -> str:
    """``text`` as one shell word: as it is when it needs no quoting, else :func:`quote`\\ d."""
    return text if _SAFE_WORD.fullmatch(text) else quote(text)


def name_for(key: str, prefix: str = "") -> str:
    """The variable name for a path (or a field or tag name), e.g. ``placement/region`` →
    ``PLACEMENT_REGION``.

    The rule (docs/cli.md): drop a leading ``/latest/meta-data/`` (other absolute paths: a
    leading ``/latest/``) and trailing ``/``; upper-case; each run of characters other than
    ``A-Z`` and ``0-9`` becomes one ``_``, none at either end; then ``prefix`` goes in front,
    and a name that would start with a digit gets a leading ``_``. ``""`` when nothing is left.
    """
    for root in (_META_DATA, _LATEST):
        if key.startswith(root):
            key = key[len(root) :]
            break
    core = _NOT_NAME.sub("_", key.upper()).strip("_")
    if not core:
        return ""
    name = prefix + core
    return "_" + name if name[0].isdigit() else name


def assignment(name: str, value: str) -> str:
    """One ``NAME='value'`` line (without the newline)."""
    return f"{name}={quote(value)}"
