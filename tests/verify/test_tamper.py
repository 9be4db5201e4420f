"""One byte changed anywhere is rejected, and whatever comes in, the only failure is a rejection."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imdsclient import IdentityVerificationError, verify_identity
from tests.verify._samples import sample

CLOUDINIT = sample("cloudinit")
METAPHOR = sample("metaphor")
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def der(body: str) -> bytes:
    return base64.b64decode("".join(body.split()))


def rejected(**kwargs: object) -> bool:
    """True when verify_identity raises IdentityVerificationError (any other outcome: False)."""
    try:
        verify_identity(allow_dsa=True, **kwargs)  # type: ignore[arg-type]
    except IdentityVerificationError:
        return True
    return False


@pytest.mark.parametrize(
    ("s", "kind"),
    [(CLOUDINIT, "rsa2048"), (CLOUDINIT, "pkcs7"), (METAPHOR, "rsa2048")],
    ids=["rsa2048-2018", "pkcs7-2018", "rsa2048-2026"],
)
@pytest.mark.parametrize("flip", [0x01, 0x80])
def test_every_byte_of_a_pkcs7_message_matters(s: object, kind: str, flip: int) -> None:
    """Flipping one bit in any byte of the message (signed or not) makes it fail."""
    original = der(s.bodies[kind])  # type: ignore[attr-defined]
    survivors = []
    for index in range(len(original)):
        changed = bytearray(original)
        changed[index] ^= flip
        if not rejected(**{kind: base64.b64encode(bytes(changed))}):
            survivors.append(index)
    assert survivors == []


def test_every_byte_of_a_signed_document_matters() -> None:
    """One byte of the document changed: the signature fails, and so does a mismatch."""
    document, body = CLOUDINIT.document, CLOUDINIT.bodies
    survivors = []
    for index in range(len(document)):
        changed = bytearray(document)
        changed[index] ^= 0x01
        if not rejected(document=bytes(changed), signature=body["signature"]):
            survivors.append(("signature", index))
        if not rejected(document=bytes(changed), rsa2048=body["rsa2048"]):
            survivors.append(("rsa2048", index))
    assert survivors == []


def test_every_byte_of_a_bare_signature_matters() -> None:
    """One bit flipped anywhere in the RSA signature fails it."""
    signature = der(CLOUDINIT.bodies["signature"])
    for index in range(len(signature)):
        changed = bytearray(signature)
        changed[index] ^= 0x01
        body = base64.b64encode(bytes(changed))
        assert rejected(document=CLOUDINIT.document, signature=body), index


@FUZZ
@given(st.binary(max_size=2048))
def test_random_der_is_rejected(data: bytes) -> None:
    """Arbitrary bytes, base64-encoded, are rejected (never another exception)."""
    for kind in ("rsa2048", "pkcs7"):
        assert rejected(**{kind: base64.b64encode(data)})
    assert rejected(document=data, signature=base64.b64encode(data))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_is_rejected(text: str) -> None:
    """Arbitrary text as a body or document is rejected."""
    assert rejected(rsa2048=text)
    assert rejected(document=text, signature=text)
    assert rejected(document=text, rsa2048=CLOUDINIT.bodies["rsa2048"])


@FUZZ
@given(st.data())
def test_mangled_messages_are_rejected(data: st.DataObject) -> None:
    """Real BER truncated, with bytes inserted, deleted or overwritten, is always rejected."""
    original = bytearray(der(CLOUDINIT.bodies["rsa2048"]))
    start = data.draw(st.integers(0, len(original) - 1), label="start")
    action = data.draw(st.sampled_from(["truncate", "insert", "delete", "overwrite"]))
    if action == "truncate":
        changed = original[:start]
    elif action == "insert":
        changed = original[:start] + data.draw(st.binary(min_size=1, max_size=8)) + original[start:]
    elif action == "delete":
        length = data.draw(st.integers(1, 16))
        changed = original[:start] + original[start + length :]
    else:
        patch = data.draw(st.binary(min_size=1, max_size=8))
        changed = original[:start] + patch + original[start + len(patch) :]
        if changed == original:
            return
    assert rejected(rsa2048=base64.b64encode(bytes(changed)))
