"""`credential-process`: the SDK's format, checked by botocore itself."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from imdsclient.errors import HINTS
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli


def _document(sim: IMDSSimulator) -> dict[str, str]:
    path = f"/latest/meta-data/iam/security-credentials/{sim.iam_role}"
    result: dict[str, str] = json.loads(sim.handle("GET", path, {}).body)
    return result


def test_prints_version_1_json_with_the_role_credentials(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """Exactly the five keys, the simulator's values, Expiration in ISO 8601 with Z."""
    result = cli("--endpoint", imds_simulator.url, "credential-process")
    printed = json.loads(result.out)
    document = _document(imds_simulator)
    assert result.code == 0
    assert printed == {
        "Version": 1,
        "AccessKeyId": document["AccessKeyId"],
        "SecretAccessKey": document["SecretAccessKey"],
        "SessionToken": document["Token"],
        "Expiration": printed["Expiration"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", printed["Expiration"])
    assert printed["Expiration"] == document["Expiration"]


def test_credentials_error_exits_19_without_secrets(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """Code != Success: exit 19; even with -v nothing secret reaches stdout or stderr."""
    secrets = [_document(imds_simulator)["SecretAccessKey"], _document(imds_simulator)["Token"]]
    imds_simulator.inject("credentials_error", code="AssumeRoleUnauthorizedAccess")
    result = cli("-v", "--endpoint", imds_simulator.url, "credential-process")
    assert result.code == 19
    assert result.out == ""
    assert "AssumeRoleUnauthorizedAccess" in result.err
    for secret in secrets:
        assert secret not in result.err


@pytest.mark.imds(iam_role=None)
def test_no_role_is_an_error_not_empty_json(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """No instance profile: CredentialsError (19) with the attach hint, nothing on stdout."""
    result = cli("--endpoint", imds_simulator.url, "credential-process")
    assert (result.code, result.out) == (19, "")
    assert HINTS["no_role"] in result.err


def test_botocore_resolves_credentials_through_it(
    imds_simulator: IMDSSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A botocore session whose only source is `credential_process = ... credential-process`."""
    botocore_session = pytest.importorskip("botocore.session")
    config = tmp_path / "config"
    config.write_text(
        "[default]\n"
        f"credential_process = {sys.executable} -m imdsclient --endpoint {imds_simulator.url} "
        "credential-process\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    session = botocore_session.Session()
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.method == "custom-process"
    frozen = credentials.get_frozen_credentials()
    document = _document(imds_simulator)
    assert frozen.access_key == document["AccessKeyId"]
    assert frozen.secret_key == document["SecretAccessKey"]
    assert frozen.token == document["Token"]
