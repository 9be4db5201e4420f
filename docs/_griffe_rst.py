"""A griffe extension for the API reference: reST markup in docstrings, rendered as Markdown.

The package's docstrings use reST roles (``:class:`~imdsclient.errors.IMDSError```) and ``::``
before literal blocks. Markdown has neither, so mkdocstrings would print them verbatim. This
turns each role into a code span (``~`` keeps only the last dotted name, as Sphinx does) and a
line-final ``::`` into ``:``; the indented block that follows already renders as code.
Loaded by ``mkdocs.yml`` (``extensions:`` of the python handler); not part of the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<>]+?)`")
_LITERAL_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2).strip()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def to_markdown(text: str) -> str:
    """Docstring text with reST roles and literal-block markers made Markdown."""
    return _LITERAL_MARKER.sub(":", _ROLE.sub(_role, text))


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
