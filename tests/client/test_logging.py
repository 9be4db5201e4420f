"""Logging: requests and retries are logged to "imdsclient"; tokens never are."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from imdsclient import RetryEvent
from imdsclient._protocol import TTL_HEADER
from tests.conftest import ENDPOINT, MakeClient

TOKEN_VALUE = "AQAEAFake-Session-Token-Value=="


def test_requests_and_retries_are_logged_without_the_token(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG shows method, path and status; INFO shows retries; the token appears nowhere."""
    with respx.mock(base_url=ENDPOINT) as imds:
        imds.put("/latest/api/token").respond(200, text=TOKEN_VALUE, headers={TTL_HEADER: "21600"})
        imds.get("/latest/meta-data/instance-id").mock(
            side_effect=[httpx.Response(503), httpx.Response(200, text="i-1")]
        )
        with caplog.at_level(logging.DEBUG, logger="imdsclient"):
            make_client().get("instance-id")
    messages = [r.getMessage() for r in caplog.records if r.name == "imdsclient"]
    assert "GET /latest/meta-data/instance-id -> 503" in messages
    assert "GET /latest/meta-data/instance-id -> 200" in messages
    assert any(
        m.startswith("retrying GET /latest/meta-data/instance-id after HTTP 503") for m in messages
    )
    retry = next(r for r in caplog.records if r.getMessage().startswith("retrying"))
    assert retry.imds_attempt == 1  # type: ignore[attr-defined]
    everything = " ".join(messages) + " ".join(str(vars(r)) for r in caplog.records)
    assert TOKEN_VALUE not in everything


def test_a_retry_hook_adds_to_the_default_log(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Passing on_retry keeps the default retry log record and also calls the hook."""
    events: list[RetryEvent] = []
    with respx.mock(base_url=ENDPOINT) as imds:
        imds.put("/latest/api/token").respond(200, text="t", headers={TTL_HEADER: "60"})
        imds.get("/latest/meta-data/instance-id").mock(
            side_effect=[httpx.Response(500), httpx.Response(200, text="i-1")]
        )
        with caplog.at_level(logging.INFO, logger="imdsclient"):
            make_client(on_retry=events.append).get("instance-id")
    assert [e.cause for e in events] == ["HTTP 500"]
    assert sum(r.getMessage().startswith("retrying") for r in caplog.records) == 1
