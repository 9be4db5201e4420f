"""verified_identity() on both clients against the simulator: two GETs once, then none."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from imdsclient import IdentityVerificationError, VerifiedIdentity
from imdsclient.testing import IMDSSimulator
from tests.conftest import MakeClient

FOLDER = "/latest/dynamic/instance-identity/"


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator


def gets(sim: IMDSSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "GET"]


def test_first_call_two_gets_then_none(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """The document and rsa2048 are fetched once per client; later calls only verify."""
    client = make_client(endpoint=sim.url)
    first = client.verified_identity(certificates=sim.identity_certificates)
    assert isinstance(first, VerifiedIdentity)
    assert (first.method, first.region) == ("rsa2048", "us-east-1")
    assert first.document.instance_id == "i-1234567890abcdef0"
    assert gets(sim) == [FOLDER + "document", FOLDER + "rsa2048"]
    second = client.verified_identity(certificates=sim.identity_certificates)
    assert second == first
    assert len(gets(sim)) == 2
    assert sim.count("PUT") == 1


def test_awss_certificates_reject_the_simulator(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """With the bundled AWS certificates the simulator's identity is rejected, and not cached."""
    client = make_client(endpoint=sim.url)
    with pytest.raises(IdentityVerificationError) as caught:
        client.verified_identity()
    assert caught.value.reason == "unknown_signer"
    assert client.verified_identity(certificates=sim.identity_certificates).region == "us-east-1"
    assert len(gets(sim)) == 4  # the failed bodies were not kept


def test_a_tampered_rsa2048_is_rejected(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """What IMDS serves is checked: a broken body fails the call."""
    sim.set(FOLDER + "rsa2048", "AAAA")
    with pytest.raises(IdentityVerificationError):
        make_client(endpoint=sim.url).verified_identity(certificates=sim.identity_certificates)


def test_no_rsa2048_needs_allow_dsa(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """Where rsa2048 is 404, allow_dsa=True verifies pkcs7; otherwise a clear rejection."""
    certs = sim.identity_certificates
    sim.delete(FOLDER + "rsa2048")
    client = make_client(endpoint=sim.url)
    with pytest.raises(IdentityVerificationError) as caught:
        client.verified_identity(certificates=certs)
    assert (caught.value.status, caught.value.path) == (404, FOLDER + "rsa2048")
    assert "allow_dsa=True" in str(caught.value)
    verified = client.verified_identity(certificates=certs, allow_dsa=True)
    assert verified.method == "pkcs7"


def test_parity_of_the_signature() -> None:
    """Both shells take the same keyword-only arguments."""
    import inspect

    from imdsclient import AsyncIMDSClient, IMDSClient

    for cls in (IMDSClient, AsyncIMDSClient):
        params = inspect.signature(cls.verified_identity).parameters
        assert list(params) == ["self", "certificates", "allow_dsa"]
        assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name != "self")


_LAZY = """
import sys
import imdsclient
from imdsclient import (
    IdentityVerificationError, VerifiedIdentity, bundled_identity_certificates,
    identity_certificates_date, verify_identity,
)
bundled_identity_certificates()
print(sorted(m for m in ("cryptography", "asn1crypto", "pydantic", "httpx") if m in sys.modules))
"""


def test_import_and_names_do_not_load_the_extra() -> None:
    """The verification names and the bundle load neither cryptography nor asn1crypto."""
    run = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


_NO_EXTRA = """
import sys
sys.modules["cryptography"] = None  # as if the [verify] extra were not installed
import imdsclient
try:
    imdsclient.verify_identity(rsa2048="AAAA")
except imdsclient.IdentityVerificationError:
    print("wrong class")
except imdsclient.IMDSError as exc:
    print(type(exc).__name__, str(exc))
"""


def test_without_the_extra_the_error_names_the_install_command() -> None:
    """verify_identity without cryptography raises an IMDSError naming the extra."""
    run = subprocess.run(
        [sys.executable, "-c", _NO_EXTRA], capture_output=True, text=True, check=True
    )
    assert run.stdout.startswith("IMDSError ")
    assert "pip install 'imdsclient[verify]'" in run.stdout
