"""PKCS#7 structure checks: messages built here, each wrong in one way, are rejected for that."""

from __future__ import annotations

import base64

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from imdsclient import IdentityVerificationError, verify_identity
from tests.verify._build import DOCUMENT, REGION, attributes, build, certificates, signer


def reject(reason: str, body: str, **kwargs: object) -> IdentityVerificationError:
    """verify_identity(rsa2048=body) against the test certificate must fail for ``reason``."""
    kwargs.setdefault("certificates", certificates())
    with pytest.raises(IdentityVerificationError) as caught:
        verify_identity(rsa2048=body, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == reason, str(caught.value)
    return caught.value


def cryptography_message(*options: pkcs7.PKCS7Options) -> str:
    """The document signed by cryptography's own PKCS#7 builder (an independent encoder)."""
    who = signer()
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DOCUMENT)
        .add_signer(who.cert, who.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, *options])
    )
    return base64.b64encode(der).decode("ascii")


def test_a_well_formed_message_verifies() -> None:
    """The baseline: this builder's message verifies with the test certificate."""
    verified = verify_identity(rsa2048=build(), certificates=certificates())
    assert (verified.region, verified.raw) == (REGION, DOCUMENT)


def test_cryptographys_message_without_certificates_verifies() -> None:
    """A message from another encoder (cryptography, NoCerts) verifies too."""
    body = cryptography_message(pkcs7.PKCS7Options.NoCerts)
    assert verify_identity(rsa2048=body, certificates=certificates()).raw == DOCUMENT


def test_a_message_carrying_its_own_certificate_is_rejected() -> None:
    """Even when the embedded certificate is the trusted one, a message with certificates fails."""
    error = reject("embedded_certificates", cryptography_message())
    assert "never trusted" in str(error)


def test_a_message_whose_embedded_certificate_is_untrusted_is_rejected() -> None:
    """The classic attack: sign with any key, embed its certificate; never verified against it."""
    body = cryptography_message()
    reject("embedded_certificates", body, certificates={})


def test_message_digest_must_be_the_contents_digest() -> None:
    """A signed messageDigest over other bytes fails even though the signature is valid."""
    attrs = attributes(message_digest=b"\0" * 32)
    reject("digest_mismatch", build(signed_attrs=attrs))


@pytest.mark.parametrize("content_type", [None, "signed_data"])
def test_signed_content_type_must_be_data(content_type: str | None) -> None:
    """contentType must be signed, once, and say data."""
    reject("malformed", build(signed_attrs=attributes(content_type=content_type)))


def test_an_attribute_signed_twice_is_rejected() -> None:
    """Two messageDigest attributes: ambiguous, so rejected."""
    twice = attributes(extra=[cms.CMSAttribute({"type": "message_digest", "values": [b"x"]})])
    reject("malformed", build(signed_attrs=twice))


def test_signed_attributes_are_required() -> None:
    """A signature straight over the content (no signed attributes) is not AWS's shape."""
    reject("malformed", build(signed_attrs=None))


def test_algorithm_protection_must_match_the_signer() -> None:
    """cmsAlgorithmProtection naming other algorithms is rejected; naming the same is fine."""

    def protection(digest: str, signature: str) -> cms.CMSAttribute:
        value = cms.CMSAlgorithmProtection(
            {
                "digest_algorithm": {"algorithm": digest},
                "signature_algorithm": {"algorithm": signature},
            }
        )
        return cms.CMSAttribute({"type": "cms_algorithm_protection", "values": [value]})

    same = attributes(extra=[protection("sha256", "sha256_rsa")])
    body = build(signed_attrs=same, signature_algorithm="sha256_rsa")
    assert verify_identity(rsa2048=body, certificates=certificates()).method == "rsa2048"
    other = attributes(extra=[protection("sha512", "sha256_rsa")])
    reject("algorithm", build(signed_attrs=other, signature_algorithm="sha256_rsa"))


def test_rsa2048_must_not_use_sha1() -> None:
    """SHA-1 is accepted only on the legacy pkcs7 endpoint."""
    reject("algorithm", build(digest="sha1"))


def test_signature_algorithm_must_fit_the_digest() -> None:
    """sha512WithRSA named with a SHA-256 digest is inconsistent."""
    reject("algorithm", build(signature_algorithm="sha512_rsa"))


