"""PKCS#7 messages built in tests, each with one thing wrong, signed by a throwaway test key."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa
from cryptography.x509.oid import NameOID

__all__ = ["DOCUMENT", "REGION", "Signer", "attributes", "build", "certificates", "signer"]

REGION = "eu-west-1"
DOCUMENT = (
    b'{\n  "accountId" : "111122223333",\n  "availabilityZone" : "eu-west-1a",\n'
    b'  "imageId" : "ami-0123456789abcdef0",\n  "instanceId" : "i-0123456789abcdef0",\n'
    b'  "instanceType" : "t3.micro",\n  "pendingTime" : "2026-01-01T00:00:00Z",\n'
    b'  "region" : "eu-west-1",\n  "version" : "2017-09-30"\n}'
)
_HASH = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


@dataclass(frozen=True)
class Signer:
    """A key and its self-signed certificate."""

    key: Any
    cert: x509.Certificate
    pem: str
    issuer: Any  # asn1crypto Name as encoded in the certificate
    serial: int


@functools.cache
def signer(family: str = "rsa", name: str = "imdsclient tests") -> Signer:
    """A cached key pair (``rsa`` 2048 or ``dsa`` 1024) with a certificate named ``name``."""
    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if family == "rsa"
        else dsa.generate_private_key(key_size=1024)  # noqa: S505 (AWS's pkcs7 is DSA-1024)
    )
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 100))
        .sign(key, hashes.SHA256())
    )
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return Signer(
        key=key,
        cert=cert,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        issuer=parsed["tbs_certificate"]["issuer"],
        serial=cert.serial_number,
    )


def certificates(kind: str = "rsa2048", who: Signer | None = None) -> dict[str, dict[str, str]]:
    """A trust store holding only ``who``'s certificate for ``REGION``."""
    return {REGION: {kind: (who or signer()).pem}}


def _digest(data: bytes, digest: str) -> bytes:
    hasher = hashes.Hash(_HASH[digest]())
    hasher.update(data)
    return hasher.finalize()


def attributes(
    document: bytes = DOCUMENT,
    digest: str = "sha256",
    *,
    content_type: str | None = "data",
    message_digest: bytes | None = None,
    extra: list[cms.CMSAttribute] | tuple[()] = (),
) -> cms.CMSAttributes:
    """The signed attributes AWS uses; ``content_type=None`` leaves that one out."""
    items = []
    if content_type is not None:
        items.append(cms.CMSAttribute({"type": "content_type", "values": [content_type]}))
    moment = cms.Time({"utc_time": core.UTCTime(datetime(2026, 1, 1, tzinfo=timezone.utc))})
    items.append(cms.CMSAttribute({"type": "signing_time", "values": [moment]}))
    value = message_digest if message_digest is not None else _digest(document, digest)
    items.append(cms.CMSAttribute({"type": "message_digest", "values": [value]}))
    return cms.CMSAttributes(items + list(extra))


def build(
    document: bytes = DOCUMENT,
    who: Signer | None = None,
    *,
    digest: str = "sha256",
    signed_attrs: cms.CMSAttributes | bool | None = True,
    signature_algorithm: str | None = None,
    key: Any = None,
    sid: Any = None,
    content: bytes | bool | None = True,
    content_type: str = "data",
    signer_count: int = 1,
    digest_algorithms: list[str] | None = None,
    version: str = "v1",
    trailing: bytes = b"",
    unsigned_attrs: cms.CMSAttributes | None = None,
) -> str:
    """A base64 SignedData over ``document``; every keyword breaks one thing."""
    who = who or signer()
    family = "dsa" if isinstance(who.key, dsa.DSAPrivateKey) else "rsa"
    attrs = attributes(document, digest) if signed_attrs is True else signed_attrs
    to_sign = attrs.dump() if attrs else document
    signing_key = key or who.key
    algorithm = _HASH[digest]()
    if isinstance(signing_key, rsa.RSAPrivateKey):
        signature = signing_key.sign(to_sign, padding.PKCS1v15(), algorithm)
    else:
        signature = signing_key.sign(to_sign, algorithm)
    default_algorithm = "rsassa_pkcs1v15" if family == "rsa" else f"{digest}_dsa"
    info: dict[str, Any] = {
        "version": "v1",
        "sid": sid
        or cms.SignerIdentifier(
            {
                "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": who.issuer, "serial_number": who.serial}
                )
            }
        ),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
        "signature_algorithm": algos.SignedDigestAlgorithm(
            {"algorithm": signature_algorithm or default_algorithm}
        ),
        "signature": signature,
    }
    if attrs:
        info["signed_attrs"] = attrs
    if unsigned_attrs is not None:
        info["unsigned_attrs"] = unsigned_attrs
    encap: dict[str, Any] = {"content_type": content_type}
    if content is True:
        encap["content"] = document
    elif isinstance(content, bytes):
        encap["content"] = content
    signed = cms.SignedData(
        {
            "version": version,
            "digest_algorithms": [
                algos.DigestAlgorithm({"algorithm": name})
                for name in (digest_algorithms or [digest])
            ],
            "encap_content_info": encap,
            "signer_infos": [cms.SignerInfo(info) for _ in range(signer_count)],
        }
    )
    der = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    return base64.b64encode(der + trailing).decode("ascii")
