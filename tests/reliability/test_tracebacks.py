"""Secrets stay out of tracebacks, even rendered with every frame's locals.

Error reporters such as Sentry capture the locals of each frame between the public call and the
raise (``traceback.TracebackException(..., capture_locals=True)`` renders the same thing).  The
session token travels in ``Grant``, in ``Request`` headers and in the PUT's ``Response``; the
credential document in the IAM parser.  Each test fails a call in the middle of one of those
and greps the rendered traceback (chained exceptions included) for the secret values.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from imdsclient import AsyncIMDSClient, CredentialsError, IMDSClient, IMDSError
from imdsclient.testing import FakeClock
from tests.reliability._servers import RawServer, simple_answer

TOKEN = "AQAEAGood-Session-Token-7f3a9c=="
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjSESSIONTOKENvalue0123456789"
ROLE = "baskinc-role"
TTL = "X-aws-ec2-metadata-token-ttl-seconds: 21600"


def rendered(exc: BaseException) -> str:
    """The traceback as an error reporter that captures locals would show it."""
    shown = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
    return "".join(shown.format())


def credentials(expiration: str) -> bytes:
    return (
        '{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAEXAMPLE", '
        f'"SecretAccessKey": "{SECRET_KEY}", "Token": "{SESSION_TOKEN}", '
        f'"Expiration": "{expiration}"}}'
    ).encode()


BROKEN_CREDENTIALS = {
    "bad-field": credentials("not a date"),
    "bad-json": credentials("2030-01-01T00:00:00Z")[:-3],
    "failure-code": credentials("2030-01-01T00:00:00Z").replace(b"Success", b"Unauthorized"),
    "missing-field": credentials("2030-01-01T00:00:00Z").replace(b'"Expiration"', b'"Other"'),
}


def imds(get: Callable[[str], list[bytes]], put: list[list[bytes]] | None = None) -> Any:
    """A responder: the PUT answers ``put`` in turn (then a good token), GETs ``get(path)``."""
    puts = list(put or [])

    def respond(method: str, path: str) -> list[bytes]:
        if method == "PUT":
            return puts.pop(0) if puts else simple_answer(200, TOKEN.encode(), TTL)
        return get(path)

    return respond


def failure(shell: str, url: str, method: str, *args: Any, **kwargs: Any) -> IMDSError:
    """The IMDSError ``method(*args, **kwargs)`` raises on a fresh client of ``shell``."""

    def call() -> None:
        if shell == "sync":
            with IMDSClient(endpoint=url, clock=FakeClock()) as client:
                getattr(client, method)(*args, **kwargs)
            return

        async def run() -> None:
            async with AsyncIMDSClient(endpoint=url, clock=FakeClock()) as client:
                await getattr(client, method)(*args, **kwargs)

        asyncio.run(run())

    with pytest.raises(IMDSError) as info:
        call()
    return info.value


@pytest.fixture(params=["sync", "async"])
def shell(request: pytest.FixtureRequest) -> str:
    """Each test runs against both clients."""
    return str(request.param)


@pytest.mark.parametrize("body", BROKEN_CREDENTIALS.values(), ids=BROKEN_CREDENTIALS.keys())
def test_a_credential_parse_failure_shows_no_secret(shell: str, body: bytes) -> None:
    """A credential document that fails to parse: no secret key, session token or IMDS token
    in the traceback's locals or in the exceptions it chains."""

    def get(path: str) -> list[bytes]:
        if path.endswith("/security-credentials/"):
            return simple_answer(200, ROLE.encode())
        return simple_answer(200, body)

    with RawServer(imds(get)) as server:
        error = failure(shell, server.url, "iam_credentials")
    assert isinstance(error, CredentialsError)
    text = rendered(error)
    assert "iam_credentials" in text  # the frames up to the parser are there, with locals
    assert "secret bytes>" in text  # the document travelled, masked
    for secret in (SECRET_KEY, SESSION_TOKEN, TOKEN):
        assert secret not in text


def test_a_token_fetch_failure_shows_no_token(shell: str) -> None:
    """After a 401 the refresh gets an unusable token that contains a secret-looking part: the
    error's traceback shows neither the first token nor the part of the second."""
    leaked = "AQAESecond-Token-Part-With-Secret"
    answers = [
        simple_answer(200, TOKEN.encode(), TTL),
        simple_answer(200, f"{leaked}\x01".encode(), TTL),
    ]
    gets = iter([simple_answer(401), simple_answer(200, b"i-1")])
    with RawServer(imds(lambda path: next(gets), put=answers)) as server:
        error = failure(shell, server.url, "get", "instance-id")
    assert "unusable token" in str(error)
    text = rendered(error)
    assert "Grant(token='**********', generation=1)" in text  # the grant that got the 401
    for secret in (TOKEN, leaked):
        assert secret not in text


def test_a_get_failure_shows_no_token(shell: str) -> None:
    """A GET that keeps failing after a token was issued: the request headers, the grant and
    the token answer in the traceback are all masked."""
    with RawServer(imds(lambda path: simple_answer(500, b"oops"))) as server:
        error = failure(shell, server.url, "get", "instance-id")
    assert error.status == 500
    text = rendered(error)
    assert "x-aws-ec2-metadata-token" in text.lower()  # the header is shown, its value masked
    assert TOKEN not in text


def test_a_crawl_with_credentials_shows_no_secret(shell: str) -> None:
    """dump(include_credentials=True) failing one level after it read a credential document:
    the crawl's locals hold the document, masked."""

    def get(path: str) -> list[bytes]:
        if path == "/latest/meta-data/":
            return simple_answer(200, b"iam/")
        if path.endswith("/iam/"):
            return simple_answer(200, b"security-credentials/")
        if path.endswith("/security-credentials/"):
            return simple_answer(200, ROLE.encode() + b"\nzz/")
        if path.endswith("/zz/"):
            return simple_answer(200, b"yy")
        if path.endswith(ROLE):
            return simple_answer(200, credentials("2030-01-01T00:00:00Z"))
        return simple_answer(403)

    with RawServer(imds(get)) as server:
        error = failure(shell, server.url, "dump", include_credentials=True)
    assert error.status == 403
    text = rendered(error)
    assert "secret bytes>" in text
    for secret in (SECRET_KEY, SESSION_TOKEN, TOKEN):
        assert secret not in text
