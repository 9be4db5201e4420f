"""The instance identity document verified against AWS's signatures (``[verify]`` extra)."""

from __future__ import annotations

from imdsclient._fetch import fetch
from imdsclient._flow import Flow, operation
from imdsclient._session import Session
from imdsclient._trust import Certificates
from imdsclient._verify import (
    DOCUMENT_PATH,
    PKCS7_PATH,
    RSA2048_PATH,
    VerifiedIdentity,
    verify_identity,
)
from imdsclient.errors import IdentityVerificationError, MetadataNotFoundError

__all__ = ["Certificates", "VerifiedIdentity", "verified_identity"]

#: Where the verified bodies are cached in ``session.cache``.
_CACHE_KEY = "verified-identity-bodies"


@operation()
def verified_identity(
    session: Session, *, certificates: Certificates | None = None, allow_dsa: bool = False
) -> Flow[VerifiedIdentity]:
    """The identity document with its ``rsa2048`` signature verified (cached per client).

    Fetches the document and ``rsa2048`` (one GET each, once per client); needs the
    ``[verify]`` extra.

    Where IMDS has no ``rsa2048`` (404), ``allow_dsa=True`` falls back to ``pkcs7``.  The bodies
    are cached once they have verified, so a failure is fetched afresh next time.
    """
    cached = session.cache.get(_CACHE_KEY)
    if cached is not None:
        document, rsa2048, pkcs7 = cached
    else:
        document = yield from fetch(session, DOCUMENT_PATH)
        pkcs7 = None
        try:
            rsa2048 = yield from fetch(session, RSA2048_PATH)
        except MetadataNotFoundError as exc:
            if not allow_dsa:
                raise IdentityVerificationError(
                    f"IMDS serves no rsa2048 signature ({RSA2048_PATH} answered 404); "
                    "allow_dsa=True would verify pkcs7 instead",
                    status=404,
                    path=RSA2048_PATH,
                    reason="no_signature",
                ) from exc
            rsa2048 = None
            pkcs7 = yield from fetch(session, PKCS7_PATH)
    verified = verify_identity(
        document, rsa2048=rsa2048, pkcs7=pkcs7, allow_dsa=allow_dsa, certificates=certificates
    )
    session.cache[_CACHE_KEY] = (document, rsa2048, pkcs7)
    return verified
