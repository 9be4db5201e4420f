"""Content-based redaction: secret keys are masked wherever a JSON document or log line has them."""

from __future__ import annotations

import json
import logging

import pytest

from imdsclient._api import _common
from imdsclient._redact import (
    REDACTED,
    RedactingFilter,
    is_secret_key,
    redact_json,
    redact_text,
    redact_tree,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN=="


def test_the_mask_is_the_one_dump_uses_for_credential_documents() -> None:
    """Path-based and content-based redaction show the same text."""
    assert REDACTED == _common.REDACTED


@pytest.mark.parametrize(
    "key",
    [
        "SecretAccessKey",
        "Token",
        "SessionToken",
        "secret_access_key",
        "aws_secret_access_key",
        "aws_session_token",
        "secret-access-key",
        "security_token",
        "secret_key",
    ],
)
def test_secret_keys_in_every_spelling(key: str) -> None:
    """AWS's PascalCase, the SDKs' snake_case and AEMM's kebab-case all count."""
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["AccessKeyId", "access_key", "Expiration", "Code", "tokens", 3])
def test_other_keys_are_not_secret(key: object) -> None:
    """Identifiers, timestamps and non-strings are left alone."""
    assert not is_secret_key(key)


def test_moto_iam_leaf_is_masked_at_depth() -> None:
    """moto's ``meta-data/iam`` document: the secrets go, the access key id and expiry stay."""
    document = {
        "security-credentials": {
            "default-role": {
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": SECRET,
                "Token": TOKEN,
                "Expiration": "2030-01-01T00:00:00Z",
            }
        }
    }
    masked = redact_json(json.dumps(document))
    assert masked is not None
    role = json.loads(masked)["security-credentials"]["default-role"]
    assert role == {
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": REDACTED,
        "Token": REDACTED,
        "Expiration": "2030-01-01T00:00:00Z",
    }


def test_json_without_secrets_is_returned_as_it_was() -> None:
    """Nothing to mask: the exact original text, formatting included."""
    text = '{\n  "region" :   "us-east-1"\n}'
    assert redact_json(text) == text
    assert redact_json("not json") is None
    assert redact_json("[1, 2") is None


def test_lists_and_indentation() -> None:
    """Secrets inside arrays are masked; a multi-line document stays multi-line."""
    text = json.dumps([{"Token": TOKEN}, {"x": [{"SessionToken": TOKEN}]}], indent=4)
    masked = redact_json(text)
    assert masked is not None
    assert TOKEN not in masked
    assert "\n" in masked
    assert json.loads(masked) == [{"Token": REDACTED}, {"x": [{"SessionToken": REDACTED}]}]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f'content body: b\'{{"SecretAccessKey": "{SECRET}", "Code": "Success"}}', '"Code"'),
        (f"{{'secret_key': '{SECRET}', 'access_key': 'ASIA1'}}", "'access_key': 'ASIA1'"),
        (f'half a document {{"Token" : "{TOKEN}", "Expiration": ', '"Expiration"'),
        (f"env AWS_SECRET_ACCESS_KEY={SECRET} AWS_REGION=eu-west-1", "AWS_REGION=eu-west-1"),
        (f'escaped {{"Token": "a\\"{TOKEN}"}}', "escaped"),
    ],
)
def test_text_that_is_not_json_is_masked_pair_by_pair(text: str, kept: str) -> None:
    """Log lines quoting a body, Python reprs, broken JSON and KEY=value pairs."""
    masked = redact_text(text)
    assert SECRET not in masked
    assert TOKEN not in masked
    assert REDACTED in masked
    assert kept in masked


def test_header_names_are_not_mistaken_for_secrets() -> None:
    """``x-aws-ec2-metadata-token-ttl-seconds=21600`` is a header name, not a token."""
    text = "PUT /latest/api/token x-aws-ec2-metadata-token-ttl-seconds=21600 -> 200"
    assert redact_text(text) == text


def test_tree_leaves_are_masked_and_folders_kept() -> None:
    """``redact_tree`` walks a dump result; only secret values change."""
    tree = {
        "instance-id": "i-0123",
        "iam": json.dumps({"Token": TOKEN}),
        "folder": {"leaf": f"Token={TOKEN}", "other": "base64:AAEC"},
    }
    assert redact_tree(tree) == {
        "instance-id": "i-0123",
        "iam": json.dumps({"Token": REDACTED}),
        "folder": {"leaf": f"Token={REDACTED}", "other": "base64:AAEC"},
    }


def test_logging_filter_masks_the_rendered_message() -> None:
    """Arguments are rendered first, so a secret passed as an argument is masked too."""
    record = logging.LogRecord(
        "imdsclient", logging.DEBUG, __file__, 1, "body: %s", ({"Token": TOKEN},), None
    )
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()
    plain = logging.LogRecord("imdsclient", logging.DEBUG, __file__, 1, "GET %s", ("/x",), None)
    assert RedactingFilter().filter(plain)
    assert (plain.msg, plain.args) == ("GET %s", ("/x",))
