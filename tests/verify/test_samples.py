"""verify_identity() against real AWS-signed documents: accepted, tampered, substituted, aged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from imdsclient import (
    IdentityVerificationError,
    IMDSError,
    InstanceIdentityDocument,
    VerifiedIdentity,
    bundled_identity_certificates,
    verify_identity,
)
from tests.verify._samples import DATA, REAL, TAMPERED, Sample, sample

UTC = timezone.utc
CLOUDINIT = sample("cloudinit")  # us-east-2 with all three endpoints
METAPHOR = sample("metaphor")  # ap-southeast-2, 2026 encoding (CMSAlgorithmProtection)
TELEPORT = sample("teleport")  # us-west-1, rsa2048 only
RSPAMD = sample("rspamd")  # us-east-1, signature only
VAULT = sample("vault")  # us-east-1, pkcs7 only (2016)

ONE_ENDPOINT = [(s, kind) for s in REAL for kind in s.bodies]


def reject(reason: str | None = None, **kwargs: object) -> IdentityVerificationError:
    """Call verify_identity and return the IdentityVerificationError it must raise."""
    with pytest.raises(IdentityVerificationError) as caught:
        verify_identity(**kwargs)  # type: ignore[arg-type]
    if reason is not None:
        assert caught.value.reason == reason, str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("s", "kind"), ONE_ENDPOINT, ids=[f"{s.name}-{k}" for s, k in ONE_ENDPOINT]
)
def test_every_real_sample_verifies_with_each_endpoint(s: Sample, kind: str) -> None:
    """Each real sample is accepted with each endpoint it has, reporting region and instance."""
    document = s.document if kind == "signature" else None
    verified = verify_identity(document, allow_dsa=True, **{kind: s.bodies[kind]})
    assert isinstance(verified, VerifiedIdentity)
    assert isinstance(verified.document, InstanceIdentityDocument)
    assert (verified.region, verified.document.instance_id) == (s.region, s.instance_id)
    assert verified.method == kind
    assert verified.raw == s.document
    assert s.expected[kind] == "ACCEPT"


@pytest.mark.parametrize("s", REAL, ids=[s.name for s in REAL])
def test_every_real_sample_verifies_with_all_its_endpoints_at_once(s: Sample) -> None:
    """All endpoints together (and the document) verify; the strongest method is reported."""
    verified = verify_identity(s.document, allow_dsa=True, **s.bodies)
    order = [k for k in ("rsa2048", "signature", "pkcs7") if k in s.bodies]
    assert verified.methods == tuple(order)
    assert verified.method == order[0]
    assert verified.document.account_id == verified.document.model_dump()["account_id"]


@pytest.mark.parametrize("s", TAMPERED, ids=[s.name for s in TAMPERED])
def test_every_tampered_sample_is_rejected(s: Sample) -> None:
    """The negative samples (one byte changed) are rejected: the signature does not verify."""
    (kind,) = s.bodies
    assert s.expected[kind] == "REJECT"
    error = reject("bad_signature", document=s.document, **{kind: s.bodies[kind]})
    assert s.region in str(error)
    assert isinstance(error, IMDSError)


def test_str_and_bytes_inputs_are_equivalent() -> None:
    """Bodies and documents may be str or bytes; base64 whitespace does not matter."""
    text = verify_identity(CLOUDINIT.document.decode(), signature=CLOUDINIT.bodies["signature"])
    raw = verify_identity(
        CLOUDINIT.document, signature=CLOUDINIT.bodies["signature"].replace("\n", "").encode()
    )
    assert text == raw


def test_the_document_returned_is_the_signed_one() -> None:
    """With rsa2048 alone, the document comes from the signed content."""
    verified = verify_identity(rsa2048=TELEPORT.bodies["rsa2048"])
    assert verified.raw == TELEPORT.document
    assert verified.document.pending_time == datetime(2021, 9, 11, 0, 14, 18, tzinfo=UTC)


def test_substituted_document_is_rejected() -> None:
    """A genuine rsa2048 with another instance's genuine document is an identity substitution."""
    error = reject(
        "content_mismatch", document=TELEPORT.document, rsa2048=CLOUDINIT.bodies["rsa2048"]
    )
    assert "not the one signed in rsa2048" in str(error)


