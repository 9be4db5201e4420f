"""The public seams: an injected httpx transport (an in-process IMDS) and the exported types of
``clock=`` and ``on_retry=``."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import imdsclient
from imdsclient import AsyncIMDSClient, IMDSClient
from imdsclient.testing import FakeClock, SimulatorState


def test_a_sync_client_runs_on_the_simulator_in_process() -> None:
    """transport=httpx.MockTransport(state.handle_httpx): no socket, same protocol."""
    state = SimulatorState({"instance-id": "i-0inprocess"}, http_tokens="required")
    transport = httpx.MockTransport(state.handle_httpx)
    with IMDSClient(endpoint="http://imds.test", transport=transport) as client:
        assert client.get("instance-id") == "i-0inprocess"
    assert [(r.method, r.status) for r in state.requests] == [("PUT", 200), ("GET", 200)]


def test_an_async_client_runs_on_the_simulator_in_process() -> None:
    """The same handler backs the async client (MockTransport is both kinds)."""
    state = SimulatorState({"instance-id": "i-0inprocess"})

    async def main() -> str:
        transport = httpx.MockTransport(state.handle_httpx)
        async with AsyncIMDSClient(endpoint="http://imds.test", transport=transport) as c:
            return await c.get("instance-id")

    assert asyncio.run(main()) == "i-0inprocess"


def test_a_dropped_token_answer_in_process_falls_back_at_once() -> None:
    """hop_limit_drop through the handler is an immediate read timeout: no clock to wait on."""
    state = SimulatorState({"instance-id": "i-0inprocess"}, hop_limit_drop=True)
    transport = httpx.MockTransport(state.handle_httpx)
    with IMDSClient(endpoint="http://imds.test", transport=transport, clock=FakeClock()) as c:
        assert c.get("instance-id") == "i-0inprocess"
    assert [(r.method, r.status) for r in state.requests] == [("PUT", None), ("GET", 200)]


def test_a_transport_of_the_wrong_kind_is_a_usage_error() -> None:
    """An async-only transport for the sync client says so before anything is sent."""
    with pytest.raises(TypeError, match=r"httpx\.BaseTransport"):
        IMDSClient(endpoint="http://imds.test", transport=httpx.AsyncHTTPTransport())


def test_the_seam_types_are_exported() -> None:
    """clock= takes an imdsclient.Clock, on_retry= an imdsclient.RetryHook."""
    clock: imdsclient.Clock = FakeClock()
    hook: imdsclient.RetryHook = print
    assert callable(hook)
    assert clock.monotonic() >= 0
    assert {"Clock", "RetryHook", "RetryEvent", "RetryPolicy"} <= set(imdsclient.__all__)
