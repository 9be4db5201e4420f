"""Secrets masked by what they are, not only by where they are.

``dump`` already leaves out the documents under ``security-credentials/`` (by path).  Some IMDS
look-alikes serve credentials elsewhere: moto's server answers ``meta-data/iam`` with a JSON leaf
``{"security-credentials": {"default-role": {"SecretAccessKey": ...}}}``.  This module masks the
values of secret keys (:data:`SECRET_KEYS`, compared without case, ``-``, ``_`` or blanks) in:

* a JSON document (:func:`redact_json`): parsed, masked at any depth, written back;
* any other text (:func:`redact_text`): ``"Key": "value"``, ``'Key': 'value'`` and
  ``Key=value`` pairs, for log lines that quote a body;
* a ``dump`` result (:func:`redact_tree`): every leaf, as JSON if it parses, else as text;
* log records (:class:`RedactingFilter`), installed on the CLI's ``-v`` handler.

Access key ids are not secret (AWS prints them in consoles and logs) and stay visible, so a
redacted dump still tells which key an instance holds.  Pure functions; ``json`` is imported only
when a leaf looks like JSON, so importing this module costs ``get`` nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_KEYS",
    "RedactingFilter",
    "is_secret_key",
    "redact_json",
    "redact_text",
    "redact_tree",
]

#: What a masked value becomes (the same text ``dump`` shows for credential documents).
REDACTED = "**********"

#: Keys whose values are secrets, normalised (lower case, no ``-``, ``_`` or blanks).
SECRET_KEYS = frozenset(
    {
        "secretaccesskey",
        "awssecretaccesskey",
        "secretkey",
        "token",
        "sessiontoken",
        "securitytoken",
        "awssessiontoken",
        "awssecuritytoken",
    }
)

_KEY_NAMES = (
    r"(?:aws[-_ ]?)?secret[-_ ]?(?:access[-_ ]?)?key"
    r"|(?:aws[-_ ]?)?(?:session[-_ ]?|security[-_ ]?)?token"
)
# "Key": "value" / 'Key': 'value' (JSON, Python reprs), with escapes inside the value.
_QUOTED = re.compile(
    r"""(?P<head>(?P<q>["'])(?:"""
    + _KEY_NAMES
    + r""")(?P=q)\s*[:=]\s*)(?P<v>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""",
    re.IGNORECASE,
)
# Key=value (environment-style, in log text); the value runs to a blank, quote, comma or brace.
_ASSIGNED = re.compile(
    r"""(?P<head>(?<![\w-])(?:""" + _KEY_NAMES + r""")=)(?P<v>[^\s"',;}&]+)""",
    re.IGNORECASE,
)


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (``SecretAccessKey``, ``session_token``, ...)."""
    if not isinstance(key, str):
        return False
    return re.sub(r"[-_\s]", "", key).lower() in SECRET_KEYS


def _mask(value: Any) -> tuple[Any, bool]:
    """``value`` with every secret key's value replaced by :data:`REDACTED`; and whether any was."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            if is_secret_key(key) and item not in (None, ""):
                out[key], changed = REDACTED, True
            else:
                out[key], inner = _mask(item)
                changed = changed or inner
        return out, changed
    if isinstance(value, list):
        items = [_mask(item) for item in value]
        return [item for item, _ in items], any(inner for _, inner in items)
    return value, False


def redact_json(text: str) -> str | None:
    """``text`` masked if it is a JSON object or array; ``None`` if it is not JSON at all.

    Unchanged text is returned as it was; masked text is written back with ``json.dumps``
    (indented by two if the original spread over several lines).
    """
    if not text.lstrip().startswith(("{", "[")):
        return None
    import json  # lazily: `get` never needs it

    try:
        document = json.loads(text)
    except ValueError:
        return None
    masked, changed = _mask(document)
    if not changed:
        return text
    return json.dumps(masked, indent=2 if "\n" in text.strip() else None, ensure_ascii=False)


def redact_text(text: str) -> str:
    """Mask secrets in any text: as a JSON document if it is one, else pair by pair."""
    as_json = redact_json(text)
    if as_json is not None:
        return as_json

    def quoted(match: re.Match[str]) -> str:
        quote = match.group("v")[0]
        return f"{match.group('head')}{quote}{REDACTED}{quote}"

    masked = _QUOTED.sub(quoted, text)
    return _ASSIGNED.sub(lambda m: m.group("head") + REDACTED, masked)


def redact_tree(tree: dict[str, Any]) -> dict[str, Any]:
    """A ``dump`` result (nested dicts of text leaves) with secrets masked in every leaf."""
    out: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            out[name] = redact_tree(value)
        elif isinstance(value, str):
            out[name] = redact_text(value)
        else:
            out[name] = value
    return out


class RedactingFilter(logging.Filter):
    """Masks secrets in the rendered message of every record that passes (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
