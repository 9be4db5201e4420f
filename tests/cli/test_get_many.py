"""`get PATH [PATH …]`: one process, one token, values in order; `--json`; `--shell` for eval."""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imdsclient._cli import _shell, main
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli

SIX = [
    "instance-id",
    "instance-type",
    "ami-id",
    "placement/availability-zone",
    "local-ipv4",
    "local-hostname",
]


def _served(sim: IMDSSimulator, path: str) -> str:
    full = path if path.startswith("/") else "/latest/meta-data/" + path
    return sim.handle("GET", full, {}).body.decode()


def test_several_paths_are_printed_in_order_with_one_token(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """Six paths: six lines in the order given, one PUT and six GETs in all."""
    result = cli("--endpoint", imds_simulator.url, "get", *SIX)
    assert result.code == 0, result.err
    assert imds_simulator.count(method="PUT") == 1
    assert imds_simulator.count(method="GET") == 6
    assert result.out.splitlines() == [_served(imds_simulator, p) for p in SIX]


def test_two_paths_print_exactly_two_lines(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`get instance-id placement/region` prints exactly two lines (DESIGN §4)."""
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id", "placement/region")
    assert (result.code, result.out) == (0, "i-1234567890abcdef0\nus-east-1\n")


def test_a_multi_line_value_among_several_is_exit_2_naming_json(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """With several paths a value containing a newline: exit 2, `--json` named, stdout empty."""
    document = "/latest/dynamic/instance-identity/document"
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id", document)
    assert (result.code, result.out) == (2, "")
    assert "--json" in result.err
    assert repr(document) in result.err
    assert len(result.err.splitlines()) == 1


def test_a_multi_line_value_alone_is_printed_as_it_is(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """One path: a multi-line value (a listing) is printed whole, as before."""
    result = cli("--endpoint", imds_simulator.url, "get", "placement/")
    assert result.code == 0
    assert result.out == _served(imds_simulator, "placement/") + "\n"


def test_one_failing_path_fails_the_command_and_prints_nothing(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """The first path works, the second is 404: exit 15, that path's error, stdout empty."""
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id", "no-such-thing", "ami-id")
    assert (result.code, result.out) == (15, "")
    assert "/latest/meta-data/no-such-thing" in result.err
    assert imds_simulator.count(path="ami-id") == 0  # stopped at the failure


def test_json_keys_are_the_paths_as_typed(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`--json`: one object; each path exactly as typed → its text, multi-line values included."""
    paths = ["instance-id", "/latest/meta-data/placement/region", "/latest/dynamic/"]
    result = cli("--endpoint", imds_simulator.url, "get", "--json", *paths)
    assert result.code == 0
    printed = json.loads(result.out)
    assert list(printed) == paths
    assert printed["instance-id"] == "i-1234567890abcdef0"
    assert printed["/latest/dynamic/"] == _served(imds_simulator, "/latest/dynamic/")


def test_json_shows_bytes_that_are_not_utf8_as_base64(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """Binary user-data in `--json`: `base64:` + the base64 of the exact bytes."""
    payload = b"\x1f\x8b\x08\x00\xff\x00binary"
    imds_simulator.set("/latest/user-data", payload)
    result = cli("--endpoint", imds_simulator.url, "get", "--json", "/latest/user-data", "ami-id")
    value = json.loads(result.out)["/latest/user-data"]
    assert value == "base64:" + base64.b64encode(payload).decode()


def test_several_binary_values_are_each_followed_by_a_newline(
    imds_simulator: IMDSSimulator, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A non-UTF-8 value among several is its exact bytes, then a newline."""
    imds_simulator.set("/latest/user-data", b"\xff\xfe")
    code = main(["--endpoint", imds_simulator.url, "get", "/latest/user-data", "ami-id"])
    assert code == 0
    assert capsysbinary.readouterr().out == b"\xff\xfe\nami-0a887e401f7654935\n"


def test_get_of_the_empty_path_says_what_it_is_and_sends_nothing(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`get ""`: exit 2 saying it is the meta-data root and to run `ls` or `dump`; no request."""
    result = cli("--endpoint", imds_simulator.url, "get", "")
    assert (result.code, result.out) == (2, "")
    assert "meta-data root" in result.err
    assert "`imdsclient ls`" in result.err
    assert imds_simulator.requests == []


def test_a_bad_path_among_several_sends_nothing(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """Every path is checked before the first request: `get instance-id ../x` sends nothing."""
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id", "../x")
    assert result.code == 2
    assert imds_simulator.requests == []


# -- --shell ----------------------------------------------------------------------------------

NASTY = [
    "it's",
    "$(touch pwned)",
    "`touch pwned`",
    "a\nb\n",
    "back\\slash",
    '"double"',
    "semi; colon && amp | pipe",
    "'",
    "''",
    "\u00e9t\u00e9 \u2603",
    "",
    "*",
    "$HOME ${PATH}",
    "!",
]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
def test_shell_output_evals_to_the_exact_values_whatever_they_contain(
    cli: Cli, imds_simulator: IMDSSimulator, tmp_path: object
) -> None:
    """`eval` of `--shell` output in sh sets each variable to the exact value; nothing runs."""
    paths = [f"nasty/v{i}" for i in range(len(NASTY))]
    for path, value in zip(paths, NASTY):
        imds_simulator.set(path, value)
    result = cli("--endpoint", imds_simulator.url, "get", "--shell", *paths)
    assert result.code == 0, result.err
    show = "; ".join(f'printf "%s\\0" "$NASTY_V{i}"' for i in range(len(NASTY)))
    done = subprocess.run(
        ["sh", "-c", f'eval "$1"; {show}', "sh", result.out],
        capture_output=True,
        cwd=str(tmp_path),
        timeout=30,
        check=True,
    )
    assert done.stdout.decode().split("\0")[:-1] == NASTY
    assert list(tmp_path.iterdir()) == []  # type: ignore[attr-defined]


def test_shell_names_follow_the_documented_rule(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """Names from paths: meta-data and /latest/ dropped, upper case, runs of others → `_`."""
    result = cli(
        "--endpoint",
        imds_simulator.url,
        "get",
        "--shell",
        "--prefix",
        "EC2_",
        "placement/region",
        "/latest/meta-data/instance-id",
        "/latest/user-data",
    )
    names = [line.split("=", 1)[0] for line in result.out.splitlines() if "='" in line]
    assert names[:2] == ["EC2_PLACEMENT_REGION", "EC2_INSTANCE_ID"]
    assert "EC2_USER_DATA" in names


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("placement/region", "PLACEMENT_REGION"),
        ("/latest/meta-data/placement/region", "PLACEMENT_REGION"),
        ("/latest/dynamic/instance-identity/document", "DYNAMIC_INSTANCE_IDENTITY_DOCUMENT"),
        ("/latest/user-data", "USER_DATA"),
        (
            "network/interfaces/macs/0e:49:61:0f:c3:11/vpc-id",
            "NETWORK_INTERFACES_MACS_0E_49_61_0F_C3_11_VPC_ID",
        ),
        ("public-keys/0/openssh-key", "PUBLIC_KEYS_0_OPENSSH_KEY"),
        ("placement/", "PLACEMENT"),
        ("accountId", "ACCOUNTID"),
        ("0abc", "_0ABC"),
        ("/latest/meta-data/", ""),
    ],
)
def test_name_for(path: str, name: str) -> None:
    """The name rule, case by case (docs/cli.md)."""
    assert _shell.name_for(path) == name


def test_two_paths_with_one_name_are_refused(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`a-b` and `a_b` would both be A_B: exit 2 before any request; the same path twice is fine."""
    result = cli("--endpoint", imds_simulator.url, "get", "--shell", "a-b", "a_b")
    assert result.code == 2
    assert "A_B" in result.err
    assert imds_simulator.requests == []
    same = cli(
        "--endpoint",
        imds_simulator.url,
        "get",
        "--shell",
        "instance-id",
        "/latest/meta-data/instance-id",
    )
    assert same.out == "INSTANCE_ID='i-1234567890abcdef0'\n" * 2


def test_a_nul_in_a_value_cannot_be_a_shell_variable(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """A value with a NUL byte under `--shell`: exit 2, naming --json; nothing on stdout."""
    imds_simulator.set("/latest/user-data", b"a\x00b")
    result = cli("--endpoint", imds_simulator.url, "get", "--shell", "/latest/user-data")
    assert (result.code, result.out) == (2, "")
    assert "NUL" in result.err
    assert "--json" in result.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prefix", "X_", "instance-id"], "use it with --shell"),
        (["--shell", "--prefix", "1X", "instance-id"], "cannot start a shell variable name"),
        (["--shell", "--json", "instance-id"], "not allowed with argument"),
    ],
)
def test_bad_shell_options_are_usage_errors(
    cli: Cli, imds_simulator: IMDSSimulator, argv: list[str], message: str
) -> None:
    """--prefix without --shell, a prefix no name can start with, --shell with --json: exit 2."""
    result = cli("--endpoint", imds_simulator.url, "get", *argv)
    assert (result.code, result.out) == (2, "")
    assert message in result.err


def test_quote_and_word() -> None:
    """quote() always single-quotes; word() leaves safe words bare and quotes the rest."""
    assert _shell.quote("it's") == "'it'\\''s'"
    assert _shell.word("us-east-1") == "us-east-1"
    assert _shell.word("two words") == "'two words'"
    assert _shell.word("") == "''"


@given(st.text().filter(lambda text: "\0" not in text))
def test_quote_round_trips_through_posix_parsing(text: str) -> None:
    """For any text without NUL, POSIX shell-word parsing of quote(text) gives back exactly it."""
    assert shlex.split(_shell.quote(text)) == [text]
    assert shlex.split(_shell.word(text)) == [text]


@given(st.text())
def test_name_for_always_gives_a_shell_name_or_nothing(key: str) -> None:
    """Whatever the key, the name is empty or a valid shell variable name."""
    name = _shell.name_for(key, "P_")
    assert name == "" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
