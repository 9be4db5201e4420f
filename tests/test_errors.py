"""The error tree is documented truthfully, every hint names a fix, and secrets never print."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

import imdsclient
from imdsclient import errors

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def drawn_tree() -> list[tuple[int, str]]:
    """(depth, name) for each line of the tree drawn in the errors module docstring."""
    doc = errors.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        match = re.fullmatch(r"\s*((?:[│ ]   )*)(?:[├└]── )?(\w+Error)\s*", line)
        if match:
            rows.append((len(match.group(1)) // 4 + (1 if "──" in line else 0), match.group(2)))
    return rows


def real_tree(cls: type[BaseException] = errors.IMDSError, depth: int = 0) -> list[tuple[int, str]]:
    """(depth, name) walking the real subclasses, in definition order."""
    rows = [(depth, cls.__name__)]
    for sub in cls.__subclasses__():
        if sub.__module__ == errors.__name__:
            rows += real_tree(sub, depth + 1)
    return rows


def test_docstring_tree_matches_the_hierarchy() -> None:
    """The drawing in imdsclient.errors is the real class tree."""
    assert drawn_tree() == real_tree()


def test_every_error_is_exported_at_the_top_level() -> None:
    """Each error class is importable from imdsclient."""
    for _, name in real_tree():
        assert getattr(imdsclient, name) is getattr(errors, name)


@pytest.mark.parametrize("cls", [getattr(errors, name) for _, name in real_tree()])
def test_default_hints_say_what_to_do(cls: type[errors.IMDSError]) -> None:
    """str(error) is what happened, then a fix: a command, a setting or a doctor run."""
    text = str(cls("Something happened", status=None, path="/latest/meta-data/x"))
    assert text.startswith("Something happened. ")
    assert re.search(r"`[^`]+`|AWS_[A-Z_]+|doctor|disabled=", text), text


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("endpoint_disabled", "--http-endpoint enabled"),
        ("hop_limit", "--http-put-response-hop-limit 2"),
        ("v1_refused", "--http-put-response-hop-limit 2"),
        ("connect", "iptables"),
        ("connect", "sudo nft list ruleset | grep 169.254.169.254"),
        ("connect_timeout", "DROPs traffic to 169.254.169.254"),
        ("connect_timeout", "sudo nft list ruleset | grep 169.254.169.254"),
        ("no_route", "ip route get 169.254.169.254"),
        ("v1_disabled_no_token", "IMDSv1 only"),
        ("disabled", "AWS_EC2_METADATA_DISABLED"),
        ("throttled", "1024"),
    ],
)
def test_hints_name_the_exact_fix(key: str, needle: str) -> None:
    """The hint table quotes the exact commands the protocol table (docs/design.md) names."""
    assert needle in errors.HINTS[key]


def test_not_found_is_a_lookup_error() -> None:
    """MetadataNotFoundError can be caught as LookupError."""
    assert issubclass(errors.MetadataNotFoundError, LookupError)


def test_config_error_is_a_value_error_naming_setting_and_source() -> None:
    """Configuration mistakes are ValueErrors that say which setting and where it came from."""
    err = errors.ConfigError("timeout", "abc", "environment variable X", "not a number")
    assert isinstance(err, ValueError)
    assert "timeout" in str(err)
    assert "environment variable X" in str(err)


def test_credentials_error_carries_code_but_no_secret() -> None:
    """CredentialsError keeps the IMDS Code and Message; secrets never reach its text."""
    err = errors.CredentialsError(
        "Credentials for role r are unavailable (AssumeRoleUnauthorizedAccess)",
        code="AssumeRoleUnauthorizedAccess",
        detail="EC2 cannot assume the role",
    )
    assert err.code == "AssumeRoleUnauthorizedAccess"
    assert SECRET not in str(err) + repr(err)


def tree_lines(text: str) -> list[str]:
    """The lines of a drawn class tree (those ending in an error name)."""
    return [line.strip() for line in text.splitlines() if re.search(r"\w+Error\s*$", line)]


def test_docs_page_draws_the_same_tree_and_names_every_error() -> None:
    """docs/errors.md shows the module's tree and a row for every error class."""
    page = (Path(__file__).parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    assert tree_lines(page.split("```")[1]) == tree_lines(errors.__doc__ or "")
    for _, name in real_tree()[1:]:
        assert f"| `{name}`" in page


def test_docs_page_exit_codes_match_the_cli_table() -> None:
    """The exit code shown per error in docs/errors.md is the one the CLI uses."""
    from imdsclient._cli._exit_codes import ERROR_CODES

    page = (Path(__file__).parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    shown = {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^\| `(\w+Error)`.*\| (\d+) \|$", page, re.MULTILINE)
    }
    assert shown == {cls.__name__: code for cls, code in ERROR_CODES.items()}


def test_errors_survive_pickling() -> None:
    """Errors cross process boundaries (multiprocessing) with their type, text and fields."""
    config_error = errors.ConfigError("timeout", "abc", "environment variable X", "not a number")
    credentials_error = errors.CredentialsError("no", status=200, path="/p", code="C", detail="d")
    for error in (config_error, credentials_error, errors.EndpointDisabledError("x", status=403)):
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy) == vars(error)
