"""The simulator signs what it serves, with its own keys: verified with those, never with AWS's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imdsclient import IdentityVerificationError, verify_identity
from imdsclient.testing import SimulatorState
from imdsclient.testing._tree import pretty_json

FOLDER = "/latest/dynamic/instance-identity/"
KINDS = ("rsa2048", "signature", "pkcs7")


def get(state: SimulatorState, path: str) -> bytes:
    reply = state.handle("GET", path, {})
    assert reply.status == 200, (path, reply.status)
    return reply.body


def bodies(state: SimulatorState) -> dict[str, Any]:
    return {kind: get(state, FOLDER + kind) for kind in KINDS}


def test_the_listing_is_the_documented_one() -> None:
    """dynamic/instance-identity/ lists document, pkcs7, rsa2048 and signature."""
    listing = get(SimulatorState(), FOLDER).decode().split("\n")
    assert listing == ["document", "pkcs7", "rsa2048", "signature"]


def test_every_body_verifies_with_the_simulators_certificates() -> None:
    """rsa2048, signature and pkcs7 all verify over the exact document it serves."""
    state = SimulatorState()
    document = get(state, FOLDER + "document")
    verified = verify_identity(
        document, allow_dsa=True, certificates=state.identity_certificates, **bodies(state)
    )
    assert verified.methods == KINDS
    assert verified.raw == document
    assert verified.region == "us-east-1"
    assert not verified.certificate_expired


@pytest.mark.parametrize("kind", KINDS)
def test_no_body_verifies_with_awss_certificates(kind: str) -> None:
    """Against the bundled AWS certificates each of the simulator's bodies is rejected."""
    state = SimulatorState()
    document = get(state, FOLDER + "document")
    with pytest.raises(IdentityVerificationError) as caught:
        verify_identity(document, allow_dsa=True, **{kind: bodies(state)[kind]})
    assert caught.value.reason in ("unknown_signer", "bad_signature")


def test_identity_certificates_shape() -> None:
    """identity_certificates maps the document's region to a PEM per kind."""
    certs = SimulatorState().identity_certificates
    assert list(certs) == ["us-east-1"]
    assert sorted(certs["us-east-1"]) == sorted(KINDS)
    assert all(pem.startswith("-----BEGIN CERTIFICATE-----") for pem in certs["us-east-1"].values())


def test_signatures_follow_a_changed_document() -> None:
    """After set() of another document (another region), the bodies sign the new bytes."""
    state = SimulatorState()
    old = bodies(state)
    document = json.loads(get(state, FOLDER + "document"))
    document.update(region="eu-west-1", availabilityZone="eu-west-1b")
    state.set(FOLDER + "document", pretty_json(document))
    new = bodies(state)
    assert all(old[kind] != new[kind] for kind in ("rsa2048", "signature"))
    certs = state.identity_certificates
    assert list(certs) == ["eu-west-1"]
    verified = verify_identity(rsa2048=new["rsa2048"], certificates=certs)
    assert verified.region == "eu-west-1"
    with pytest.raises(IdentityVerificationError):  # old bodies, new document
        verify_identity(get(state, FOLDER + "document"), rsa2048=old["rsa2048"], certificates=certs)


def test_bodies_are_stable_while_the_document_is() -> None:
    """Asking twice gives the same bytes (signed once per document)."""
    state = SimulatorState()
    assert bodies(state) == bodies(state)


def test_a_tampered_body_set_by_a_test_is_served_verbatim() -> None:
    """set() wins over the generated signature, so tests can serve a broken one."""
    state = SimulatorState()
    state.set(FOLDER + "rsa2048", "AAAA")
    assert get(state, FOLDER + "rsa2048") == b"AAAA"


def test_no_signed_bodies_without_a_document() -> None:
    """A custom tree without an identity document has no signed endpoints."""
    state = SimulatorState({"instance-id": "i-1"})
    assert state.handle("GET", FOLDER + "rsa2048", {}).status == 404


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_the_simulators_messages(tmp_path: Path) -> None:
    """An independent verifier (openssl smime / dgst) accepts what the simulator signs."""
    state = SimulatorState()
    (tmp_path / "document").write_bytes(get(state, FOLDER + "document"))
    certs = state.identity_certificates["us-east-1"]
    for kind in ("rsa2048", "pkcs7"):
        message = tmp_path / f"{kind}.p7"
        message.write_bytes(
            b"-----BEGIN PKCS7-----\n" + get(state, FOLDER + kind) + b"\n-----END PKCS7-----\n"
        )
        (tmp_path / f"{kind}.pem").write_text(certs[kind], encoding="ascii")
        command = ["openssl", "smime", "-verify", "-inform", "PEM", "-in", str(message)]
        command += ["-certfile", str(tmp_path / f"{kind}.pem"), "-nointern", "-noverify"]
        run = subprocess.run(command, capture_output=True, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout == (tmp_path / "document").read_bytes()


_WITHOUT_EXTRA = """
import sys
sys.modules["cryptography"] = None  # as if the [verify] extra were not installed
sys.modules["asn1crypto"] = None
from imdsclient.testing import SimulatorState
state = SimulatorState()
folder = "/latest/dynamic/instance-identity/"
print(state.handle("GET", folder, {}).body.decode().replace("\\n", ","))
print(state.handle("GET", folder + "document", {}).status)
print(state.handle("GET", folder + "rsa2048", {}).status)
try:
    state.identity_certificates
except ImportError as exc:
    print("ImportError", exc)
"""


def test_without_the_extra_the_simulator_serves_everything_but_signatures() -> None:
    """No cryptography: the document is served, signed endpoints are 404 and unlisted."""
    run = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRA], capture_output=True, text=True, check=True
    )
    listing, document, rsa2048, error = run.stdout.strip().split("\n")
    assert listing == "document"
    assert (document, rsa2048) == ("200", "404")
    assert error.startswith("ImportError")
    assert "imdsclient[verify]" in error


def test_a_simulator_loads_cryptography_only_when_it_signs() -> None:
    """Serving unsigned paths and listings imports neither cryptography nor asn1crypto."""
    code = (
        "import sys; from imdsclient.testing import SimulatorState; s = SimulatorState(); "
        "s.handle('GET', '/latest/dynamic/instance-identity/', {}); "
        "s.handle('GET', '/latest/meta-data/instance-id', {}); "
        "print(sorted(m for m in ('cryptography', 'asn1crypto') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
