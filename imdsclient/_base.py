"""What the sync and async clients share before any I/O: settings, seams and the session."""

from __future__ import annotations

import random

from imdsclient._clock import Clock
from imdsclient._config import IMDSConfig
from imdsclient._retry import RetryHook
from imdsclient._session import Session

__all__ = ["ClientBase"]


class ClientBase:
    """Resolves settings once; subclasses add the connection pool, the lock and the I/O.

    Keyword arguments override ``config``, which defaults to the environment and
    ``~/.aws/config``.  ``clock``, ``rng`` and ``on_retry`` are seams for tests and metrics.
    """

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
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        self._session = Session.create(
            config,
            clock=clock,
            rng=rng,
            on_retry=on_retry,
            endpoint=endpoint,
            endpoint_mode=endpoint_mode,
            timeout=timeout,
            num_attempts=num_attempts,
            token_ttl=token_ttl,
            v1_fallback=v1_fallback,
            disabled=disabled,
        )
        self._open()

    def _open(self) -> None:
        """Create the connection pool and the lock (per shell)."""
        raise NotImplementedError

    @property
    def config(self) -> IMDSConfig:
        """The resolved settings."""
        return self._session.config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.config.base_url!r})"
