"""An AsyncIMDSClient carries its http:// requests out on threads over the socket exchange:
the loop is never blocked, a cancelled call's request ends on its own, closing ends them all."""

from __future__ import annotations

import asyncio
import threading

from imdsclient import AsyncIMDSClient
from imdsclient._transport import SENDING_THREADS
from imdsclient.testing import FakeClock, IMDSSimulator

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
