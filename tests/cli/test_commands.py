"""Each reading command in-process against the simulator: values alone on stdout."""

from __future__ import annotations

import json

import pytest

from imdsclient.errors import HINTS
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli


def _get(sim: IMDSSimulator, path: str) -> bytes:
    """What the simulator serves at ``path``, read from its core without the network."""
    return sim.handle("GET", path, {}).body


def _secrets(sim: IMDSSimulator) -> list[str]:
    document = json.loads(_get(sim, f"/latest/meta-data/iam/security-credentials/{sim.iam_role}"))
    return [document["SecretAccessKey"], document["Token"]]


def test_get_prints_the_value_alone(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`get instance-id`: the value and a newline, nothing else; stderr empty."""
    result = cli("--endpoint", imds_simulator.url, "get", "instance-id")
    assert (result.code, result.out, result.err) == (0, "i-1234567890abcdef0\n", "")


def test_get_takes_absolute_paths(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """An absolute path is used as given (here the identity document, as text)."""
    path = "/latest/dynamic/instance-identity/document"
    result = cli("--endpoint", imds_simulator.url, "get", path)
    assert json.loads(result.out) == json.loads(_get(imds_simulator, path))


def test_ls_prints_one_entry_per_line(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`ls placement` lists the folder's entries, one per line."""
    result = cli("--endpoint", imds_simulator.url, "ls", "placement")
    expected = _get(imds_simulator, "/latest/meta-data/placement/").decode().splitlines()
    assert result.code == 0
    assert result.out.splitlines() == expected
    assert "region" in expected


def test_ls_without_path_lists_the_meta_data_root(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`ls` alone lists /latest/meta-data/, folders ending in '/'."""
    result = cli("--endpoint", imds_simulator.url, "ls")
    assert "instance-id" in result.out.splitlines()
    assert "placement/" in result.out.splitlines()


def test_dump_prints_the_tree_as_json_without_credentials(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`dump`: nested JSON (folders → objects); the role's secrets are not in it."""
    result = cli("--endpoint", imds_simulator.url, "dump")
    tree = json.loads(result.out)
    assert tree["placement"]["region"] == "us-east-1"
    for secret in _secrets(imds_simulator):
        assert secret not in result.out


def test_dump_of_a_folder(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`dump placement` is that folder only."""
    result = cli("--endpoint", imds_simulator.url, "dump", "placement")
    assert json.loads(result.out)["availability-zone"] == "us-east-1a"
    assert "instance-id" not in json.loads(result.out)


def test_identity_text_is_aligned_fields(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`identity`: `name  value` lines with snake_case names; unset fields left out."""
    result = cli("--endpoint", imds_simulator.url, "identity")
    lines = result.out.splitlines()
    assert any(line.split() == ["instance_id", "i-1234567890abcdef0"] for line in lines)
    assert any(line.split() == ["region", "us-east-1"] for line in lines)
    assert "None" not in result.out


def test_identity_json_uses_imds_keys(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`identity --json`: the document with IMDS's own camelCase keys and values."""
    result = cli("--endpoint", imds_simulator.url, "identity", "--json")
    document = json.loads(_get(imds_simulator, "/latest/dynamic/instance-identity/document"))
    printed = json.loads(result.out)
    for key in ("accountId", "instanceId", "region", "availabilityZone", "imageId"):
        assert printed[key] == document[key]


def test_iam_info_never_prints_credentials(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`iam-info` (text, JSON, verbose) shows the profile, never the role's secrets."""
    for extra in ([], ["--json"], ["-v"]):
        result = cli("--endpoint", imds_simulator.url, "iam-info", *extra)
        assert result.code == 0
        assert "instance-profile/" in result.out
        for secret in _secrets(imds_simulator):
            assert secret not in result.out + result.err
        assert ("InstanceProfileArn" in result.out) == (extra == ["--json"])


@pytest.mark.imds(iam_role=None)
def test_iam_info_without_a_role_exits_15_with_the_attach_hint(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """No instance profile: exit 15 and HINTS['no_role']."""
    result = cli("--endpoint", imds_simulator.url, "iam-info")
    assert result.code == 15
    assert HINTS["no_role"] in result.err


def test_tags_text_and_json(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`tags`: key<TAB>value lines; `--json`: an object."""
    imds_simulator.set("tags/instance/Team", "blue team")
    text = cli("--endpoint", imds_simulator.url, "tags")
    assert "Team\tblue team" in text.out.splitlines()
    as_json = cli("--endpoint", imds_simulator.url, "tags", "--json")
    assert json.loads(as_json.out)["Team"] == "blue team"


@pytest.mark.imds(tags_enabled=False)
def test_tags_not_enabled_prints_nothing(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """Tags not allowed in metadata: `tags` prints nothing and `--json` prints {}."""
    assert cli("--endpoint", imds_simulator.url, "tags").out == ""
    assert json.loads(cli("--endpoint", imds_simulator.url, "tags", "--json").out) == {}


def test_user_data_is_written_byte_for_byte(
    imds_simulator: IMDSSimulator, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`user-data`: the exact bytes (binary, no newline added)."""
    from imdsclient._cli import main

    payload = b"\x1f\x8b\x08\x00binary\xff\x00no newline"
    imds_simulator.set("/latest/user-data", payload)
    code = main(["--endpoint", imds_simulator.url, "user-data"])
    assert code == 0
    assert capsysbinary.readouterr().out == payload


def test_get_writes_a_value_that_is_not_utf8_byte_for_byte(
    imds_simulator: IMDSSimulator, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`get /latest/user-data` with binary user-data: the exact bytes, not an error."""
    from imdsclient._cli import main

    payload = b"\x1f\x8b\x08\x00binary\xff\x00"
    imds_simulator.set("/latest/user-data", payload)
    code = main(["--endpoint", imds_simulator.url, "get", "/latest/user-data"])
    assert (code, capsysbinary.readouterr().out) == (0, payload)


@pytest.mark.parametrize("argv", [["get", "hostname"], ["dump"]])
def test_text_reaches_a_stdout_that_is_not_utf8_as_utf8(
    imds_simulator: IMDSSimulator, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """PYTHONIOENCODING=ascii or a Latin-1 locale: IMDS's UTF-8 passes through, not exit 2."""
    import io
    import sys

    from imdsclient._cli import main

    imds_simulator.set("hostname", "h\u00e9te-\u2603")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)
    code = main(["--endpoint", imds_simulator.url, *argv])
    assert code == 0
    assert "h\u00e9te-\u2603".encode() in stdout.buffer.getvalue()


def test_missing_user_data_exits_15(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """No user-data: exit 15, nothing on stdout."""
    imds_simulator.delete("/latest/user-data")
    result = cli("--endpoint", imds_simulator.url, "user-data")
    assert (result.code, result.out) == (15, "")
    assert "no user-data" in result.err


def test_everything_works_with_simulate(cli: Cli) -> None:
    """--simulate serves every reading command without any endpoint."""
    for argv in (["ls"], ["identity"], ["tags"], ["events"], ["dump", "placement"]):
        result = cli("--simulate", *argv)
        assert result.code == 0, (argv, result.err)
