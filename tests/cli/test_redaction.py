"""Secrets never print from ``dump`` or ``-v`` logs, wherever a look-alike IMDS puts them (#16)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from imdsclient import IMDSClient
from imdsclient._redact import REDACTED
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli

SECRET = "moto/SECRET/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
TOKEN = "moto-SESSION-TOKEN-IQoJb3JpZ2luX2VjEXAMPLE"
CREDENTIALS = {
    "AccessKeyId": "ASIAMOTOEXAMPLE",
    "SecretAccessKey": SECRET,
    "Token": TOKEN,
    "Expiration": "2030-01-01T00:00:00Z",
}
#: What moto's server serves: ``meta-data/`` lists ``iam`` as a leaf holding all credentials.
MOTO_IAM = json.dumps({"security-credentials": {"default-role": CREDENTIALS}})


@pytest.fixture
def moto() -> Iterator[IMDSSimulator]:
    """The simulator serving moto's shape: ``iam`` is a leaf, not a folder."""
    tree = {"instance-id": "i-0moto", "iam": MOTO_IAM}
    with IMDSSimulator(tree=tree) as simulator:
        yield simulator


def test_library_dump_masks_secrets_in_a_json_leaf(moto: IMDSSimulator) -> None:
    """``dump()``: the ``iam`` leaf keeps its shape and access key id, loses the secrets."""
    with IMDSClient(endpoint=moto.url) as imds:
        tree = imds.dump()
    role = json.loads(tree["iam"])["security-credentials"]["default-role"]
    assert role["AccessKeyId"] == "ASIAMOTOEXAMPLE"
    assert role["SecretAccessKey"] == role["Token"] == REDACTED
    assert SECRET not in json.dumps(tree)
    assert TOKEN not in json.dumps(tree)
    assert tree["instance-id"] == "i-0moto"


def test_include_credentials_shows_everything(moto: IMDSSimulator) -> None:
    """``dump(include_credentials=True)`` is the explicit way to see the secrets."""
    with IMDSClient(endpoint=moto.url) as imds:
        tree = imds.dump(include_credentials=True)
    assert tree["iam"] == MOTO_IAM


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_cli_dump_never_prints_the_secrets(
    cli: Cli, moto: IMDSSimulator, verbose: list[str]
) -> None:
    """``imdsclient [-v] dump``: neither stdout nor the debug log has a secret."""
    result = cli(*verbose, "--endpoint", moto.url, "dump")
    assert result.code == 0
    assert json.loads(json.loads(result.out)["iam"])["security-credentials"]
    for secret in (SECRET, TOKEN):
        assert secret not in result.out + result.err
    if verbose:
        assert "GET /latest/meta-data/iam -> 200" in result.err


def test_cli_get_prints_what_was_asked_for(cli: Cli, moto: IMDSSimulator) -> None:
    """``get iam`` is an explicit request for that document: it is printed as served."""
    result = cli("--endpoint", moto.url, "get", "iam")
    assert result.code == 0
    assert result.out.rstrip("\n") == MOTO_IAM


def test_verbose_log_masks_secrets_logged_by_anyone(
    cli: Cli, moto: IMDSSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record on an ``imdsclient`` logger that quotes a body is masked on the ``-v`` handler."""
    from imdsclient import _cli

    summary, define, original = _cli.COMMANDS["ls"]

    def chatty(args: object) -> int:
        logging.getLogger("imdsclient.boto").debug("content body: %s", MOTO_IAM)
        return original(args)  # type: ignore[arg-type]

    monkeypatch.setitem(_cli.COMMANDS, "ls", (summary, define, chatty))
    result = cli("-v", "--endpoint", moto.url, "ls")
    assert "content body:" in result.err
    assert REDACTED in result.err
    for secret in (SECRET, TOKEN):
        assert secret not in result.err
