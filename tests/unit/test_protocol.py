"""The pure protocol rules: docs/design.md's protocol table, one row per situation; path hygiene."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imdsclient import (
    BadRequestError,
    EndpointDisabledError,
    IMDSConnectionError,
    IMDSError,
    IMDSTimeoutError,
    MetadataNotFoundError,
    ThrottledError,
)
from imdsclient._protocol import (
    TOKEN_PATH,
    Action,
    Failure,
    FailureKind,
    Response,
    Result,
    classify,
    is_dropped_syn,
    normalize_path,
    parse_listing,
    retry_after,
    token_ttl_from,
)
from imdsclient.errors import HINTS

GET = "/latest/meta-data/instance-id"


def answer(status: int, **headers: str) -> Response:
    return Response(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, b"")


ROWS: list[tuple[str, Result, str, bool, Action, type[IMDSError] | None]] = [
    # situation, result, path, endpoint seen, action, error type
    ("token ok", answer(200), TOKEN_PATH, False, Action.OK, None),
    ("PUT 400: TTL missing", answer(400), TOKEN_PATH, False, Action.RAISE, BadRequestError),
    ("PUT 403: disabled", answer(403), TOKEN_PATH, False, Action.RAISE, EndpointDisabledError),
    ("PUT 404: old IMDS", answer(404), TOKEN_PATH, False, Action.FALLBACK_V1, None),
    ("PUT 405: no PUT", answer(405), TOKEN_PATH, False, Action.FALLBACK_V1, None),
    (
        "PUT dropped (hop limit)",
        Failure(FailureKind.READ_TIMEOUT),
        TOKEN_PATH,
        True,
        Action.FALLBACK_V1,
        None,
    ),
    ("GET ok", answer(200), GET, True, Action.OK, None),
    ("GET 401", answer(401), GET, True, Action.REFRESH_TOKEN, None),
    ("GET 403", answer(403), GET, True, Action.RAISE, EndpointDisabledError),
    ("GET 404", answer(404), GET, True, Action.RAISE, MetadataNotFoundError),
    ("GET 400", answer(400), GET, True, Action.RAISE, BadRequestError),
    ("429", answer(429), GET, True, Action.RETRY, ThrottledError),
    ("503", answer(503), GET, True, Action.RETRY, ThrottledError),
    ("PUT 429", answer(429), TOKEN_PATH, True, Action.RETRY, ThrottledError),
    ("500", answer(500), GET, True, Action.RETRY, IMDSError),
    ("502", answer(502), GET, True, Action.RETRY, IMDSError),
    ("504", answer(504), GET, True, Action.RETRY, IMDSError),
    ("reset", Failure(FailureKind.DROPPED), GET, True, Action.RETRY, IMDSConnectionError),
    (
        "GET read timeout",
        Failure(FailureKind.READ_TIMEOUT),
        GET,
        True,
        Action.RETRY,
        IMDSTimeoutError,
    ),
    (
        "refused, first contact",
        Failure(FailureKind.CONNECT),
        TOKEN_PATH,
        False,
        Action.RAISE,
        IMDSConnectionError,
    ),
    (
        "connect timeout, first contact (once more, at once)",
        Failure(FailureKind.CONNECT_TIMEOUT),
        TOKEN_PATH,
        False,
        Action.RETRY,
        IMDSTimeoutError,
    ),
    (
        "no route, first contact",
        Failure(FailureKind.CONNECT, "ENETUNREACH"),
        GET,
        False,
        Action.RAISE,
        IMDSConnectionError,
    ),
    (
        "refused after contact",
        Failure(FailureKind.CONNECT),
        GET,
        True,
        Action.RETRY,
        IMDSConnectionError,
    ),
    ("redirect", answer(301, Location="http://x/"), GET, True, Action.RAISE, IMDSError),
    ("too large", Failure(FailureKind.TOO_LARGE), GET, True, Action.RAISE, IMDSError),
    ("odd status", answer(418), GET, True, Action.RAISE, IMDSError),
]


@pytest.mark.parametrize(
    ("result", "path", "seen", "action", "error"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_classify(
    result: Result, path: str, seen: bool, action: Action, error: type[IMDSError] | None
) -> None:
    """Each situation of the protocol table (docs/design.md) maps to its action and error class."""
    outcome = classify(result, path=path, endpoint_seen=seen)
    assert outcome.action is action
    if error is None:
        assert outcome.error is None
    else:
        assert type(outcome.error) is error
        assert outcome.error.path == path
        assert outcome.error.hint


def test_a_first_contact_connect_timeout_is_retried_without_waiting() -> None:
    """The retry after a first-contact connect timeout starts at once: the timeout was the wait."""
    outcome = classify(Failure(FailureKind.CONNECT_TIMEOUT), path=GET, endpoint_seen=False)
    assert outcome.retry_after == 0.0
    later = classify(Failure(FailureKind.CONNECT_TIMEOUT), path=GET, endpoint_seen=True)
    assert later.retry_after is None


def test_a_connect_timeout_names_a_drop_rule_not_the_timeout_setting() -> None:
    """A connect timeout's hint is the DROP-rule one, with both listing commands."""
    outcome = classify(Failure(FailureKind.CONNECT_TIMEOUT), path=GET, endpoint_seen=False)
    assert outcome.error is not None
    assert outcome.error.hint == HINTS["connect_timeout"]
    assert "DROP" in outcome.error.hint
    assert "sudo iptables-save | grep 169.254.169.254" in outcome.error.hint
    assert "sudo nft list ruleset | grep 169.254.169.254" in outcome.error.hint
    read = classify(Failure(FailureKind.READ_TIMEOUT), path=GET, endpoint_seen=True)
    assert read.error is not None
    assert read.error.hint == HINTS["timeout"]


