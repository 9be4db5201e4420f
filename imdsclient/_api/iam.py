"""The instance profile and its role's temporary credentials (never cached; the role name is)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

from pydantic import Field, SecretStr

from imdsclient._api._common import check_role, fetch_or_none, is_role_name
from imdsclient._api._model import (
    IMDSModel,
    UtcDatetime,
    failure_code,
    format_utc,
    load_object,
    validate,
)
from imdsclient._flow import Flow, operation
from imdsclient._protocol import META_DATA, SecretBytes, parse_listing
from imdsclient._session import Session
from imdsclient.errors import HINTS, CredentialsError

__all__ = [
    "CREDENTIALS_FOLDER",
    "EXTENDED_FOLDER",
    "IAMCredentials",
    "IAMInfo",
    "botocore_dict",
    "credential_process_json",
    "iam_credentials",
    "iam_info",
    "parse_credentials",
    "parse_iam_info",
]

IAM_INFO_PATH = META_DATA + "iam/info"
CREDENTIALS_FOLDER = "iam/security-credentials/"
#: Like the classic folder, with ``AccountId`` in the document; not on every IMDS.
EXTENDED_FOLDER = "iam/security-credentials-extended/"
#: Where the folder that answered is remembered in ``session.cache``.
_FOLDER_KEY = "credentials-folder"


class IAMInfo(IMDSModel):
    """``/latest/meta-data/iam/info``: the instance profile attached to this instance."""

    code: Optional[str] = Field(default=None, alias="Code")
    last_updated: Optional[UtcDatetime] = Field(default=None, alias="LastUpdated")
    instance_profile_arn: str = Field(alias="InstanceProfileArn")
    instance_profile_id: str = Field(alias="InstanceProfileId")


class IAMCredentials(IMDSModel):
    """``/latest/meta-data/iam/security-credentials/<role>``: temporary role credentials.

    The secret key and the session token are :class:`~pydantic.SecretStr`, so they never show in
    ``repr``, ``str``, logs or ``model_dump_json``; call ``.get_secret_value()`` to use them.
    The access key id is not a secret and stays readable (it is what CloudTrail shows).
    ``role_name`` is not in the document; the parser injects it from the path.
    """

    access_key_id: str = Field(alias="AccessKeyId")
    secret_access_key: SecretStr = Field(alias="SecretAccessKey")
    token: SecretStr = Field(alias="Token")
    expiration: UtcDatetime = Field(alias="Expiration")
    role_name: str
    #: The account of the role (from the extended credentials folder only).
    account_id: Optional[str] = Field(default=None, alias="AccountId")
    code: Optional[str] = Field(default=None, alias="Code")
    last_updated: Optional[UtcDatetime] = Field(default=None, alias="LastUpdated")
    type: Optional[str] = Field(default=None, alias="Type")

    def __repr_args__(self) -> Iterator[tuple[Optional[str], Any]]:
        """Hide the values of unknown extra fields: a field AWS adds later may be secret too."""
        extra = self.model_extra or {}
        for name, value in super().__repr_args__():
            yield (name, "**********" if name in extra else value)


def parse_iam_info(body: bytes, *, path: str = IAM_INFO_PATH) -> IAMInfo:
    """Parse ``iam/info``; a ``Code`` other than ``Success`` raises :class:`CredentialsError`."""
    what = "IAM instance profile information"
    document = load_object(body, what, path)
    failure = failure_code(document, what, path)
    if failure is not None:
        raise failure
    return validate(IAMInfo, document, what, path)


def parse_credentials(body: bytes, *, role: str, path: str | None = None) -> IAMCredentials:
    """Parse ``iam/security-credentials/<role>``, injecting ``role_name``.

    Every failure is a :class:`CredentialsError`: unusable bytes or JSON, a missing or malformed
    field, or a ``Code`` other than ``Success`` (then ``.code`` and ``.detail``, the document's
    ``Message``, are set).  No message ever contains the secret key or the token, and neither
    does the error's traceback: the frames that held the parsed document are cut from it (error
    reporters such as Sentry show every frame's locals), and so is pydantic's error, which
    quotes input values.
    """
    try:
        return _parse_credentials(body, role=role, path=path)
    except CredentialsError as exc:
        exc.__context__ = None
        raise exc.with_traceback(None) from None


def _parse_credentials(body: bytes, *, role: str, path: str | None) -> IAMCredentials:
    if path is None:
        path = META_DATA + CREDENTIALS_FOLDER + role
    what = f"credentials for role {role!r}"
    document = load_object(body, what, path, credentials=True)
    failure = failure_code(document, what, path)
    if failure is not None:
        raise failure
    return validate(IAMCredentials, {**document, "role_name": role}, what, path, credentials=True)


@operation()
def iam_info(session: Session) -> Flow[IAMInfo | None]:
    """The instance profile, or ``None`` when no profile is attached."""
    body = yield from fetch_or_none(session, "iam/info")
    if body is None:
        return None
    return parse_iam_info(body)


def _discover_role(session: Session, folder: str) -> Flow[str]:
    """The role name from the credentials folder's listing (not ``iam/info``)."""
    listing = META_DATA + folder
    body = yield from fetch_or_none(session, listing)
    names = parse_listing(body) if body is not None else []
    if not names:
        raise CredentialsError(
            f"IMDS lists no IAM role in {folder}, so it has no credentials",
            status=404 if body is None else 200,
            path=listing,
            hint=HINTS["no_role"],
        )
    role = names[0]  # an instance profile holds exactly one role
    if not is_role_name(role):
        raise CredentialsError(
            f"IMDS listed an unusable IAM role name in {listing}",
            status=200,
            path=listing,
            hint=HINTS["bad_response"],
        )
    session.role = role
    return role


