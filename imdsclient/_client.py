"""``IMDSClient``: the synchronous shell that carries out the flows of ``_operations``."""

from __future__ import annotations

import builtins
import logging
import os
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from imdsclient import _metadata as meta
from imdsclient import _operations as ops
from imdsclient._base import ClientBase
from imdsclient._protocol import Response, Result, describe
from imdsclient._retry import retry_sync
from imdsclient._token import Grant, Plan
from imdsclient._transport import send_sync, sync_client

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

__all__ = ["IMDSClient"]

logger = logging.getLogger("imdsclient")
T = TypeVar("T")


class IMDSClient(ClientBase):
    """A thread-safe IMDS client: one token per lifetime, retries, and clear errors.

    Settings come from keyword arguments, then ``config``, then the environment and
    ``~/.aws/config``; see ``__init__`` for each keyword.
    """

    def _open(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._http: httpx.Client | None = sync_client(self.config.base_url, self.config.timeout)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def __enter__(self) -> IMDSClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public operations: one line each, naming their flow ---------------------------

    def get(self, path: str) -> str:
        """The value at ``path`` (relative paths are under ``/latest/meta-data/``)."""
        return self._run(ops.get_text(self._session, path))

    def get_bytes(self, path: str) -> bytes:
        """The exact bytes served at ``path``."""
        return self._run(ops.get_bytes(self._session, path))

    def get_json(self, path: str) -> Any:
        """The value at ``path`` parsed as JSON."""
        return self._run(ops.get_json(self._session, path))

    def list(self, path: str = "") -> list[str]:
        """The entries of a folder; names ending in '/' are folders."""
        return self._run(ops.listing(self._session, path))

    def is_available(self) -> bool:
        """Whether IMDS answers; one quick attempt, never raises."""
        return self._run(ops.is_available(self._session))

    # -- typed metadata (flows in _metadata) ---------------------------------------------

    def instance_identity(self) -> InstanceIdentityDocument:
        """The instance identity document (cached per client)."""
        return self._run(meta.instance_identity(self._session))

    def instance_id(self) -> str:
        """This instance's id, ``i-…`` (cached per client)."""
        return self._run(meta.instance_id(self._session))

    def region(self) -> str:
        """The AWS region, e.g. ``us-east-1`` (cached per client)."""
        return self._run(meta.region(self._session))

    def availability_zone(self) -> str:
        """The availability zone, e.g. ``us-east-1a`` (cached per client)."""
        return self._run(meta.availability_zone(self._session))

    def account_id(self) -> str:
        """The AWS account id owning the instance (cached per client)."""
        return self._run(meta.account_id(self._session))

    def iam_info(self) -> IAMInfo | None:
        """The instance profile, or ``None`` when no profile is attached."""
        return self._run(meta.iam_info(self._session))

    def iam_credentials(self, role: str | None = None) -> IAMCredentials:
        """The role's temporary credentials: one GET once the role is known; never cached."""
        return self._run(meta.iam_credentials(self._session, role))

    def user_data(self) -> bytes | None:
        """The exact bytes of the user data, or ``None`` when there is none."""
        return self._run(meta.user_data(self._session))

    def tags(self) -> dict[str, str]:
        """Instance tags; ``{}`` when tags are not enabled in instance metadata."""
        return self._run(meta.tags(self._session))

    def spot_instance_action(self) -> SpotInstanceAction | None:
        """The pending Spot interruption, or ``None``."""
        return self._run(meta.spot_instance_action(self._session))

    def rebalance_recommendation(self) -> RebalanceRecommendation | None:
        """The rebalance recommendation, or ``None``."""
        return self._run(meta.rebalance_recommendation(self._session))

    def scheduled_events(self) -> builtins.list[ScheduledEvent]:
        """Scheduled maintenance events; ``[]`` when there are none."""
        return self._run(meta.scheduled_events(self._session))

    def network_interfaces(self) -> builtins.list[NetworkInterface]:
        """Every network interface, the primary one first."""
        return self._run(meta.network_interfaces(self._session))

    def public_keys(self) -> builtins.list[PublicKey]:
        """The SSH key pairs; ``[]`` when the instance has none."""
        return self._run(meta.public_keys(self._session))

    def block_device_mapping(self) -> dict[str, str]:
        """Virtual device name (``ami``, ``root``, ``ebs1``…) → device name."""
        return self._run(meta.block_device_mapping(self._session))

    def dump(self, path: str = "", *, include_credentials: bool = False) -> dict[str, Any]:
        """The tree under ``path`` as nested dicts of text; credentials only if asked."""
        return self._run(meta.dump(self._session, path, include_credentials))

    def verified_identity(
        self, *, certificates: Certificates | None = None, allow_dsa: bool = False
    ) -> VerifiedIdentity:
        """The identity document with its ``rsa2048`` signature verified (cached per client)."""
        from imdsclient import _verify  # lazy: only verification needs it

        return self._run(
            _verify.verified_identity(self._session, certificates=certificates, allow_dsa=allow_dsa)
        )

    def cache_clear(self) -> None:
        """Forget the cached immutable values and the IAM role name."""
        return self._run(meta.cache_clear(self._session))

    # -- the effect interpreter ------------------------------------------------------------

    def _run(self, flow: ops.Flow[T]) -> T:
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
                value, error = self._handle(effect), None
            except Exception as exc:  # handed to the flow, which may handle it
                value, error = None, exc

    def _handle(self, effect: ops.Effect) -> Any:
        if isinstance(effect, ops.Send):
            return self._send(effect)
        if isinstance(effect, ops.NeedToken):
            return self._token(effect)
        return [self._run(flow) for flow in effect.flows]

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise RuntimeError("This IMDSClient is closed; create a new one.")
        if self._pid != os.getpid():  # forked: never share the parent's connections or lock
            # The parent's lock may have been held by a thread that does not exist here.
            self._pid, self._lock = os.getpid(), threading.Lock()
            self._http = sync_client(self.config.base_url, self.config.timeout)
        return self._http

    def _send(self, effect: ops.Send) -> Result:
        http, session, request = self._client(), self._session, effect.request

        def once() -> Result:
            result = send_sync(http, request)
            if isinstance(result, Response):
                session.endpoint_seen = True
            logger.debug("%s %s -> %s", request.method, request.path, describe(result))
            return result

        return retry_sync(
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

    def _token(self, effect: ops.NeedToken) -> Grant:
        tokens, clock = self._session.tokens, self._session.clock
        plan, grant = tokens.plan(clock.monotonic(), stale=effect.stale)
        if plan is Plan.USE:
            return grant
        self._client()  # after a fork, replace the lock before waiting on it
        ticket = tokens.ticket()
        # Single flight: whoever waited here finds the fresh token (or the shared error).
        with self._lock:
            grant_now = tokens.recheck(ticket, clock.monotonic(), stale=effect.stale)
            if grant_now is not None:
                return grant_now
            return self._run(ops.token_flow(self._session, single_attempt=effect.single_attempt))
