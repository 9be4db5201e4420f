"""``AsyncIMDSClient``: the asyncio shell that carries out the flows of ``_operations``."""

from __future__ import annotations

import asyncio
import builtins
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from imdsclient import _metadata as meta
from imdsclient import _operations as ops
from imdsclient._base import ClientBase
from imdsclient._protocol import Response, Result, describe
from imdsclient._retry import retry_async
from imdsclient._token import Grant, Plan
from imdsclient._transport import async_client, send_async

if TYPE_CHECKING:  # annotations only: the models (and pydantic) load when a typed call needs them
    from imdsclient._models import (
        IAMCredentials,
        IAMInfo,
        InstanceIdentityDocument,
        NetworkInterface,
        PublicKey,
        RebalanceRecommendation,
        ScheduledEvent,
        SpotInstanceAction,
    )
    from imdsclient._trust import Certificates
    from imdsclient._verify import VerifiedIdentity

__all__ = ["AsyncIMDSClient"]

#: At most this many requests of one ``Gather`` (e.g. ``dump``) are in flight at once.
GATHER_CONCURRENCY = 8

logger = logging.getLogger("imdsclient")
T = TypeVar("T")


class AsyncIMDSClient(ClientBase):
    """The asyncio twin of ``IMDSClient``: task-safe, same methods, awaitable.

    Settings come from keyword arguments, then ``config``, then the environment and
    ``~/.aws/config``; see ``__init__`` for each keyword.
    """

    def _open(self) -> None:
        self._lock: asyncio.Lock | None = None  # made in the running loop (Python 3.9 binds early)
        self._http: httpx.AsyncClient | None = async_client(
            self.config.base_url, self.config.timeout
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> AsyncIMDSClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- public operations: one line each, naming their flow ---------------------------

    async def get(self, path: str) -> str:
        """The value at ``path`` (relative paths are under ``/latest/meta-data/``)."""
        return await self._run(ops.get_text(self._session, path))

    async def get_bytes(self, path: str) -> bytes:
        """The exact bytes served at ``path``."""
        return await self._run(ops.get_bytes(self._session, path))

    async def get_json(self, path: str) -> Any:
        """The value at ``path`` parsed as JSON."""
        return await self._run(ops.get_json(self._session, path))

    async def list(self, path: str = "") -> list[str]:
        """The entries of a folder; names ending in '/' are folders."""
        return await self._run(ops.listing(self._session, path))

    async def is_available(self) -> bool:
        """Whether IMDS answers; one quick attempt, never raises."""
        return await self._run(ops.is_available(self._session))

    # -- typed metadata (flows in _metadata) ---------------------------------------------

    async def instance_identity(self) -> InstanceIdentityDocument:
        """The instance identity document (cached per client)."""
        return await self._run(meta.instance_identity(self._session))

    async def instance_id(self) -> str:
        """This instance's id, ``i-…`` (cached per client)."""
        return await self._run(meta.instance_id(self._session))

    async def region(self) -> str:
        """The AWS region, e.g. ``us-east-1`` (cached per client)."""
        return await self._run(meta.region(self._session))

    async def availability_zone(self) -> str:
        """The availability zone, e.g. ``us-east-1a`` (cached per client)."""
        return await self._run(meta.availability_zone(self._session))

    async def account_id(self) -> str:
        """The AWS account id owning the instance (cached per client)."""
        return await self._run(meta.account_id(self._session))

    async def iam_info(self) -> IAMInfo | None:
        """The instance profile, or ``None`` when no profile is attached."""
        return await self._run(meta.iam_info(self._session))

    async def iam_credentials(self, role: str | None = None) -> IAMCredentials:
        """The role's temporary credentials: one GET once the role is known; never cached."""
        return await self._run(meta.iam_credentials(self._session, role))

    async def user_data(self) -> bytes | None:
        """The exact bytes of the user data, or ``None`` when there is none."""
        return await self._run(meta.user_data(self._session))

    async def tags(self) -> dict[str, str]:
        """Instance tags; ``{}`` when tags are not enabled in instance metadata."""
        return await self._run(meta.tags(self._session))

    async def spot_instance_action(self) -> SpotInstanceAction | None:
        """The pending Spot interruption, or ``None``."""
        return await self._run(meta.spot_instance_action(self._session))

    async def rebalance_recommendation(self) -> RebalanceRecommendation | None:
        """The rebalance recommendation, or ``None``."""
        return await self._run(meta.rebalance_recommendation(self._session))

    async def scheduled_events(self) -> builtins.list[ScheduledEvent]:
        """Scheduled maintenance events; ``[]`` when there are none."""
        return await self._run(meta.scheduled_events(self._session))

    async def network_interfaces(self) -> builtins.list[NetworkInterface]:
        """Every network interface, the primary one first."""
        return await self._run(meta.network_interfaces(self._session))

    async def public_keys(self) -> builtins.list[PublicKey]:
        """The SSH key pairs; ``[]`` when the instance has none."""
        return await self._run(meta.public_keys(self._session))

    async def block_device_mapping(self) -> dict[str, str]:
        """Virtual device name (``ami``, ``root``, ``ebs1``…) → device name."""
        return await self._run(meta.block_device_mapping(self._session))

    async def dump(self, path: str = "", *, include_credentials: bool = False) -> dict[str, Any]:
        """The tree under ``path`` as nested dicts of text; credentials only if asked."""
        return await self._run(meta.dump(self._session, path, include_credentials))

    async def verified_identity(
        self, *, certificates: Certificates | None = None, allow_dsa: bool = False
    ) -> VerifiedIdentity:
        """The identity document with its ``rsa2048`` signature verified (cached per client)."""
        from imdsclient import _verify  # lazy: only verification needs it

        return await self._run(
            _verify.verified_identity(self._session, certificates=certificates, allow_dsa=allow_dsa)
        )

    async def cache_clear(self) -> None:
        """Forget the cached immutable values and the IAM role name."""
        return await self._run(meta.cache_clear(self._session))

    # -- the effect interpreter ------------------------------------------------------------

    async def _run(self, flow: ops.Flow[T]) -> T:
        """Drive a flow: carry out each effect and send back its result (or its error)."""
        value: Any = None
        error: Exception | None = None
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            try:
                value, error = await self._handle(effect), None
            except Exception as exc:  # handed to the flow, which may handle it
                value, error = None, exc

    async def _handle(self, effect: ops.Effect) -> Any:
        if isinstance(effect, ops.Send):
            return await self._send(effect)
        if isinstance(effect, ops.NeedToken):
            return await self._token(effect)
        limit = asyncio.Semaphore(GATHER_CONCURRENCY)

        async def bounded(flow: ops.Flow[Any]) -> Any:
            async with limit:
                return await self._run(flow)

        tasks = [asyncio.ensure_future(bounded(flow)) for flow in effect.flows]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # gather() leaves the siblings of a failed flow running: stop them, as the sync
            # shell would never have started them, so nothing is sent after the call returns.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("This AsyncIMDSClient is closed; create a new one.")
        return self._http

    async def _send(self, effect: ops.Send) -> Result:
        http, session, request = self._client(), self._session, effect.request

        async def once() -> Result:
            result = await send_async(http, request)
            if isinstance(result, Response):
                session.endpoint_seen = True
            logger.debug("%s %s -> %s", request.method, request.path, describe(result))
            return result

        return await retry_async(
            once,
            request,
            policy=session.retry_policy,
            clock=session.clock,
            rng=session.rng,
            hook=session.on_retry,
            gate=session.gate,
            endpoint_seen=session.seen,
            single_attempt=effect.single_attempt,
        )

    async def _token(self, effect: ops.NeedToken) -> Grant:
        tokens, clock = self._session.tokens, self._session.clock
        plan, grant = tokens.plan(clock.monotonic(), stale=effect.stale)
        if plan is Plan.USE:
            return grant
        if self._lock is None:
            self._lock = asyncio.Lock()
        ticket = tokens.ticket()
        # Single flight: whoever waited here finds the fresh token (or the shared error).
        async with self._lock:
            grant_now = tokens.recheck(ticket, clock.monotonic(), stale=effect.stale)
            if grant_now is not None:
                return grant_now
            return await self._run(
                ops.token_flow(self._session, single_attempt=effect.single_attempt)
            )
