"""Verifying EC2 instance identity documents against AWS's certificates (DESIGN §9).

:func:`verify_identity` serves both sides: a server that receives a document and its signature
from an instance, and the instance itself (``IMDSClient.verified_identity()``, whose flow is in
:mod:`imdsclient._api.verified_identity`).  The rules:

* at least one of ``rsa2048``, ``signature``, ``pkcs7``; **every one given must verify**;
  ``pkcs7`` (DSA/SHA-1) only with ``allow_dsa=True``; ``signature`` needs ``document``;
* the document returned is parsed from the **signed bytes**; a ``document`` given next to a
  PKCS#7 message must equal its content byte for byte (else it is rejected: an identity
  substitution);
* the certificate is chosen by the signed document's region (and, for PKCS#7, the signer's
  issuer and serial); a message signed by another region's key is rejected; certificates inside
  a message are never trusted;
* trust is pinned on keys: an expired certificate still verifies, and is reported in
  ``certificate_expired``;
* any failure is an :class:`~imdsclient.errors.IdentityVerificationError`.

``cryptography`` and ``asn1crypto`` (the ``[verify]`` extra) are imported on the first
verification, not with this module.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Union

from imdsclient._trust import KINDS, Certificates, bundled_store
from imdsclient._trust import snapshot_date as _snapshot_date
from imdsclient._trust import trusted as _trusted
from imdsclient.errors import HINTS, IdentityVerificationError, IMDSError

if TYPE_CHECKING:
    from imdsclient._api.identity import InstanceIdentityDocument

__all__ = [
    "DOCUMENT_PATH",
    "MAX_INPUT",
    "PKCS7_PATH",
    "RSA2048_PATH",
    "SIGNATURE_PATH",
    "IdentityVerificationError",
    "Method",
    "VerifiedIdentity",
    "identity_certificates_date",
    "verify_identity",
]

Method = Literal["rsa2048", "signature", "pkcs7"]
Body = Union[str, bytes]

_FOLDER = "/latest/dynamic/instance-identity/"
DOCUMENT_PATH = _FOLDER + "document"
RSA2048_PATH = _FOLDER + "rsa2048"
SIGNATURE_PATH = _FOLDER + "signature"
PKCS7_PATH = _FOLDER + "pkcs7"
#: Inputs longer than this are refused unread (real ones are about 0.5-2 KiB).
MAX_INPUT = 64 * 1024
_CACHE_KEY = "verified-identity-bodies"
_WHITESPACE = str.maketrans("", "", " \t\r\n")


def __getattr__(name: str) -> Any:
    if name == "identity_certificates_date":
        return _snapshot_date()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


identity_certificates_date: date  # the snapshot date of the bundle, read on first access


@dataclass(frozen=True)
class VerifiedIdentity:
    """An instance identity document whose signature(s) verified.

    Attributes:
        document: The document, parsed from the signed bytes.
        raw: The signed bytes, exactly.
        method: The strongest method that verified: ``"rsa2048"``, ``"signature"``, ``"pkcs7"``.
        region: The region of the document, whose certificate verified it.
        certificate_expired: A certificate that verified has passed its notAfter date (trust is
            pinned on the key, so this is informational; consider updating the bundle).
        methods: Every method that verified, strongest first.
    """

    document: InstanceIdentityDocument
    raw: bytes
    method: Method
    region: str
    certificate_expired: bool
    methods: tuple[Method, ...]


def _fail(message: str, reason: str) -> IdentityVerificationError:
    return IdentityVerificationError(message, reason=reason)


def _bytes(value: Body, name: str) -> bytes:
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{name} must be str or bytes, not {type(value).__name__}")
    if len(data) > MAX_INPUT:
        raise _fail(f"{name} is {len(data)} bytes, more than any real one", "malformed")
    return data


def _decode(value: Body, name: str) -> bytes:
    """The base64 body of an endpoint (whitespace ignored; PEM armour tolerated)."""
    try:
        text = _bytes(value, name).decode("ascii")
    except UnicodeDecodeError:
        raise _fail(f"{name} is not base64 (it has non-ASCII characters)", "malformed") from None
    if text.lstrip().startswith("-----BEGIN "):
        text = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    try:
        data = base64.b64decode(text.translate(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"{name} is not valid base64", "malformed") from None
    if not data:
        raise _fail(f"{name} is empty", "malformed")
    return data


def _max_age(max_age: float | timedelta | None) -> timedelta | None:
    if max_age is None:
        return None
    if isinstance(max_age, timedelta):
        limit = max_age
    elif isinstance(max_age, (int, float)) and not isinstance(max_age, bool):
        if max_age != max_age or max_age in (float("inf"), float("-inf")):  # NaN, inf
            raise ValueError(f"max_age must be a finite number of seconds, not {max_age!r}")
        limit = timedelta(seconds=max_age)
    else:
        raise TypeError(f"max_age must be seconds or a timedelta, not {type(max_age).__name__}")
    if limit < timedelta(0):
        raise ValueError(f"max_age must not be negative, not {max_age!r}")
    return limit


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(timezone.utc)")
    return now


def _first_difference(a: bytes, b: bytes) -> int:
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))


def _parse_document(signed: bytes) -> InstanceIdentityDocument:
    from imdsclient._api.identity import parse_identity

    try:
        return parse_identity(signed)
    except IMDSError as exc:
        raise _fail(
            f"The signed content is not a usable instance identity document ({exc.message})",
            "document",
        ) from None


def _pkcs7_module() -> Any:
    try:
        from imdsclient import _pkcs7
    except ImportError as exc:
        missing = exc.name or "a dependency"
        raise IMDSError(
            f"Verifying identity documents needs cryptography and asn1crypto ({missing} is "
            "not installed)",
            hint=HINTS["verify_extra"],
        ) from None
    return _pkcs7


def verify_identity(
    document: Body | None = None,
    *,
    rsa2048: Body | None = None,
    signature: Body | None = None,
    pkcs7: Body | None = None,
    allow_dsa: bool = False,
    certificates: Certificates | None = None,
    max_age: float | timedelta | None = None,
    now: datetime | None = None,
) -> VerifiedIdentity:
    """Verify an instance identity document's signature(s) against trusted certificates.

    Args:
        document: The document exactly as served (``str`` is encoded as UTF-8); optional with
            ``rsa2048``/``pkcs7``, which carry it, but then it must equal what they sign.
        rsa2048: The body of ``dynamic/instance-identity/rsa2048`` (base64 PKCS#7, preferred).
        signature: The body of ``dynamic/instance-identity/signature`` (base64); needs
            ``document``.
        pkcs7: The body of ``dynamic/instance-identity/pkcs7`` (DSA/SHA-1); refused unless
            ``allow_dsa`` is true.
        allow_dsa: Accept ``pkcs7``.
        certificates: ``{region: {kind: PEM}}`` trusted instead of the bundled AWS
            certificates (see :func:`bundled_identity_certificates` to extend those).
        max_age: Reject a document whose ``pendingTime`` is older than this (seconds or a
            ``timedelta``).
        now: The time to judge ``max_age`` and certificate expiry by (default: now, UTC).

    Returns:
        The verified document and how it was verified.

    Raises:
        IdentityVerificationError: Anything did not verify or match; the message says what.
        IMDSError: The ``[verify]`` extra is not installed.
    """
    limit, moment = _max_age(max_age), _now(now)
    bodies = {k: v for k, v in (("rsa2048", rsa2048), ("signature", signature), ("pkcs7", pkcs7))}
    given = [kind for kind in KINDS if bodies[kind] is not None]
    if not given:
        raise _fail(
            "No signature was given: pass rsa2048 (preferred), signature or pkcs7", "no_signature"
        )
    if "pkcs7" in given and not allow_dsa:
        raise _fail(
            "pkcs7 (DSA with SHA-1) is refused unless allow_dsa=True; verify rsa2048 instead",
            "dsa_refused",
        )
    raw_document = None if document is None else _bytes(document, "document")
    if "signature" in given and raw_document is None:
        raise _fail("signature needs the document it signs: pass document", "no_document")
    decoded = {kind: _decode(bodies[kind], kind) for kind in given}  # type: ignore[arg-type]
    pk = _pkcs7_module()
    messages = {
        kind: pk.parse_signed_data(decoded[kind], kind) for kind in given if kind != "signature"
    }
    signed: bytes | None = None
    source = ""
    for kind, message in messages.items():
        if signed is None:
            signed, source = message.content, kind
        elif message.content != signed:
            raise _fail(f"{kind} and {source} sign different documents", "content_mismatch")
    if signed is None or raw_document is None:
        signed = signed if signed is not None else raw_document
    elif raw_document != signed:
        raise _fail(
            f"The document given is not the one signed in {source} (they differ from byte "
            f"{_first_difference(raw_document, signed)}); pass the document exactly as served",
            "content_mismatch",
        )
    assert signed is not None
    parsed = _parse_document(signed)
    region = parsed.region
    trust = bundled_store() if certificates is None else certificates
    if not isinstance(trust, Mapping):
        raise TypeError(f"certificates must be a mapping, not {type(trust).__name__}")
    expired = False
    for kind in given:
        candidates = _trusted(trust, region, kind)
        if kind == "signature":
            cert = pk.verify_bare_signature(decoded[kind], signed, candidates, region)
        else:
            cert = pk.verify_signed_data(messages[kind], candidates, region, trust)
        expired = expired or cert.not_after < moment
    if limit is not None:
        pending = parsed.pending_time
        if pending is None:
            raise _fail("The document has no pendingTime to judge max_age by", "too_old")
        age = moment - pending
        if age > limit:
            raise _fail(
                f"The document is too old: pendingTime {pending:%Y-%m-%dT%H:%M:%SZ} is "
                f"{age.total_seconds():.0f} s before now, more than max_age "
                f"{limit.total_seconds():.0f} s",
                "too_old",
            )
    methods: tuple[Method, ...] = tuple(given)  # type: ignore[arg-type]
    return VerifiedIdentity(parsed, signed, methods[0], region, expired, methods)
