"""An AsyncIMDSClient carries its http:// requests out on threads over the socket exchange:
the loop is never blocked, a cancelled call's request ends on its own, closing ends them all."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imdsclient import AsyncIMDSClient, RetryEvent, _async_client, _transport
from imdsclient._async_client import GATHER_CONCURRENCY
from imdsclient._transport import GATHERING_THREADS, SENDING_THREADS
from imdsclient.testing import FakeClock, IMDSSimulator
from tests.reliability._hostile import TOKEN, within
from tests.reliability._servers import Piece, RawServer, simple_answer

ID = "i-1234567890abcdef0"


def _sending_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("imdsclient-send")]


def test_requests_run_on_at_most_the_sending_threads_and_none_outlive_aclose() -> None:
    """100 tasks at once: every answer right, the loop's thread never sends, no more than
    SENDING_THREADS threads ever, and none left once the client is closed."""
    with IMDSSimulator(keep_alive=True) as sim:
        seen: set[str] = set()

        async def main() -> list[str]:
            async with AsyncIMDSClient(endpoint=sim.url, clock=FakeClock()) as client:
                values = await asyncio.gather(*[client.get("instance-id") for _ in range(100)])
                seen.update(_sending_threads())
                return values

        assert asyncio.run(main()) == [ID] * 100
    assert 1 <= len(seen) <= SENDING_THREADS
    assert _sending_threads() == []


def test_a_cancelled_call_leaves_the_client_usable() -> None:
    """A call cancelled while its request hangs is gone at once for the caller; its request
    ends on its thread by the attempt's deadline, and the next call gets its value."""
    with IMDSSimulator() as sim:

        async def main() -> str:
            async with AsyncIMDSClient(endpoint=sim.url, clock=FakeClock(), timeout=0.5) as client:
                assert await client.get("instance-id") == ID
                sim.inject("hang", path="instance-id")
                hung = asyncio.ensure_future(client.get("instance-id"))
                await asyncio.sleep(0.05)
                hung.cancel()
                try:
                    await hung
                except asyncio.CancelledError:
                    pass
                else:
                    raise AssertionError("the call was not cancelled")
                return await client.get("instance-id")

        assert asyncio.run(main()) == ID
    assert _sending_threads() == []


# -- a Gather's flows on the gathering threads ------------------------------------------------

WIDE = "/latest/meta-data/wide/"
LEAVES = 40


def _wide_imds(pause: float) -> Callable[[str, str], Iterator[Piece]]:
    """A token and the ``wide/`` listing at once; each leaf (and anything else) after ``pause``."""

    def respond(method: str, path: str) -> Iterator[Piece]:
        if method == "PUT":
            yield from simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
        elif path == WIDE:
            yield from simple_answer(200, "\n".join(f"l{i}" for i in range(LEAVES)).encode())
        else:
            yield pause
            yield from simple_answer(200, path.rsplit("/", 1)[-1].encode())

    return respond


class _Recorder:
    """Wraps ``send_sync`` (inside the client's bound on requests in flight): which thread sent
    each path, the most requests ever in flight at once, and the GETs started and done."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: dict[str, str] = {}
        self.in_flight = self.peak = self.started = self.done = 0
        self._lock = threading.Lock()
        send = _transport.send_sync

        def recorded(pool: Any, request: Any) -> Any:
            with self._lock:
                self.threads[request.path] = threading.current_thread().name
                self.in_flight += 1
                self.started += request.method == "GET"
                self.peak = max(self.peak, self.in_flight)
            try:
                return send(pool, request)
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self.done += request.method == "GET"

        monkeypatch.setattr(_transport, "send_sync", recorded)


def test_a_crawl_reads_on_the_gathering_threads_without_a_hop_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dump(): the folder's listing goes out on a sending thread, every leaf of the level on
    one of at most GATHERING_THREADS gathering threads (each drives its flows itself)."""
    recorder = _Recorder(monkeypatch)
    with RawServer(_wide_imds(0.0)) as server:

        async def main() -> dict[str, Any]:
            async with AsyncIMDSClient(endpoint=server.url, clock=FakeClock()) as client:
                return await client.dump("wide/")

        assert within(30, lambda: asyncio.run(main())) == {f"l{i}": f"l{i}" for i in range(LEAVES)}
    leaves = {p: t for p, t in recorder.threads.items() if p.startswith(WIDE) and p != WIDE}
    assert len(leaves) == LEAVES
    assert recorder.threads[WIDE].startswith("imdsclient-send")
    assert all(name.startswith("imdsclient-gather") for name in leaves.values())
    assert 1 <= len(set(leaves.values())) <= GATHERING_THREADS