def test_dsa_is_not_accepted_for_rsa2048() -> None:
    """A DSA signer on the rsa2048 endpoint is refused by algorithm."""
    who = signer("dsa")
    reject("algorithm", build(who=who), certificates=certificates(who=who))


def test_the_listed_digest_algorithms_must_be_the_signers() -> None:
    """SignedData.digestAlgorithms is not signed, so anything but the signer's is refused."""
    reject("algorithm", build(digest_algorithms=["sha256", "sha512"]))


def test_one_signer_exactly() -> None:
    """Two SignerInfos are refused (AWS has one; 'every signature' would be ambiguous)."""
    reject("malformed", build(signer_count=2))


def test_signer_must_be_named_by_issuer_and_serial() -> None:
    """A subject key identifier signer is refused."""
    sid = cms.SignerIdentifier({"subject_key_identifier": b"\x01" * 20})
    reject("malformed", build(sid=sid))


def test_content_must_be_present_and_data() -> None:
    """A detached signature, or content of another type, is refused."""
    reject("malformed", build(content=False))
    reject("malformed", build(content_type="signed_data", content=False))


def test_signed_data_version_must_be_v1() -> None:
    """SignedData version is unsigned; anything but AWS's v1 is refused."""
    reject("malformed", build(version="v3"))


def test_unsigned_attributes_are_refused() -> None:
    """Unsigned attributes (not covered by the signature; AWS has none) are refused."""
    reject("malformed", build(unsigned_attrs=attributes()))


def test_nothing_may_follow_the_message() -> None:
    """Trailing bytes after the ContentInfo are malformed."""
    reject("malformed", build(trailing=b"\0\0"))


def test_a_signature_by_another_key_is_rejected() -> None:
    """Right issuer and serial, but signed by another key: the pinned key decides."""
    impostor = signer("rsa", name="impostor")
    reject("bad_signature", build(key=impostor.key))


def test_an_unknown_signer_is_named_in_the_message() -> None:
    """A signer whose issuer and serial no trusted certificate has: unknown_signer."""
    impostor = signer("rsa", name="impostor")
    error = reject("unknown_signer", build(who=impostor))
    assert "impostor" in str(error)


def test_the_signed_content_must_be_an_identity_document() -> None:
    """A genuine signature over something else is rejected as document."""
    reject("document", build(document=b"hello"))
    reject("document", build(document=b'{"region": 5}'))


def test_messages_about_untrusted_input_stay_short() -> None:
    """A forged document with a huge region, or a huge serial, does not make a huge message."""
    document = DOCUMENT.replace(b'"region" : "eu-west-1"', b'"region" : "' + b"x" * 5000 + b'"')
    error = reject("unknown_region", build(document=document))
    assert len(str(error)) < 600
    certs = {"x" * 5000: {"rsa2048": signer().pem}}
    body = build(document=document, who=signer("rsa", "a" * 3000))
    error = reject("unknown_signer", body, certificates=certs)
    assert len(str(error)) < 800


def test_pem_armour_and_whitespace_are_tolerated() -> None:
    """A body wrapped as a PEM PKCS7 block, or re-wrapped, still verifies."""
    body = build()
    armoured = "-----BEGIN PKCS7-----\n" + "\n".join(
        body[i : i + 64] for i in range(0, len(body), 64)
    )
    armoured += "\n-----END PKCS7-----\n"
    assert verify_identity(rsa2048=armoured, certificates=certificates()).raw == DOCUMENT
    assert verify_identity(rsa2048=" \t" + body + "\r\n", certificates=certificates())


@pytest.mark.parametrize(
    "body",
    ["", "!!!!", "QUJD", "é", "A" * 70_000, "-----BEGIN PKCS7-----\n-----END PKCS7-----"],
    ids=["empty", "not-base64", "not-der", "non-ascii", "huge", "empty-pem"],
)
def test_malformed_bodies_are_rejected(body: str) -> None:
    """Anything that is not a base64 DER/BER SignedData is malformed."""
    reject("malformed", body)


def test_a_non_text_body_is_a_type_error() -> None:
    """Passing something that is neither str nor bytes is a programming error."""
    with pytest.raises(TypeError):
        verify_identity(rsa2048=12)  # type: ignore[arg-type]


def test_trusted_pem_that_is_not_a_certificate_is_reported() -> None:
    """A trust store entry that cannot be read fails with reason certificates."""
    key = (
        signer()
        .key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    reject("certificates", build(), certificates={REGION: {"rsa2048": key.decode()}})
