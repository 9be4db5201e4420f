"""Fuzzing: whatever the endpoint answers, the client returns a value or raises an IMDSError.

Model parsers are fuzzed in ``tests/unit/test_models.py``, configuration in
``tests/unit/test_config.py`` and path normalisation in ``tests/unit/test_protocol.py``; this
module covers the rest of the edge: the response classifier, the token-answer reader, the
listing parser, and whole client calls fed arbitrary HTTP answers and transport errors.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Union

import httpx
import respx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imdsclient import AsyncIMDSClient, IMDSClient, IMDSError
from imdsclient._protocol import (
    TOKEN_PATH,
    TTL_HEADER,
    Action,
    Failure,
    FailureKind,
    Response,
    classify,
    parse_listing,
    token_ttl_from,
)
from imdsclient.testing import FakeClock
from tests.conftest import ENDPOINT

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

header_names = st.one_of(
    st.sampled_from(
        ["content-length", "retry-after", TTL_HEADER.lower(), "location", "content-type"]
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
)
# Header values as they arrive: latin-1 text without CR/LF (httpx never lets those through).
header_values = st.one_of(
    st.sampled_from(["0", "1", "-1", "nan", "inf", "1e309", "99999999999", "", " 5 "]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")),
)
headers = st.dictionaries(header_names, header_values, max_size=4)
statuses = st.one_of(
    st.sampled_from([200, 301, 400, 401, 403, 404, 405, 429, 500, 503]), st.integers(100, 599)
)
paths = st.one_of(
    st.sampled_from([TOKEN_PATH, "/latest/meta-data/instance-id", "/latest/meta-data/"]),
    st.text(max_size=40),
)
responses = st.builds(Response, statuses, headers, st.binary(max_size=64))
failures = st.builds(Failure, st.sampled_from(list(FailureKind)), st.text(max_size=20))


@given(result=st.one_of(responses, failures), path=paths, seen=st.booleans())
def test_classify_is_total(result: Response | Failure, path: str, seen: bool) -> None:
    """classify never raises; RETRY and RAISE always carry an IMDSError; waits are >= 0."""
    outcome = classify(result, path=path, endpoint_seen=seen)
    assert isinstance(outcome.action, Action)
    if outcome.action in (Action.RETRY, Action.RAISE):
        assert isinstance(outcome.error, IMDSError)
        assert str(outcome.error)
    if outcome.retry_after is not None:
        assert not math.isnan(outcome.retry_after)
        assert outcome.retry_after >= 0


@given(body=st.binary(max_size=80), ttl=header_values, requested=st.integers(1, 21600))
def test_token_answer_reader_is_total(body: bytes, ttl: str, requested: int) -> None:
    """Any 200 answer to the PUT: a header-safe token and a TTL in 1..requested, or IMDSError."""
    try:
        token, seconds = token_ttl_from(Response(200, {TTL_HEADER.lower(): ttl}, body), requested)
    except IMDSError:
        return
    assert token
    assert all(0x21 <= ord(ch) <= 0x7E for ch in token)
    assert 1 <= seconds <= requested


@given(st.binary(max_size=200))
def test_listing_parser_is_total(body: bytes) -> None:
    """Any body splits into non-empty entries without line breaks."""
    entries = parse_listing(body)
    assert all(entry and "\n" not in entry and "\r" not in entry for entry in entries)


TRANSPORT_ERRORS = [
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
]
Answer = Union[tuple[int, dict[str, str], bytes], type[httpx.TransportError]]
answers = st.lists(
    st.one_of(
        st.tuples(statuses, headers, st.binary(max_size=64)),
        st.tuples(st.just(200), st.just({TTL_HEADER: "21600"}), st.just(b"AQAE-token")),
        st.sampled_from(TRANSPORT_ERRORS),
    ),
    min_size=1,
    max_size=8,
)
calls = st.sampled_from(
    [
        ("get", "instance-id"),
        ("get_bytes", "/latest/user-data"),
        ("get_json", "/latest/dynamic/instance-identity/document"),
        ("list", ""),
        ("is_available", None),
    ]
)


class Server:
    """A respx side effect that plays back ``script`` (the last answer repeats)."""

    def __init__(self, script: list[Answer]) -> None:
        self.script = script
        self.served = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.script[min(self.served, len(self.script) - 1)]
        self.served += 1
        if isinstance(answer, type):
            raise answer("fuzzed failure", request=request)
        status, head, body = answer
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head.items()]
        return httpx.Response(status, headers=raw, content=body)


def _check(name: str, value: Any) -> None:
    if name == "get":
        assert isinstance(value, str)
    elif name == "get_bytes":
        assert isinstance(value, bytes)
    elif name == "list":
        assert isinstance(value, list)
        assert all(isinstance(entry, str) for entry in value)
    elif name == "is_available":
        assert isinstance(value, bool)


@FUZZ
@given(script=answers, call=calls)
@example(script=[(200, {"content-length": "\u00b9"}, b"x")], call=("get", "instance-id"))
def test_sync_client_returns_a_value_or_an_imds_error(
    script: list[Answer], call: tuple[str, Any]
) -> None:
    """IMDSClient fed arbitrary answers and transport errors: a value or an IMDSError only."""
    name, path = call
    server = Server(script)
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as mock:
        mock.route().mock(side_effect=server)
        with IMDSClient(endpoint=ENDPOINT, clock=FakeClock()) as client:
            method = getattr(client, name)
            try:
                value = method() if path is None else method(path)
            except IMDSError as exc:
                message = str(exc)
                assert message
                assert name != "is_available"  # is_available never raises
            else:
                _check(name, value)
    assert 1 <= server.served <= 40  # bounded: retries and refreshes never loop


@settings(FUZZ, max_examples=60)
@given(script=answers, call=calls)
def test_async_client_returns_a_value_or_an_imds_error(
    script: list[Answer], call: tuple[str, Any]
) -> None:
    """AsyncIMDSClient, same fuzz: a value or an IMDSError only."""
    name, path = call
    server = Server(script)

    async def run() -> None:
        async with AsyncIMDSClient(endpoint=ENDPOINT, clock=FakeClock()) as client:
            method = getattr(client, name)
            try:
                value = await (method() if path is None else method(path))
            except IMDSError as exc:
                message = str(exc)
                assert message
                assert name != "is_available"
            else:
                _check(name, value)

    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as mock:
        mock.route().mock(side_effect=server)
        asyncio.run(run())
    assert 1 <= server.served <= 40