def test_connection_errors_name_the_endpoint_when_given() -> None:
    """The endpoint tried appears in a connection error only when classify is told it."""
    refused = Failure(FailureKind.CONNECT, "ConnectError")
    named = classify(refused, path=GET, endpoint_seen=False, endpoint="http://127.0.0.1:9")
    plain = classify(refused, path=GET, endpoint_seen=False)
    assert named.error is not None
    assert plain.error is not None
    assert named.error.message == (
        f"IMDS connection failed for {GET} at http://127.0.0.1:9 (ConnectError)"
    )
    assert plain.error.message == f"IMDS connection failed for {GET} (ConnectError)"


def test_only_a_connect_timeout_is_a_dropped_syn() -> None:
    """is_dropped_syn: a connect timeout, nothing else (not a read timeout, not a 429)."""
    assert is_dropped_syn(Failure(FailureKind.CONNECT_TIMEOUT))
    assert not is_dropped_syn(Failure(FailureKind.READ_TIMEOUT))
    assert not is_dropped_syn(Failure(FailureKind.CONNECT))
    assert not is_dropped_syn(answer(429))


def test_fallback_reasons_say_why() -> None:
    """A fallback records whether the PUT was dropped (hop limit) or unknown (legacy)."""
    dropped = classify(Failure(FailureKind.READ_TIMEOUT), path=TOKEN_PATH, endpoint_seen=True)
    legacy = classify(answer(405), path=TOKEN_PATH, endpoint_seen=True)
    assert (dropped.reason, legacy.reason) == ("hop_limit", "legacy")


def test_throttle_outcome_carries_retry_after() -> None:
    """Retry-After travels with a throttle outcome."""
    outcome = classify(answer(429, Retry_After="3"), path=GET, endpoint_seen=True)
    assert outcome.retry_after == 3.0


@pytest.mark.parametrize(
    ("value", "expected"), [("2", 2.0), ("0.5", 0.5), ("-1", None), ("soon", None), (None, None)]
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    """Retry-After seconds are used; negative or non-numeric values are ignored."""
    headers = {} if value is None else {"retry-after": value}
    assert retry_after(Response(429, headers, b"")) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("instance-id", "/latest/meta-data/instance-id"),
        ("placement/", "/latest/meta-data/placement/"),
        ("", "/latest/meta-data/"),
        ("/latest/user-data", "/latest/user-data"),
        (
            "/latest/dynamic/instance-identity/document",
            "/latest/dynamic/instance-identity/document",
        ),
        (
            "network/interfaces/macs/0e:49:61:0f:c3:11/",
            "/latest/meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/",
        ),
        ("public-keys/0=name", "/latest/meta-data/public-keys/0=name"),
    ],
)
def test_normalize_path(given: str, expected: str) -> None:
    """Relative paths go under meta-data; absolute ones are kept."""
    assert normalize_path(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "http://169.254.169.254/x",
        "//evil.example/x",
        "/latest/../../etc/passwd",
        "..",
        "./x",
        "a\nb",
        "a\rb",
        "a\x00b",
        "a b",
        "a?b=1",
        "a#frag",
        "a%2e%2e",
        "a\\b",
        "é",
    ],
)
def test_normalize_path_rejects(bad: str) -> None:
    """Anything that could leave the endpoint or smuggle bytes is a ValueError."""
    with pytest.raises(ValueError, match="IMDS path"):
        normalize_path(bad)


@given(st.text())
def test_normalize_path_never_escapes(path: str) -> None:
    """For any text: either ValueError, or a path on the endpoint with no dot segments."""
    try:
        full = normalize_path(path)
    except ValueError:
        return
    assert full.startswith("/")
    assert "//" not in full
    assert ".." not in full.split("/")
    assert all(ch.isascii() and ch.isprintable() and ch != " " for ch in full)


def test_token_answer_uses_the_echoed_ttl_never_longer() -> None:
    """The echoed TTL is used, capped at what was asked for."""
    ok = Response(200, {"x-aws-ec2-metadata-token-ttl-seconds": "300"}, b"AQAE-token\n")
    assert token_ttl_from(ok, 21600) == ("AQAE-token", 300)
    longer = Response(200, {"x-aws-ec2-metadata-token-ttl-seconds": "99999"}, b"t")
    assert token_ttl_from(longer, 600) == ("t", 600)
    assert token_ttl_from(Response(200, {}, b"t"), 600) == ("t", 600)


@pytest.mark.parametrize("body", [b"", b"bad token", b"tok\r\nX-Evil: 1", b"\xff"])
def test_unusable_tokens_are_refused(body: bytes) -> None:
    """A token that could not be sent back safely in a header is an IMDSError."""
    with pytest.raises(IMDSError, match="unusable token"):
        token_ttl_from(Response(200, {}, body), 600)


def test_parse_listing() -> None:
    """Listings are LF-joined; empty lines are dropped; folders keep their '/'."""
    assert parse_listing(b"ami-id\nplacement/\n\nmac\n") == ["ami-id", "placement/", "mac"]