def test_document_must_equal_the_signed_bytes_exactly() -> None:
    """Even a trailing newline (same JSON) makes a separately given document not match."""
    reject(
        "content_mismatch",
        document=CLOUDINIT.document + b"\n",
        rsa2048=CLOUDINIT.bodies["rsa2048"],
    )


def test_signatures_over_different_documents_are_rejected() -> None:
    """Every signature given must be over the same document."""
    reject(
        "content_mismatch",
        rsa2048=TELEPORT.bodies["rsa2048"],
        pkcs7=VAULT.bodies["pkcs7"],
        allow_dsa=True,
    )
    reject(
        "bad_signature",
        document=METAPHOR.document,
        rsa2048=METAPHOR.bodies["rsa2048"],
        signature=RSPAMD.bodies["signature"],
    )


def test_every_signature_given_must_verify() -> None:
    """One good and one tampered signature: rejected, whichever is stronger."""
    tampered = sample("tampered-rsa2048")
    reject(
        "bad_signature",
        document=CLOUDINIT.document,
        signature=CLOUDINIT.bodies["signature"],
        rsa2048=tampered.bodies["rsa2048"],
    )


def test_pkcs7_is_refused_unless_allowed() -> None:
    """DSA/SHA-1 pkcs7 needs allow_dsa=True, even next to a good rsa2048."""
    error = reject("dsa_refused", pkcs7=VAULT.bodies["pkcs7"])
    assert "allow_dsa=True" in str(error)
    reject("dsa_refused", rsa2048=CLOUDINIT.bodies["rsa2048"], pkcs7=CLOUDINIT.bodies["pkcs7"])
    assert verify_identity(pkcs7=VAULT.bodies["pkcs7"], allow_dsa=True).method == "pkcs7"


def test_a_signature_is_required_and_signature_needs_the_document() -> None:
    """Nothing to verify, or a bare signature without its document, is a rejection."""
    reject("no_signature", document=CLOUDINIT.document)
    reject("no_signature")
    reject("no_document", signature=CLOUDINIT.bodies["signature"])


def test_max_age_both_ways() -> None:
    """max_age accepts a recent pendingTime and rejects an old one (seconds or timedelta)."""
    pending = datetime(2018, 10, 5, 20, 10, 43, tzinfo=UTC)
    body = CLOUDINIT.bodies["rsa2048"]
    ok = verify_identity(rsa2048=body, max_age=3600, now=pending + timedelta(minutes=59))
    assert ok.region == "us-east-2"
    verify_identity(rsa2048=body, max_age=timedelta(hours=1), now=pending + timedelta(hours=1))
    error = reject("too_old", rsa2048=body, max_age=3600, now=pending + timedelta(seconds=3601))
    assert "pendingTime 2018-10-05T20:10:43Z" in str(error)
    reject("too_old", rsa2048=body, max_age=timedelta(0), now=pending + timedelta(seconds=1))


