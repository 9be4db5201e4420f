"""Single flight: many threads or tasks meeting an empty or expired token cause one PUT."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import respx

from imdsclient import (
    AsyncIMDSClient,
    EndpointDisabledError,
    IMDSClient,
    IMDSConnectionError,
    IMDSError,
)
from imdsclient._async_client import GATHER_CONCURRENCY, MAX_IN_FLIGHT
from imdsclient._protocol import TTL_HEADER
from imdsclient.testing import FakeClock, IMDSSimulator
from tests.conftest import ENDPOINT
from tests.forking import in_child

ID = "/latest/meta-data/instance-id"
TOKEN = "/latest/api/token"
THREADS = 32
TASKS = 1000


@pytest.fixture
def imds() -> Iterator[respx.Router]:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        router.get(ID).respond(200, text="i-1")
        yield router


def puts(router: respx.Router) -> int:
    return sum(1 for c in router.calls if c.request.method == "PUT")


class CountingClock(FakeClock):
    """A fake clock that counts reads: a request reads it once before it waits for the token
    lock, and the one fetching reads it twice more (the re-check, the throttle gate) before the
    PUT, so the PUT can be held until every thread has asked (no private hooks)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = threading.Semaphore(0)

    def monotonic(self) -> float:
        self.reads.release()
        return super().monotonic()


def test_threads_share_one_token_fetch(imds: respx.Router) -> None:
    """32 threads hitting a cold client: the PUT is held until all have asked; still one PUT."""
    clock = CountingClock()
    client = IMDSClient(endpoint=ENDPOINT, clock=clock)

    def slow_put(request: httpx.Request) -> httpx.Response:
        for _ in range(THREADS + 2):  # every thread has asked, so all others wait on the lock
            assert clock.reads.acquire(timeout=10)
        return httpx.Response(200, text="tok", headers={TTL_HEADER: "21600"})

    imds.put(TOKEN).mock(side_effect=slow_put)
    with client, ThreadPoolExecutor(THREADS) as pool:
        values = list(pool.map(lambda _: client.get("instance-id"), range(THREADS * 4)))
    assert values == ["i-1"] * THREADS * 4
    assert puts(imds) == 1


def test_tasks_share_one_token_fetch(imds: respx.Router, clock: FakeClock) -> None:
    """1000 tasks hitting a cold async client, and again after expiry: one PUT each time."""
    events: list[asyncio.Event] = []  # made inside the loop (Python 3.9 binds at creation)

    async def slow_put(request: httpx.Request) -> httpx.Response:
        await events[0].wait()
        return httpx.Response(200, text="tok", headers={TTL_HEADER: "600"})

    imds.put(TOKEN).mock(side_effect=slow_put)

    async def main() -> list[str]:
        events.append(asyncio.Event())
        async with AsyncIMDSClient(endpoint=ENDPOINT, clock=clock, token_ttl=600) as client:
            tasks = [asyncio.ensure_future(client.get("instance-id")) for _ in range(TASKS)]
            await asyncio.sleep(0)  # let every task reach the token lock
            events[0].set()
            first = await asyncio.gather(*tasks)
            assert puts(imds) == 1
            clock.advance(600)
            second = await asyncio.gather(*(client.get("instance-id") for _ in range(TASKS)))
            return first + second

    assert asyncio.run(main()) == ["i-1"] * TASKS * 2
    assert puts(imds) == 2


def test_a_failed_async_crawl_leaves_no_request_running(imds: respx.Router) -> None:
    """When one read of a dump fails, no sibling starts another request; those in flight end
    before the call raises (none is cancelled mid-connection), so nothing runs or sends after."""
    imds.put(TOKEN).respond(200, text="tok", headers={TTL_HEADER: "21600"})
    imds.get("/latest/meta-data/").respond(200, text="\n".join(f"k{i}" for i in range(40)))
    imds.get("/latest/meta-data/k0").respond(403)

    async def slow_leaf(request: httpx.Request) -> httpx.Response:
        for _ in range(5):  # scheduling points, not waits: the failure lands meanwhile
            await asyncio.sleep(0)
        return httpx.Response(200, text="v")

    leaves = imds.get(url__regex=r"/k[0-9]+$").mock(side_effect=slow_leaf)

    async def main() -> tuple[int, int, int]:
        async with AsyncIMDSClient(endpoint=ENDPOINT) as client:
            with pytest.raises(EndpointDisabledError):
                await client.dump()
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            sent = leaves.call_count
            for _ in range(20):  # anything still running would send now
                await asyncio.sleep(0)
            return len(left), sent, leaves.call_count - sent

    left, sent, later = asyncio.run(main())
    assert (left, later) == (0, 0)
    assert sent < GATHER_CONCURRENCY  # of 39 leaves, only those already in flight were read


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_a_held_token_lock(imds: respx.Router) -> None:
    """A child forked while a parent thread fetches a token gets its own lock, not a deadlock."""
    parent = os.getpid()
    fetching, release = threading.Event(), threading.Event()

    def put(request: httpx.Request) -> httpx.Response:
        if os.getpid() == parent:  # the parent's fetch holds the token lock until released
            fetching.set()
            assert release.wait(timeout=10)
        return httpx.Response(200, text="tok", headers={TTL_HEADER: "21600"})

    imds.put(TOKEN).mock(side_effect=put)
    client = IMDSClient(endpoint=ENDPOINT)
    holder = threading.Thread(target=client.get, args=("instance-id",))
    holder.start()
    try:
        assert fetching.wait(timeout=10)
        code, child_saw = in_child(lambda: client.get("instance-id").encode())
    finally:
        release.set()
        holder.join(timeout=10)
        client.close()
    assert child_saw == b"i-1"
    assert code == 0


