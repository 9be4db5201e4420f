"""`identity --verify`: the signed document on success, exit 20 when it does not verify."""

from __future__ import annotations

import json
from pathlib import Path

from imdsclient import bundled_identity_certificates
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli

DOCUMENT = "/latest/dynamic/instance-identity/document"


def test_verify_with_simulate_trusts_the_embedded_simulator(cli: Cli) -> None:
    """`--simulate identity --verify`: the simulator's own certificates, exit 0, fields out."""
    result = cli("--simulate", "identity", "--verify")
    assert (result.code, result.err) == (0, "")
    fields = dict(line.split(None, 1) for line in result.out.splitlines())
    assert fields["instance_id"] == "i-1234567890abcdef0"
    assert fields["region"] == "us-east-1"


def test_verify_json_prints_the_signed_bytes(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """With --json the output is exactly the signed document, then a newline."""
    result = cli("--simulate", "identity", "--verify", "--json")
    assert result.code == 0
    served = imds_simulator.handle("GET", DOCUMENT, {}).body
    assert result.out == served.decode() + "\n"
    assert json.loads(result.out)["region"] == "us-east-1"


def test_verify_against_aws_fails_with_its_own_exit_code(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """The simulator against AWS's bundled certificates: exit 20, one message, nothing on stdout."""
    result = cli("--endpoint", imds_simulator.url, "identity", "--verify")
    assert (result.code, result.out) == (20, "")
    assert result.err.startswith("imdsclient: error: rsa2048 is signed by")
    assert result.err.count("\n") == 1


def test_certificates_file_is_trusted(
    cli: Cli, imds_simulator: IMDSSimulator, tmp_path: Path
) -> None:
    """--certificates FILE replaces the bundle: the simulator's verify, AWS's do not."""
    mine, aws = tmp_path / "sim.json", tmp_path / "aws.json"
    mine.write_text(json.dumps(imds_simulator.identity_certificates), encoding="utf-8")
    aws.write_text(json.dumps(bundled_identity_certificates()), encoding="utf-8")
    base = ("--endpoint", imds_simulator.url, "identity", "--verify", "--certificates")
    assert cli(*base, str(mine)).code == 0
    assert cli(*base, str(aws)).code == 20
    assert cli("--simulate", "identity", "--verify", "--certificates", str(aws)).code == 20


def test_a_bad_certificates_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    """A missing or malformed --certificates file: exit 2 naming the file."""
    missing = tmp_path / "missing.json"
    result = cli("--simulate", "identity", "--verify", "--certificates", str(missing))
    assert result.code == 2
    assert "missing.json" in result.err
    bad = tmp_path / "bad.json"
    bad.write_text('{"us-east-1": "not an object"}', encoding="utf-8")
    assert cli("--simulate", "identity", "--verify", "--certificates", str(bad)).code == 2


def test_identity_without_verify_is_unchanged(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """Plain `identity` reads no signature."""
    result = cli("--endpoint", imds_simulator.url, "identity")
    assert result.code == 0
    assert all("rsa2048" not in r.path for r in imds_simulator.requests)
