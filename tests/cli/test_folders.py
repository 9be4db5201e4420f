"""`ls` and `dump` of a value say so (exit 2, use `get`); `ls --json`; `ls /latest/` folders."""

from __future__ import annotations

import json

import pytest

from imdsclient._cli._values import folder_kind
from imdsclient.errors import MetadataNotFoundError
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli


@pytest.mark.parametrize("command", ["ls", "dump"])
@pytest.mark.parametrize("path", ["instance-id", "placement/region", "/latest/user-data"])
def test_ls_or_dump_of_a_value_is_exit_2_pointing_at_get(
    cli: Cli, imds_simulator: IMDSSimulator, command: str, path: str
) -> None:
    """`ls LEAF` / `dump LEAF`: exit 2, "is a value", the `get` command to run; stdout empty."""
    result = cli("--endpoint", imds_simulator.url, command, path)
    assert (result.code, result.out) == (2, "")
    assert f"{path!r} is a value, not a folder" in result.err
    assert f"`imdsclient get {path}`" in result.err


def test_ls_of_a_value_with_a_slash_points_at_get_without_it(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`ls instance-id/`: still a value; the `get` suggested has no trailing slash."""
    result = cli("--endpoint", imds_simulator.url, "ls", "instance-id/")
    assert result.code == 2
    assert "`imdsclient get instance-id`" in result.err


@pytest.mark.parametrize(
    "path", ["placement", "placement/", "/latest/dynamic/instance-identity", "public-keys/0"]
)
def test_ls_of_a_folder_with_or_without_its_slash_lists_it(
    cli: Cli, imds_simulator: IMDSSimulator, path: str
) -> None:
    """A folder is listed whether or not the path ends in `/` (public-keys/0 included)."""
    result = cli("--endpoint", imds_simulator.url, "ls", path)
    assert result.code == 0, result.err
    assert result.out.strip()


def test_ls_of_a_folder_costs_one_more_get_for_the_parent(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`ls placement` reads the root listing (is it a folder?) and the folder: 2 GETs, 1 PUT."""
    cli("--endpoint", imds_simulator.url, "ls", "placement")
    assert (imds_simulator.count(method="PUT"), imds_simulator.count(method="GET")) == (1, 2)
    imds_simulator.clear_requests()
    cli("--endpoint", imds_simulator.url, "ls")
    assert imds_simulator.count(method="GET") == 1  # the roots need no check


def test_ls_of_a_missing_path_is_the_404(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """A path that does not exist is IMDS's own 404 (exit 15), not a usage error."""
    result = cli("--endpoint", imds_simulator.url, "ls", "no-such/thing")
    assert result.code == 15


def test_ls_latest_marks_its_folders_with_a_slash(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`ls /latest/` prints `dynamic/` and `meta-data/` (IMDS lists them bare), `user-data` bare."""
    result = cli("--endpoint", imds_simulator.url, "ls", "/latest/")
    assert result.out.splitlines() == ["dynamic/", "meta-data/", "user-data"]


def test_ls_json_is_an_array_of_the_entries(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`ls --json placement`: the same entries as the text lines, as a JSON array."""
    text = cli("--endpoint", imds_simulator.url, "ls", "placement")
    as_json = cli("--endpoint", imds_simulator.url, "ls", "--json", "placement")
    assert json.loads(as_json.out) == text.out.splitlines()


def test_folder_kind_cannot_tell_without_a_parent() -> None:
    """No parent listing (404) or an unknown name: None, so the request itself decides."""

    def missing(path: str) -> list[str]:
        raise MetadataNotFoundError("gone", status=404, path=path)

    assert folder_kind("/latest/meta-data/a/b", missing) is None
    assert folder_kind("/latest/meta-data/a/b", lambda path: ["c", "d/"]) is None
    assert folder_kind("/latest/meta-data/a/d", lambda path: ["c", "d/"]) == "folder"
    assert folder_kind("/latest/meta-data/a/c", lambda path: ["c", "d/"]) == "value"
    assert folder_kind("/latest/other", missing) is None