def test_a_crawl_and_tasks_together_stay_within_the_bound_of_requests_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dump's gathering threads and 64 tasks' sending threads share one bound: at most
    SENDING_THREADS requests in flight at once, reached, never passed."""
    recorder = _Recorder(monkeypatch)
    with RawServer(_wide_imds(0.05)) as server:

        async def main() -> tuple[dict[str, Any], list[str]]:
            async with AsyncIMDSClient(endpoint=server.url, clock=FakeClock()) as client:
                await client.get("instance-id")
                gets = asyncio.gather(*(client.get("instance-id") for _ in range(64)))
                tree, values = await asyncio.gather(client.dump("wide/"), gets)
                return tree, list(values)

        tree, values = within(60, lambda: asyncio.run(main()))
    assert len(tree) == LEAVES
    assert values == ["instance-id"] * 64
    assert recorder.peak == SENDING_THREADS


def test_cancelling_a_crawl_starts_no_more_of_its_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dump cancelled while its first eight leaves are out: the caller gets CancelledError at
    once, the eight reads finish on their threads, and no other leaf is ever asked for."""
    recorder = _Recorder(monkeypatch)
    with RawServer(_wide_imds(1.0)) as server:  # the leaves are out long enough to cancel

        async def main() -> None:
            async with AsyncIMDSClient(endpoint=server.url, clock=FakeClock()) as client:
                crawl = asyncio.ensure_future(client.dump("wide/"))
                while recorder.started < 1 + GATHER_CONCURRENCY:  # the listing, eight leaves
                    await asyncio.sleep(0.01)
                crawl.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await crawl
                assert recorder.done == 1  # the leaves are still out
                while recorder.done < recorder.started:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)  # a worker that went on would have sent by now

        within(30, lambda: asyncio.run(main()))
    assert recorder.started == 1 + GATHER_CONCURRENCY
    assert [t for t in threading.enumerate() if t.name.startswith("imdsclient-")] == []


class _LoopClock(FakeClock):
    """A FakeClock that records the thread of every ``asleep`` (and refuses a blocking sleep)."""

    def __init__(self) -> None:
        super().__init__()
        self.asleep_on: list[str] = []

    def sleep(self, seconds: float) -> None:
        raise AssertionError("an async client blocked a thread in sleep()")

    async def asleep(self, seconds: float) -> None:
        self.asleep_on.append(threading.current_thread().name)
        FakeClock.sleep(self, seconds)


def test_a_crawl_on_threads_takes_the_token_lock_and_sleeps_on_the_event_loop() -> None:
    """A leaf refused with 401 and one answered 503: the gathering threads ask the loop for the
    token lock (one new PUT), the backoff sleeps (the client's clock) and the ``on_retry`` hook
    (documented to run in the event loop), and the dump is whole."""
    clock = _LoopClock()
    hooked: list[str] = []
    with IMDSSimulator(keep_alive=True) as sim:
        sim.inject("error", path="placement/region", status=401)
        sim.inject("error", path="placement/availability-zone", status=503)

        async def main() -> tuple[dict[str, Any], str]:
            def hook(event: RetryEvent) -> None:
                hooked.append(threading.current_thread().name)

            async with AsyncIMDSClient(endpoint=sim.url, clock=clock, on_retry=hook) as client:
                return await client.dump("placement/"), threading.current_thread().name

        tree, loop_thread = within(30, lambda: asyncio.run(main()))
        assert sim.count("PUT") == 2
    assert tree["region"]
    assert tree["availability-zone"]
    assert clock.asleep_on
    assert set(clock.asleep_on) == {loop_thread}
    assert hooked
    assert set(hooked) == {loop_thread}


def test_waiting_on_a_closed_event_loop_raises_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gathering thread asks a loop for a step: a loop closed already refuses at once (the
    step is closed, not left unawaited); one closed while the thread waits ends the wait."""
    monkeypatch.setattr(_async_client, "LOOP_CHECK_SECONDS", 0.01)

    async def step() -> str:
        return "never"

    closed = asyncio.new_event_loop()
    closed.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be an error
        with pytest.raises(RuntimeError, match="closed"):
            _async_client._on_loop(step(), closed)
        gc.collect()

    idle = asyncio.new_event_loop()  # never run: the step waits until the loop is closed
    outcome: list[BaseException] = []
    scheduled = threading.Event()
    schedule = asyncio.run_coroutine_threadsafe

    def scheduling(*args: Any) -> Any:
        future = schedule(*args)
        scheduled.set()
        return future

    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", scheduling)

    def wait() -> None:
        try:
            _async_client._on_loop(step(), idle)
        except RuntimeError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert scheduled.wait(10)  # the step is on the loop's queue: the waiter waits for it
    idle.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert len(outcome) == 1
    assert "closed before it answered" in str(outcome[0])