def test_max_age_and_now_are_checked_as_arguments() -> None:
    """A negative or non-finite max_age and a naive now are usage errors, not rejections."""
    body = CLOUDINIT.bodies["rsa2048"]
    with pytest.raises(ValueError, match="negative"):
        verify_identity(rsa2048=body, max_age=-1)
    with pytest.raises(ValueError, match="finite"):
        verify_identity(rsa2048=body, max_age=float("nan"))
    with pytest.raises(TypeError):
        verify_identity(rsa2048=body, max_age="1h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_identity(rsa2048=body, now=datetime(2020, 1, 1))


def test_expired_certificate_is_reported_not_failed() -> None:
    """Trust is pinned on the key: after notAfter it still verifies, with the flag set."""
    body, document = RSPAMD.bodies["signature"], RSPAMD.document
    assert not verify_identity(document, signature=body).certificate_expired
    later = datetime(2030, 1, 1, tzinfo=UTC)  # the us-east-1 certificate ends 2029-04-28
    verified = verify_identity(document, signature=body, now=later)
    assert verified.certificate_expired
    assert verified.region == "us-east-1"


def test_signature_verifies_with_the_re_issued_certificate_of_the_same_key() -> None:
    """The 2014 shared certificate (expired 2024, same key) verifies a 2018 signature."""
    compiled = json.loads((DATA / "aws-iid-certificates.json").read_text(encoding="utf-8"))
    legacy = compiled["unlabelled_or_shared_certs"][0]["pem"]
    certs = {"us-east-2": {"signature": legacy}}
    verified = verify_identity(
        CLOUDINIT.document, signature=CLOUDINIT.bodies["signature"], certificates=certs
    )
    assert verified.certificate_expired  # 2024-06-05 has passed


def test_signer_of_another_region_is_rejected() -> None:
    """A trust store that names the right key under another region still rejects the document."""
    certs = bundled_identity_certificates()
    certs["us-east-2"]["rsa2048"], certs["us-west-1"]["rsa2048"] = (
        certs["us-west-1"]["rsa2048"],
        certs["us-east-2"]["rsa2048"],
    )
    error = reject("wrong_region", rsa2048=CLOUDINIT.bodies["rsa2048"], certificates=certs)
    assert "us-west-1" in str(error)
    assert "us-east-2" in str(error)


def test_signature_with_another_regions_key_is_rejected() -> None:
    """For `signature` the document's region picks the key: China's does not verify us-east-1."""
    certs = bundled_identity_certificates()
    certs["us-east-1"]["signature"] = certs["cn-north-1"]["signature"]
    reject(
        "bad_signature",
        document=RSPAMD.document,
        signature=RSPAMD.bodies["signature"],
        certificates=certs,
    )


def test_unknown_region_or_kind_is_rejected() -> None:
    """A region (or an endpoint of a region) the trust store lacks is a clear rejection."""
    error = reject("unknown_region", rsa2048=CLOUDINIT.bodies["rsa2048"], certificates={})
    assert "us-east-2" in str(error)
    certs = {"us-east-2": {"signature": bundled_identity_certificates()["us-east-2"]["signature"]}}
    error = reject("unknown_region", rsa2048=CLOUDINIT.bodies["rsa2048"], certificates=certs)
    assert "it has signature" in str(error)


def test_user_certificates_replace_the_bundle_and_can_extend_it() -> None:
    """certificates= replaces the bundle; the bundled mapping is a copy to extend."""
    certs = bundled_identity_certificates()
    only_west = {"us-west-1": certs["us-west-1"]}
    assert verify_identity(rsa2048=TELEPORT.bodies["rsa2048"], certificates=only_west)
    reject("unknown_region", rsa2048=CLOUDINIT.bodies["rsa2048"], certificates=only_west)
    certs["us-east-2"]["rsa2048"] = "not a certificate"
    assert bundled_identity_certificates()["us-east-2"]["rsa2048"].startswith("-----BEGIN")
    reject("certificates", rsa2048=CLOUDINIT.bodies["rsa2048"], certificates=certs)


def test_several_certificates_in_one_pem_are_all_trusted() -> None:
    """A region's PEM may hold a re-issued certificate next to the current one."""
    certs = bundled_identity_certificates()
    pem = certs["ap-southeast-2"]["rsa2048"]
    certs["us-west-1"]["rsa2048"] = pem + certs["us-west-1"]["rsa2048"]
    verified = verify_identity(rsa2048=TELEPORT.bodies["rsa2048"], certificates=certs)
    assert verified.region == "us-west-1"


def test_rejection_messages_say_what_to_do() -> None:
    """str() is what did not match, then the hint; .reason is a stable key."""
    error = reject("bad_signature", **sample("tampered-rsa2048").bodies)
    assert str(error).startswith("The rsa2048 signature does not verify")
    assert "Do not trust this identity" in str(error)
    assert error.status is None
    assert "IdentityVerificationError" in repr(error)
