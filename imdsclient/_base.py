"""What the sync and async clients share before any I/O: settings, seams and the session."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Union

from imdsclient._clock import Clock
from imdsclient._config import IMDSConfig
from imdsclient._retry import RetryHook, RetryPolicy
from imdsclient._session import Session

if TYPE_CHECKING:
    import httpx

    #: What ``transport=`` takes: an httpx transport (sync for IMDSClient, async for the other;
    #: ``httpx.MockTransport`` is both).
    Transport = Union[httpx.BaseTransport, httpx.AsyncBaseTransport]

__all__ = ["ClientBase"]


class ClientBase:
    """Resolves settings once; subclasses add the connection pool, the lock and the I/O."""

    def __init__(
        self,
        config: IMDSConfig | None = None,
        *,
        endpoint: str | None = None,
        endpoint_mode: str | None = None,
        timeout: float | None = None,
        num_attempts: int | None = None,
        token_ttl: int | None = None,
        v1_fallback: bool | None = None,
        disabled: bool | None = None,
        instance_profile_name: str | None = None,
        extended_credentials: bool | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_retry: RetryHook | None = None,
        retry_policy: RetryPolicy | None = None,
        transport: Transport | None = None,
    ) -> None:
        """Resolve the settings: keywords override ``config``, which defaults to the environment.

        Args:
            config: Settings to start from; ``None`` reads the environment and ``~/.aws/config``
                (``IMDSConfig.from_environment()``).
            endpoint: IMDS base URL, e.g. ``http://169.254.169.254``.
            endpoint_mode: ``"IPv4"`` or ``"IPv6"`` when no endpoint is given.
            timeout: Seconds per attempt: connecting, sending and reading the whole answer.
            num_attempts: Attempts per request for transient failures (throttling gets at
                least ten).
            token_ttl: Lifetime asked for each IMDSv2 token, 1..21600 seconds.
            v1_fallback: ``False`` never sends a request without a token.
            disabled: ``True`` sends nothing and raises ``IMDSDisabledError``.
            instance_profile_name: The role to read credentials for, skipping discovery.
            extended_credentials: ``True`` reads credentials (with ``AccountId``) from the
                extended folder, falling back to the classic one where IMDS lacks it.
            clock: Time source for token expiry and backoff (tests pass a ``FakeClock``).
            rng: Random source for backoff jitter.
            on_retry: Called with a ``RetryEvent`` before each backoff sleep, after the
                default log record.
            retry_policy: How to back off (``RetryPolicy``: throttling budget, base, cap,
                ``Retry-After``); the attempt count is ``num_attempts``.
            transport: An httpx transport to send through instead of the network, e.g.
                ``httpx.MockTransport(SimulatorState().handle_httpx)`` for an in-process IMDS.
        """
        self._transport = transport
        self._session = Session.create(
            config,
            clock=clock,
            rng=rng,
            on_retry=on_retry,
            retry_policy=retry_policy,
            endpoint=endpoint,
            endpoint_mode=endpoint_mode,
            timeout=timeout,
            num_attempts=num_attempts,
            token_ttl=token_ttl,
            v1_fallback=v1_fallback,
            disabled=disabled,
            instance_profile_name=instance_profile_name,
            extended_credentials=extended_credentials,
        )
        self._open()

    def _open(self) -> None:
        """Create the connection pool and the lock (per shell)."""
        raise NotImplementedError

    @property
    def config(self) -> IMDSConfig:
        """The resolved settings."""
        return self._session.config

    @property
    def retry_policy(self) -> RetryPolicy:
        """How this client backs off (its attempt count is ``config.num_attempts``)."""
        return self._session.retry_policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.config.base_url!r})"