def _folders(session: Session) -> list[str]:
    """Where to look, in order: the folder that worked before, else extended (when asked for)
    then classic."""
    known = session.cache.get(_FOLDER_KEY)
    if known is not None:
        return [known]
    if session.config.extended_credentials:
        return [EXTENDED_FOLDER, CREDENTIALS_FOLDER]
    return [CREDENTIALS_FOLDER]


def _credentials_body(session: Session, path: str) -> Flow[SecretBytes | None]:
    """The credential document, masked in ``repr`` (it sits in the flow's locals)."""
    body = yield from fetch_or_none(session, path)
    return None if body is None else SecretBytes(body)


@operation()
def iam_credentials(session: Session, role: str | None = None) -> Flow[IAMCredentials]:
    """The role's temporary credentials: one GET once the role is known; never cached.

    Without ``role`` the role is discovered once (or taken from ``instance_profile_name``) and
    kept; if the remembered role answers 404 (the profile changed), it is discovered again,
    once.  With ``extended_credentials`` the extended folder is tried first and whichever folder
    answers is remembered.
    """
    *fallbacks, last = _folders(session)
    for folder in fallbacks:
        try:
            creds = yield from _credentials_in(session, folder, role)
        except CredentialsError as exc:
            if exc.status != 404:
                raise
            continue  # no extended folder on this IMDS: the classic one
        session.cache[_FOLDER_KEY] = folder
        return creds
    creds = yield from _credentials_in(session, last, role)
    if fallbacks:
        session.cache[_FOLDER_KEY] = last
    return creds


def _credentials_in(session: Session, folder: str, role: str | None) -> Flow[IAMCredentials]:
    role = session.config.instance_profile_name if role is None else role
    if role is not None:
        name = check_role(role)
        body = yield from _credentials_body(session, folder + name)
    else:
        remembered = session.role
        name = remembered or (yield from _discover_role(session, folder))
        body = yield from _credentials_body(session, folder + name)
        if body is None and remembered is not None:
            session.role = None  # the remembered role is gone: look again, once
            name = yield from _discover_role(session, folder)
            body = yield from _credentials_body(session, folder + name)
    path = META_DATA + folder + name
    if body is None:
        raise CredentialsError(
            f"IMDS has no credentials for the IAM role {name!r} (404)",
            status=404,
            path=path,
            hint=HINTS["no_role"] if role is None else HINTS["credentials"],
        )
    return parse_credentials(body, role=name, path=path)


def credential_process_json(creds: IAMCredentials) -> dict[str, object]:
    """The AWS CLI/SDK ``credential_process`` output (``Version: 1``) for these credentials."""
    return {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.get_secret_value(),
        "SessionToken": creds.token.get_secret_value(),
        "Expiration": format_utc(creds.expiration),
    }


def botocore_dict(creds: IAMCredentials) -> dict[str, str]:
    """What botocore's ``InstanceMetadataFetcher.retrieve_iam_role_credentials()`` returns."""
    return {
        "role_name": creds.role_name,
        "access_key": creds.access_key_id,
        "secret_key": creds.secret_access_key.get_secret_value(),
        "token": creds.token.get_secret_value(),
        "expiry_time": format_utc(creds.expiration),
    }
