"""PKCS#7 / CMS SignedData as IMDS serves it (``rsa2048``, ``pkcs7``), and the bare ``signature``.

``asn1crypto`` parses the BER (AWS's messages use indefinite lengths); ``cryptography`` checks
the signatures.  This is the only module importing either at its top, and it is imported only
when a signature is verified, so ``import imdsclient`` never pays for them.

What a message must be to verify (RFC 5652, and how AWS signs):

* a ContentInfo of type signedData, nothing after it; the encapsulated content is ``data`` and
  present (the document itself);
* **no certificates of its own**: a message that carries any is refused, never "verified"
  against them; the signer is identified by issuer and serial number and looked up in the
  caller's trust store;
* exactly one SignerInfo with signed attributes: exactly one ``contentType`` (``data``) and one
  ``messageDigest`` (the digest of the content); ``cmsAlgorithmProtection``, when present, names
  the same algorithms; no attribute type twice;
* the signature is over the DER encoding of the SET OF signed attributes (the ``[0]`` tag
  replaced by SET, as RFC 5652 §5.4 says).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, core
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa

from imdsclient._trust import Certificates, TrustedCertificate, elsewhere, short
from imdsclient.errors import IdentityVerificationError

__all__ = ["SignedMessage", "parse_signed_data", "verify_bare_signature", "verify_signed_data"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: Signature algorithm (asn1crypto's name) → (key family, the digest it names or None).
_SIGNATURE_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "rsassa_pkcs1v15": ("rsa", None),
    "sha1_rsa": ("rsa", "sha1"),
    "sha256_rsa": ("rsa", "sha256"),
    "sha384_rsa": ("rsa", "sha384"),
    "sha512_rsa": ("rsa", "sha512"),
    "dsa": ("dsa", None),
    "sha1_dsa": ("dsa", "sha1"),
    "sha256_dsa": ("dsa", "sha256"),
}
#: ``rsa2048`` is SHA-256 with RSA; SHA-1 and DSA are only for the legacy ``pkcs7`` endpoint.
_ALLOWED = {
    "rsa2048": ({"sha256", "sha384", "sha512"}, {"rsa"}),
    "pkcs7": ({"sha1", "sha256", "sha384", "sha512"}, {"rsa", "dsa"}),
}


#: The signed attributes whose values verification reads.
_READ = frozenset({"content_type", "message_digest", "cms_algorithm_protection"})


def _fail(message: str, reason: str) -> IdentityVerificationError:
    return IdentityVerificationError(message, reason=reason)


@dataclass(frozen=True)
class SignedMessage:
    """The parts of a SignedData that verification needs, already checked for shape."""

    kind: str
    content: bytes
    issuer: bytes  # DER of the signer's issuer Name, compared byte for byte
    issuer_text: str
    serial: int
    digest: str
    family: str
    message_digest: bytes
    signed_attributes: bytes  # DER of the SET OF attributes: what the signature covers
    signature: bytes


def parse_signed_data(der: bytes, kind: str) -> SignedMessage:
    """Parse and shape-check one message; every problem is an ``IdentityVerificationError``."""
    try:
        return _parse(der, kind)
    except IdentityVerificationError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, ... on bad BER
        raise _fail(
            f"{kind} is not a well-formed PKCS#7 SignedData message ({type(exc).__name__})",
            "malformed",
        ) from None


def _parse(der: bytes, kind: str) -> SignedMessage:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise _fail(
            f"{kind} is a PKCS#7 {short(info['content_type'].native)} message, not signedData",
            "malformed",
        )
    signed = info["content"]
    certificates = signed["certificates"]
    if not isinstance(certificates, core.Void) and len(certificates):
        raise _fail(
            f"{kind} carries {len(certificates)} certificate(s) of its own; certificates inside "
            "a message are never trusted, and AWS's messages carry none",
            "embedded_certificates",
        )
    # asn1crypto parses lazily: parse every part the signature does not cover now, so that no
    # byte goes unread (the signed attributes are covered by the signature itself).
    _parse_all(signed, ("version", "digest_algorithms", "encap_content_info", "crls"))
    if signed["version"].native != "v1":
        raise _fail(f"{kind} is SignedData {short(signed['version'].native)}, not v1", "malformed")
    if not isinstance(signed["crls"], core.Void):
        raise _fail(f"{kind} carries revocation lists; AWS's messages carry none", "malformed")
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "data":
        raise _fail(
            f"{kind} signs content of type {short(encap['content_type'].native)}, not data",
            "malformed",
        )
    content = encap["content"].native
    if not isinstance(content, bytes) or not content:
        raise _fail(f"{kind} carries no content (a detached signature)", "malformed")
    signer_infos = signed["signer_infos"]
    if len(signer_infos) != 1:
        raise _fail(f"{kind} has {len(signer_infos)} signers; AWS's messages have one", "malformed")
    signer = signer_infos[0]
    _parse_all(signer, ("version", "sid", "digest_algorithm", "signature_algorithm", "signature"))
    if not isinstance(signer["unsigned_attrs"], core.Void):
        raise _fail(f"{kind} has unsigned attributes; AWS's messages have none", "malformed")
    if signer["version"].native != "v1":
        raise _fail(
            f"{kind}'s SignerInfo is {short(signer['version'].native)}, not v1", "malformed"
        )
    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise _fail(
            f"{kind} names its signer by {sid.name}; AWS's messages use issuer and serial",
            "malformed",
        )
    digest = signer["digest_algorithm"]["algorithm"].native
    algorithm = signer["signature_algorithm"]["algorithm"].native
    family, named_digest = _SIGNATURE_ALGORITHMS.get(algorithm, (None, None))
    digests, families = _ALLOWED[kind]
    if digest not in digests:
        raise _fail(f"{kind} uses the digest {short(digest)}, not accepted for {kind}", "algorithm")
    if family not in families or named_digest not in (None, digest):
        raise _fail(
            f"{kind} uses the signature algorithm {short(algorithm)} with {short(digest)}, "
            f"not accepted for {kind}",
            "algorithm",
        )
    assert family is not None
    listed = [(a["algorithm"].native, a["parameters"].native) for a in signed["digest_algorithms"]]
    if listed != [(digest, None)]:
        raise _fail(
            f"{kind} lists other digest algorithms than its signer's {short(digest)}", "algorithm"
        )
    if signer["digest_algorithm"]["parameters"].native is not None or (
        signer["signature_algorithm"]["parameters"].native is not None
    ):
        raise _fail(f"{kind} gives its algorithms unexpected parameters", "algorithm")
    attributes = signer["signed_attrs"]
    raw = b"" if isinstance(attributes, core.Void) else attributes.dump()
    if not raw:
        raise _fail(f"{kind} has no signed attributes; AWS's messages sign them", "malformed")
    if raw[0] != 0xA0 or raw[1] == 0x80:
        raise _fail(f"{kind}'s signed attributes are not DER-encoded", "malformed")
    values = _attributes(attributes, kind)
    if values.get("content_type") != "data":
        raise _fail(f"{kind}'s signed contentType is not data", "malformed")
    protection = values.get("cms_algorithm_protection")
    if protection is not None and (
        protection["digest_algorithm"]["algorithm"] != digest
        or (protection["signature_algorithm"] or {}).get("algorithm") != algorithm
    ):
        raise _fail(
            f"{kind}'s signed cmsAlgorithmProtection names other algorithms than its signer",
            "algorithm",
        )
    message_digest = values.get("message_digest")
    if not isinstance(message_digest, bytes):
        raise _fail(f"{kind} has no signed messageDigest", "malformed")
    issuer = sid.chosen["issuer"]
    return SignedMessage(
        kind=kind,
        content=content,
        issuer=issuer.dump(),
        issuer_text=issuer.human_friendly,
        serial=int(sid.chosen["serial_number"].native),
        digest=digest,
        family=family,
        message_digest=message_digest,
        signed_attributes=b"\x31" + raw[1:],
        signature=bytes(signer["signature"].native),
    )


def _parse_all(value: Any, fields: tuple[str, ...]) -> None:
    """Parse these fields completely now (errors surface here, as ``ValueError`` and such)."""
    for name in fields:
        value[name].native  # noqa: B018 (for the side effect: a full parse)


def _attributes(attributes: Any, kind: str) -> dict[str, Any]:
    """Signed attribute type → its single value; an error for duplicates or multi-values."""
    values: dict[str, Any] = {}
    for attribute in attributes:
        name = attribute["type"].native
        if name in values:
            raise _fail(f"{kind} signs the attribute {short(name)} twice", "malformed")
        if len(attribute["values"]) != 1:
            raise _fail(f"{kind}'s signed attribute {short(name)} has several values", "malformed")
        # Only the attributes verification reads are parsed: the rest are covered by the
        # signature, and asn1crypto's schema for some (smimeCapabilities) is stricter than
        # what OpenSSL writes.
        values[name] = (
            attribute["values"][0] if name not in _READ else attribute["values"][0].native
        )
    return values


def _verify(key: Any, family: str, signature: bytes, data: bytes, digest: str) -> bool:
    algorithm = _HASHES[digest]()
    try:
        if family == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
            return True
        if family == "dsa" and isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, algorithm)
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


def verify_signed_data(
    message: SignedMessage,
    candidates: tuple[TrustedCertificate, ...],
    region: str,
    certificates: Certificates,
) -> TrustedCertificate:
    """Check a parsed message against the region's trusted certificates; the one that signed."""
    kind = message.kind
    signer = [c for c in candidates if c.serial == message.serial and c.issuer == message.issuer]
    if not signer:
        named = f"issuer {short(message.issuer_text)!r}, serial {short(f'{message.serial:X}')}"
        others = elsewhere(certificates, kind, message.serial, message.issuer)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise _fail(
                f"{kind} is signed by the certificate of {shown} ({named}), "
                f"but the document says region {short(region)!r}",
                "wrong_region",
            )
        trusted = ", ".join(c.describe() for c in candidates)
        raise _fail(
            f"{kind} is signed by {named}, which is not the trusted {kind} certificate for "
            f"region {short(region)!r} ({trusted})",
            "unknown_signer",
        )
    hasher = hashes.Hash(_HASHES[message.digest]())
    hasher.update(message.content)
    if not hmac.compare_digest(hasher.finalize(), message.message_digest):
        raise _fail(
            f"{kind}'s signed messageDigest is not the digest of its content", "digest_mismatch"
        )
    for cert in signer:
        if _verify(
            cert.public_key,
            message.family,
            message.signature,
            message.signed_attributes,
            message.digest,
        ):
            return cert
    raise _fail(
        f"The {kind} signature does not verify with the trusted certificate for region "
        f"{short(region)!r} ({signer[0].describe()})",
        "bad_signature",
    )


def verify_bare_signature(
    signature: bytes, document: bytes, candidates: tuple[TrustedCertificate, ...], region: str
) -> TrustedCertificate:
    """The ``signature`` endpoint: RSA PKCS#1 v1.5 over SHA-256 of the document's bytes."""
    for cert in candidates:
        if _verify(cert.public_key, "rsa", signature, document, "sha256"):
            return cert
    trusted = ", ".join(c.describe() for c in candidates)
    raise _fail(
        f"The signature does not verify over the document with the trusted signature "
        f"certificate for region {short(region)!r} ({trusted})",
        "bad_signature",
    )
