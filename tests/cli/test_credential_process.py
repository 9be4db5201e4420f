"""`credential-process`: the SDK's format, checked by botocore itself."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
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


# -- credentials IMDS serves already expired (#16) ----------------------------------------------

AEMM_EXPIRATION = "2020-04-02T00:49:51Z"
AEMM_DOCUMENT = {
    "Code": "Success",
    "LastUpdated": "2020-04-02T18:50:40Z",
    "Type": "AWS-HMAC",
    "AccessKeyId": "12345678901",
    "SecretAccessKey": "v/12345678901",
    "Token": "TEST92test48TEST+y6RpoTEST92test48TEST/8oWVAiBqTEsT5Ky7ty2tEStxC1T==",
    "Expiration": AEMM_EXPIRATION,
}


def _epoch(text: str) -> float:
    from calendar import timegm
    from time import strptime

    return float(timegm(strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


@pytest.fixture
def aemm() -> Iterator[IMDSSimulator]:
    """The simulator serving amazon-ec2-metadata-mock's default credentials (expired in 2020)."""
    tree = {"iam/security-credentials/aemm-role": json.dumps(AEMM_DOCUMENT)}
    with IMDSSimulator(tree=tree) as simulator:
        yield simulator


def test_expired_credentials_get_an_expiration_in_the_future(cli: Cli, aemm: IMDSSimulator) -> None:
    """Exit 0 only with an Expiration 20-30 min ahead (past the SDK's 15 min refresh window)."""
    before = time.time()
    result = cli("--endpoint", aemm.url, "credential-process")
    after = time.time()
    assert result.code == 0
    printed = json.loads(result.out)
    assert printed["AccessKeyId"] == "12345678901"
    expiration = _epoch(printed["Expiration"])
    assert int(before) + 20 * 60 <= expiration <= after + 30 * 60
    assert result.err.count("WARNING") == 1
    assert AEMM_EXPIRATION in result.err
    assert "timedatectl" in result.err
    for secret in (AEMM_DOCUMENT["SecretAccessKey"], AEMM_DOCUMENT["Token"]):
        assert secret not in result.err


def test_document_keeps_a_valid_expiration_and_extends_an_expired_one() -> None:
    """The pure part, on a FakeClock: real expiry when valid, 20-30 min ahead when expired."""
    import logging
    import random
    from datetime import datetime, timezone

    from imdsclient._api.iam import parse_credentials
    from imdsclient._refresh import credential_process_document
    from imdsclient.testing import FakeClock

    clock = FakeClock()
    log = logging.getLogger("tests.credential_process")

    def document(expires_in: float) -> dict[str, object]:
        expiration = datetime.fromtimestamp(clock.time() + expires_in, tz=timezone.utc)
        body = json.dumps({**AEMM_DOCUMENT, "Expiration": expiration.isoformat()})
        creds = parse_credentials(body.encode(), role="aemm-role")
        return credential_process_document(creds, clock=clock, rng=random.Random(1), logger=log)

    valid = document(3600)
    assert _epoch(str(valid["Expiration"])) == int(clock.time()) + 3600
    for left in (-86400.0, 30.0):
        extended = _epoch(str(document(left)["Expiration"]))
        assert clock.time() + 20 * 60 - 1 <= extended <= clock.time() + 30 * 60


def test_boto3_reads_expired_credentials_through_a_credential_process_profile(
    aemm: IMDSSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3, whose only source is `credential_process = python -m imdsclient ...`, gets them."""
    boto3 = pytest.importorskip("boto3")
    config = tmp_path / "config"
    config.write_text(
        "[default]\n"
        f"credential_process = {sys.executable} -m imdsclient --endpoint {aemm.url} "
        "credential-process\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    credentials = boto3.Session(region_name="us-east-1").get_credentials()
    assert credentials.method == "custom-process"
    frozen = credentials.get_frozen_credentials()  # no RuntimeError: not expired
    assert frozen.access_key == "12345678901"
    assert frozen.token == AEMM_DOCUMENT["Token"]
    assert credentials._seconds_remaining() > 15 * 60  # the SDK will not re-run it on every call
