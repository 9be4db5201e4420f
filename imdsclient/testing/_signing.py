"""The simulator signs its identity document as AWS does, with keys and certificates of its own.

Three keys, as on EC2: RSA-2048 for ``rsa2048`` (PKCS#7 SignedData, SHA-256), RSA-1024 for
``signature`` (bare PKCS#1 v1.5 over SHA-256) and DSA-1024 for ``pkcs7`` (PKCS#7, SHA-1), each
with a self-signed certificate whose issuer says "imdsclient simulator (not AWS)".  The messages
have AWS's shape: the document as content, no certificates, the signer named by issuer and
serial, and the signed attributes contentType, signingTime and messageDigest.  They are DER,
which is valid BER; AWS's own use indefinite lengths, which the real samples in the test suite
cover.

Keys are generated on first use, once per process (about 0.2 s), and shared by every simulator
of the process: no private key is shipped in the package, and a simulator's certificates never
verify anything AWS signed.  Signatures are made on request, over the exact bytes the simulator
serves at ``dynamic/instance-identity/document`` (after ``set()`` too), and kept until the
document changes.

Signing needs the ``[verify]`` extra (``cryptography`` and ``asn1crypto``).  Without it the
signed endpoints are absent (404, and left out of the listing) and ``identity_certificates``
raises ``ImportError`` naming the extra; everything else works as before.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["DOCUMENT", "SIGNED_PATHS", "IdentitySigner", "available"]

FOLDER = "/latest/dynamic/instance-identity/"
DOCUMENT = FOLDER + "document"
#: kind → the path IMDS serves it at.
SIGNED_PATHS = {kind: FOLDER + kind for kind in ("pkcs7", "rsa2048", "signature")}
_DEFAULT_REGION = "us-east-1"
_SUBJECT = (
    ("C", "US"),
    ("ST", "Washington State"),
    ("L", "Seattle"),
    ("O", "imdsclient simulator (not AWS)"),
)

_lock = threading.Lock()
_keys: dict[str, _Key] | None = None
_available: bool | None = None


def available() -> bool:
    """Whether ``cryptography`` and ``asn1crypto`` are installed (found, not imported: cheap)."""
    global _available
    if _available is None:
        _available = all(
            importlib.util.find_spec(name) is not None for name in ("cryptography", "asn1crypto")
        )
    return _available


@dataclass(frozen=True)
class _Key:
    private_key: Any
    pem: str
    issuer: Any  # asn1crypto.x509.Name, exactly as encoded in the certificate
    serial: int


def _make_key(kind: str) -> _Key:
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, rsa
    from cryptography.x509.oid import NameOID

    key: Any
    if kind == "pkcs7":
        key = dsa.generate_private_key(key_size=1024)  # noqa: S505 (AWS: DSA-1024)
    else:
        key = rsa.generate_private_key(
            public_exponent=65537, key_size=2048 if kind == "rsa2048" else 1024
        )
    oids = {
        "C": NameOID.COUNTRY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "L": NameOID.LOCALITY_NAME,
        "O": NameOID.ORGANIZATION_NAME,
    }
    name = x509.Name([x509.NameAttribute(oids[k], v) for k, v in _SUBJECT])
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    parsed = asn1_x509.Certificate.load(der)
    return _Key(
        private_key=key,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        issuer=parsed["tbs_certificate"]["issuer"],
        serial=cert.serial_number,
    )


def _key_set() -> dict[str, _Key]:
    global _keys
    with _lock:
        if _keys is None:
            _keys = {kind: _make_key(kind) for kind in SIGNED_PATHS}
        return _keys


def _wrap(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, no final newline, as the samples of IMDS are."""
    text = base64.b64encode(data)
    return b"\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def _signature(key: _Key, document: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return _wrap(key.private_key.sign(document, padding.PKCS1v15(), hashes.SHA256()))


def _signed_data(key: _Key, document: bytes, digest: str, signing_time: datetime) -> bytes:
    from asn1crypto import algos, cms, core
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm = hashes.SHA256() if digest == "sha256" else hashes.SHA1()  # noqa: S303 (AWS)
    hasher = hashes.Hash(algorithm)
    hasher.update(document)
    # In DER order (SET OF sorts by encoding): contentType, signingTime, messageDigest.
    attributes = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute(
                {
                    "type": "signing_time",
                    "values": [cms.Time({"utc_time": core.UTCTime(signing_time)})],
                }
            ),
            cms.CMSAttribute({"type": "message_digest", "values": [hasher.finalize()]}),
        ]
    )
    to_sign = attributes.dump()
    if isinstance(key.private_key, rsa.RSAPrivateKey):
        signature = key.private_key.sign(to_sign, padding.PKCS1v15(), algorithm)
        signature_algorithm = "rsassa_pkcs1v15"
    else:
        signature = key.private_key.sign(to_sign, algorithm)
        signature_algorithm = "sha1_dsa"
    digest_algorithm = algos.DigestAlgorithm({"algorithm": digest})
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": key.issuer, "serial_number": key.serial}
                    )
                }
            ),
            "digest_algorithm": digest_algorithm,
            "signed_attrs": attributes,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {"content_type": "data", "content": document},
            "signer_infos": [signer],
        }
    )
    return _wrap(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def _region(document: bytes | None) -> str:
    try:
        region = json.loads(document or b"{}").get("region")
    except (ValueError, AttributeError):
        return _DEFAULT_REGION
    return region if isinstance(region, str) and region else _DEFAULT_REGION


class IdentitySigner:
    """One simulator's signed bodies, remade whenever the document it serves changes.

    Not thread-safe on its own: the simulator core calls it under its lock.
    """

    def __init__(self) -> None:
        self._document: bytes | None = None
        self._bodies: dict[str, bytes] = {}
        #: Paths to hide (404) because signing is impossible here.
        self.hidden: frozenset[str] = (
            frozenset() if available() else frozenset(SIGNED_PATHS.values())
        )

    def overlay(
        self, document: bytes | None, now: Callable[[], float]
    ) -> dict[str, Callable[[], bytes]]:
        """Generated leaves for the signed endpoints of ``document`` (none without it)."""
        if document is None or self.hidden:
            return {}
        return {path: self._maker(kind, document, now) for kind, path in SIGNED_PATHS.items()}

    def _maker(self, kind: str, document: bytes, now: Callable[[], float]) -> Callable[[], bytes]:
        return lambda: self.body(kind, document, now())

    def body(self, kind: str, document: bytes, now: float) -> bytes:
        """The body of ``kind`` for ``document`` (signed at ``now`` the first time)."""
        if document != self._document:
            self._document, self._bodies = document, {}
        body = self._bodies.get(kind)
        if body is None:
            key = _key_set()[kind]
            if kind == "signature":
                body = _signature(key, document)
            else:
                moment = datetime.fromtimestamp(int(now), tz=timezone.utc)
                body = _signed_data(
                    key, document, "sha256" if kind == "rsa2048" else "sha1", moment
                )
            self._bodies[kind] = body
        return body

    def certificates(self, document: bytes | None) -> Mapping[str, Mapping[str, str]]:
        """``{region: {kind: PEM}}`` for the region of ``document``: what verifies its bodies."""
        if not available():
            raise ImportError(
                "The simulator signs identity documents with cryptography and asn1crypto: "
                "pip install 'imdsclient[verify]'"
            )
        keys = _key_set()
        return {_region(document): {kind: key.pem for kind, key in keys.items()}}
