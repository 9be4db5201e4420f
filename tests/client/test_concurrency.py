"""Single flight: many threads or tasks meeting an empty or expired token cause one PUT."""

from __future__ import annotations

import asyncio
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
    IMDSError,
    IMDSTimeoutError,
)
from imdsclient._protocol import TTL_HEADER
from imdsclient.testing import FakeClock
from tests.conftest import ENDPOINT

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


def test_threads_share_one_token_fetch(imds: respx.Router, clock: FakeClock) -> None:
    """32 threads hitting a cold client: the PUT is held until all have asked; still one PUT."""
    client = IMDSClient(endpoint=ENDPOINT, clock=clock)
    asked = threading.Semaphore(0)
    plan = client._session.tokens.plan

    def counting_plan(now: float, *, stale: int | None = None):  # type: ignore[no-untyped-def]
        asked.release()
        return plan(now, stale=stale)

    client._session.tokens.plan = counting_plan  # type: ignore[method-assign]

    def slow_put(request: httpx.Request) -> httpx.Response:
        for _ in range(THREADS):  # every thread has planned, so all others wait on the lock
            assert asked.acquire(timeout=10)
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
    """When one read of a dump fails, the async shell cancels its siblings before raising."""
    imds.put(TOKEN).respond(200, text="tok", headers={TTL_HEADER: "21600"})
    imds.get("/latest/meta-data/").respond(200, text="\n".join(f"k{i}" for i in range(20)))
    imds.get("/latest/meta-data/k0").respond(403)

    async def slow_leaf(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        return httpx.Response(200, text="v")

    leaves = imds.get(url__regex=r"/k[0-9]+$").mock(side_effect=slow_leaf)

    async def main() -> tuple[int, int]:
        async with AsyncIMDSClient(endpoint=ENDPOINT) as client:
            with pytest.raises(EndpointDisabledError):
                await client.dump()
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            sent = leaves.call_count
            await asyncio.sleep(0.1)  # anything still running would send now
            return len(left), leaves.call_count - sent

    assert asyncio.run(main()) == (0, 0)


def test_a_forked_child_does_not_inherit_a_held_token_lock(imds: respx.Router) -> None:
    """A child forked while a parent thread fetched a token gets its own lock, not a deadlock."""
    imds.put(TOKEN).respond(200, text="tok", headers={TTL_HEADER: "21600"})
    client = IMDSClient(endpoint=ENDPOINT)
    parent_lock = client._lock
    parent_lock.acquire()  # held by a parent thread that does not exist in the child
    client._pid = -1  # what the child sees: the pid recorded is not its own
    values: list[str] = []
    child = threading.Thread(target=lambda: values.append(client.get("instance-id")), daemon=True)
    child.start()
    child.join(timeout=5)
    deadlocked = child.is_alive()
    if deadlocked:  # let the stuck thread finish
        parent_lock.release()
        child.join(timeout=5)
    client.close()
    assert not deadlocked
    assert values == ["i-1"]


def test_threads_waiting_on_a_failed_token_fetch_share_its_error(
    imds: respx.Router, clock: FakeClock
) -> None:
    """Threads queued behind a token fetch that fails get its error; they do not each retry it."""
    client = IMDSClient(endpoint=ENDPOINT, clock=clock)
    asked = threading.Semaphore(0)
    ticket = client._session.tokens.ticket

    def counting_ticket() -> int:  # taken by each thread just before it waits on the lock
        try:
            return ticket()
        finally:
            asked.release()

    client._session.tokens.ticket = counting_ticket  # type: ignore[method-assign]

    first = threading.Lock()

    def unreachable(request: httpx.Request) -> httpx.Response:
        if first.acquire(blocking=False):  # wait until every thread is queued on the token lock
            for _ in range(THREADS):
                assert asked.acquire(timeout=10)
        raise httpx.ConnectTimeout("no route", request=request)

    imds.put(TOKEN).mock(side_effect=unreachable)

    def get(_: int) -> BaseException | str:
        try:
            return client.get("instance-id")
        except IMDSError as exc:
            return exc

    with client, ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(get, range(THREADS)))
    assert all(isinstance(o, IMDSTimeoutError) for o in outcomes)
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
            raise httpx.ConnectTimeout("no route", request=request)
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
    assert all(isinstance(o, IMDSTimeoutError) for o in outcomes)
    assert later == "i-1"
    assert puts(imds) == 2