def test_threads_waiting_on_a_failed_token_fetch_share_its_error(imds: respx.Router) -> None:
    """Threads queued behind a token fetch that fails get its error; they do not each retry it."""
    clock = CountingClock()
    client = IMDSClient(endpoint=ENDPOINT, clock=clock)
    first = threading.Lock()

    def unreachable(request: httpx.Request) -> httpx.Response:
        if first.acquire(blocking=False):  # wait until every thread has asked for the token
            for _ in range(THREADS + 2):
                assert clock.reads.acquire(timeout=10)
        raise httpx.ConnectError("no route", request=request)

    imds.put(TOKEN).mock(side_effect=unreachable)

    def get(_: int) -> BaseException | str:
        try:
            return client.get("instance-id")
        except IMDSError as exc:
            return exc

    with client, ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(get, range(THREADS)))
    assert all(isinstance(o, IMDSConnectionError) for o in outcomes)
    assert puts(imds) == 1


def test_tasks_waiting_on_a_failed_token_fetch_share_its_error(
    imds: respx.Router, clock: FakeClock
) -> None:
    """Tasks queued behind a token fetch that fails get its error; a later call fetches anew."""
    events: list[asyncio.Event] = []

    async def unreachable_once(request: httpx.Request) -> httpx.Response:
        if len(events) == 1:  # the first PUT waits until every task is queued, then fails
            events.append(asyncio.Event())
            await events[0].wait()
            raise httpx.ConnectError("no route", request=request)
        return httpx.Response(200, text="tok", headers={TTL_HEADER: "21600"})

    imds.put(TOKEN).mock(side_effect=unreachable_once)

    async def main() -> tuple[list[BaseException | str], str]:
        events.append(asyncio.Event())
        async with AsyncIMDSClient(endpoint=ENDPOINT, clock=clock) as client:
            tasks = [asyncio.ensure_future(client.get("instance-id")) for _ in range(TASKS)]
            await asyncio.sleep(0)  # let every task reach the token lock
            events[0].set()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert puts(imds) == 1
            return outcomes, await client.get("instance-id")

    outcomes, later = asyncio.run(main())
    assert all(isinstance(o, IMDSConnectionError) for o in outcomes)
    assert later == "i-1"
    assert puts(imds) == 2


def test_tasks_never_have_more_requests_in_flight_than_the_bound(
    imds: respx.Router, clock: FakeClock
) -> None:
    """1000 tasks on one warm client: they share the work, but at most MAX_IN_FLIGHT requests
    are handed to the pool at once (the rest wait in the client, not in httpcore's pool, whose
    hand-over scans every waiter against every connection)."""
    in_flight, peak = 0, 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):  # scheduling points, not waits: let every other task try to send
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, text="i-1")

    imds.put(TOKEN).respond(200, text="tok", headers={TTL_HEADER: "21600"})
    imds.get(ID).mock(side_effect=answer)

    async def main() -> list[str]:
        async with AsyncIMDSClient(endpoint=ENDPOINT, clock=clock) as client:
            await client.get("instance-id")
            return await asyncio.gather(*(client.get("instance-id") for _ in range(TASKS)))

    assert asyncio.run(main()) == ["i-1"] * TASKS
    assert peak == MAX_IN_FLIGHT


def test_tasks_on_a_keep_alive_server_open_at_most_the_bound_of_connections() -> None:
    """Over the network, 300 tasks on one warm client open at most MAX_IN_FLIGHT connections,
    and reuse them: none is closed as surplus of the pool's keep-alive count and reopened."""

    async def main(url: str) -> list[str]:
        async with AsyncIMDSClient(endpoint=url) as client:
            await client.get("instance-id")  # warm: the tasks do not file through the token lock
            return await asyncio.gather(*(client.get("instance-id") for _ in range(300)))

    with IMDSSimulator(keep_alive=True) as sim:
        values = asyncio.run(main(sim.url))
        assert len(set(values)) == 1
        assert sim.count("GET") == 301
        assert 1 <= sim.connections <= MAX_IN_FLIGHT


def test_a_client_in_a_second_loop_bounds_its_requests_there_too(imds: respx.Router) -> None:
    """More tasks than the bound in two asyncio.run() calls: the second loop gets a bound of its
    own (a semaphore of the first loop cannot be waited on in the second)."""
    imds.put(TOKEN).respond(200, text="tok", headers={TTL_HEADER: "21600"})

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # every task reaches the bound before the first answer
        return httpx.Response(200, text="i-1")

    imds.get(ID).mock(side_effect=answer)
    client = AsyncIMDSClient(endpoint=ENDPOINT)

    async def burst() -> list[str]:
        return await asyncio.gather(*(client.get("instance-id") for _ in range(4 * MAX_IN_FLIGHT)))

    assert asyncio.run(burst()) == asyncio.run(burst()) == ["i-1"] * 4 * MAX_IN_FLIGHT
    asyncio.run(client.aclose())
