"""The async client's own stack of keep-alive connections (imdsclient._connections), against a
keep-alive simulator on 127.0.0.1: reuse, the idle bound, expiry and closing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpcore

from imdsclient._connections import AsyncConnections
from imdsclient.testing import IMDSSimulator

PATH = b"/latest/meta-data/instance-id"


def _request(sim: IMDSSimulator) -> httpcore.Request:
    url = httpcore.URL(scheme=b"http", host=b"127.0.0.1", port=sim.port, target=PATH)
    return httpcore.Request("GET", url, headers=[(b"Host", f"127.0.0.1:{sim.port}".encode())])


async def _get(pool: AsyncConnections, sim: IMDSSimulator) -> int:
    answer = await pool.handle_async_request(_request(sim))
    try:
        async for _ in answer.aiter_stream():
            pass
    finally:
        await answer.aclose()
    return answer.status


def _run(max_idle: int, expiry: float, body: Callable[[AsyncConnections], Awaitable[None]]) -> None:
    async def main() -> None:
        pool = AsyncConnections(httpcore.AnyIOBackend(), max_idle=max_idle, keepalive_expiry=expiry)
        try:
            await body(pool)
        finally:
            await pool.aclose()

    asyncio.run(main())


def test_sequential_requests_reuse_one_connection() -> None:
    """Ten requests one after the other: one connection, given back after each answer."""
    with IMDSSimulator(keep_alive=True) as sim:

        async def body(pool: AsyncConnections) -> None:
            assert [await _get(pool, sim) for _ in range(10)] == [200] * 10

        _run(4, 30.0, body)
        assert sim.connections == 1


def test_concurrent_requests_open_one_connection_each_and_keep_max_idle() -> None:
    """Six at once need six connections; of those only max_idle (2) are kept, so the next six
    at once open four new ones."""
    with IMDSSimulator(keep_alive=True) as sim:

        async def body(pool: AsyncConnections) -> None:
            for _ in range(2):
                statuses = await asyncio.gather(*[_get(pool, sim) for _ in range(6)])
                assert statuses == [200] * 6

        _run(2, 30.0, body)
        assert sim.connections == 6 + 4


def test_an_expired_idle_connection_is_not_reused() -> None:
    """A connection whose keep-alive has expired (here: already when given back, expiry -1 s)
    is closed, not reused: every request opens a new one."""
    with IMDSSimulator(keep_alive=True) as sim:

        async def body(pool: AsyncConnections) -> None:
            for _ in range(3):
                assert await _get(pool, sim) == 200

        _run(4, -1.0, body)
        assert sim.connections == 3


def test_a_connection_the_server_closes_is_not_kept() -> None:
    """Real-IMDS mode (Connection: close): nothing is kept idle, every request connects."""
    with IMDSSimulator() as sim:

        async def body(pool: AsyncConnections) -> None:
            for _ in range(3):
                assert await _get(pool, sim) == 200

        _run(4, 30.0, body)
        assert sim.connections == 3
