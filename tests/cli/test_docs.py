"""docs/cli.md and docs/troubleshooting.md cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imdsclient import _cli
from imdsclient._cli._exit_codes import ERROR_CODES, EXIT_CODES, markdown_table
from imdsclient.errors import HINTS, IMDSError

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_cli_page_shows_exactly_the_exit_code_table() -> None:
    """The block between the exit-codes markers in docs/cli.md is markdown_table()."""
    page = _page("cli.md")
    match = re.search(r"<!-- exit-codes:start -->\n(.*?)\n<!-- exit-codes:end -->", page, re.S)
    assert match is not None
    assert match.group(1) == markdown_table()


def test_every_error_class_has_its_own_exit_code() -> None:
    """Each IMDSError class in the tree has a distinct code in the table."""

    def tree(cls: type[IMDSError]) -> list[type[IMDSError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]

    classes = {c for c in tree(IMDSError) if c.__module__ == "imdsclient.errors"}
    assert classes == set(ERROR_CODES)
    codes = [code for code, _, _ in EXIT_CODES]
    assert len(codes) == len(set(codes))


def test_cli_page_documents_every_command() -> None:
    """Each registered command has a row in the commands table of docs/cli.md."""
    page = _page("cli.md")
    for name in _cli.COMMANDS:
        assert re.search(rf"^\| `{re.escape(name)}[ `]", page, re.M), name


@pytest.mark.parametrize(
    "key",
    [
        "hop_limit",
        "v1_refused",
        "connect",
        "endpoint_disabled",
        "disabled",
        "throttled",
        "expired_credentials",
        "connect_timeout",
        "no_route",
        "v1_disabled_no_token",
        "timeout",
    ],
)
def test_troubleshooting_quotes_the_hint_text(key: str) -> None:
    """The fixes on docs/troubleshooting.md are HINTS verbatim."""
    assert f"> {HINTS[key]}\n" in _page("troubleshooting.md")


def test_troubleshooting_quotes_the_fargate_hint() -> None:
    """The Fargate example on docs/troubleshooting.md is what a connection error there says."""
    from imdsclient._environment import connection_hint

    env = {
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/id",
        "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/id",
    }
    assert f"> {connection_hint('connect', env)}\n" in _page("troubleshooting.md")


def test_readme_links_the_cli_and_troubleshooting_pages() -> None:
    """README's documentation list points at both new pages."""
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "(docs/cli.md)" in readme
    assert "(docs/troubleshooting.md)" in readme
