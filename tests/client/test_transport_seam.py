"""The public seams: an injected httpx transport (an in-process IMDS), the network pool that is
used without one, and the exported types of ``clock=`` and ``on_retry=``."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

import imdsclient
from imdsclient import AsyncIMDSClient, IMDSClient, _core_pool, _transport
from imdsclient._protocol import get_request
from imdsclient.testing import FakeClock, IMDSSimulator, RequestRecord, SimulatorState


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


def _head(record: RequestRecord) -> tuple[str, list[tuple[str, str]]]:
    """A request's method and header lines; the token (each client has its own) masked."""
    masked = "x-aws-ec2-metadata-token"
    return record.method, [(k, "..." if k == masked else v) for k, v in record.headers.items()]


def test_the_network_pool_sends_what_an_httpx_client_sends() -> None:
    """The default pool skips httpx but puts the same request heads on the wire as an
    httpx.Client over httpx's own transport: Host, the IMDS headers, Content-Length on the PUT."""
    with IMDSSimulator() as sim:
        with IMDSClient(endpoint=sim.url) as client:
            client.get("instance-id")
        with IMDSClient(endpoint=sim.url, transport=httpx.HTTPTransport()) as client:
            client.get("instance-id")
        heads = [_head(record) for record in sim.requests]
    assert heads[:2] == heads[2:]  # names, order and values
    put, get = (dict(h) for _, h in heads[:2])
    assert put["content-length"] == "0"
    assert "content-length" not in get
    assert get["accept-encoding"] == "identity"
    assert get["user-agent"] == f"imdsclient/{imdsclient.__version__}"
    assert get["host"] == sim.url.split("://")[1]


_WITHOUT_HTTPX = """
import asyncio, sys
from imdsclient import AsyncIMDSClient, IMDSClient, _core_pool, _transport
from imdsclient._protocol import get_request
from imdsclient.testing import IMDSSimulator

async def read(url):
    async with AsyncIMDSClient(endpoint=url) as client:
        return await client.get("instance-id")

with IMDSSimulator() as sim:
    with IMDSClient(endpoint=sim.url) as client:
        value = client.get("instance-id")
    print(value == asyncio.run(read(sim.url)), "httpx" in sys.modules)
"""


def test_clients_without_a_transport_never_import_httpx() -> None:
    """httpx is only the transport= seam: reading values over the network never imports it."""
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_HTTPX], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["True", "False"], out.stderr


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254",
        "http://[fd00:ec2::254]",
        "http://127.0.0.1:80",
        "http://[::1]:8080",
        "https://IMDS.Example:443",
        "https://imds.example:8443",
    ],
)
def test_the_network_pool_addresses_the_endpoint_as_httpx_does(base_url: str) -> None:
    """Scheme, host, port, target and Host header for any endpoint the settings accept."""
    request = get_request("/latest/meta-data/instance-id", "t")
    ours = _core_pool.core_request(_transport._Endpoint(base_url, 1.0), request)
    theirs = httpx.Request("GET", base_url + request.path)
    url = theirs.url
    assert (ours.url.scheme, ours.url.host, ours.url.port, ours.url.target) == (
        url.raw_scheme,
        url.raw_host,
        url.port,
        url.raw_path,
    )
    assert ours.headers[0] == (b"Host", theirs.headers["host"].encode())
