"""What one client knows between calls: its settings, token state, and cached values.

Shared by the sync and async shells; everything here is plain data plus the injected seams
(clock, random source, retry hook).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from imdsclient._clock import SYSTEM_CLOCK, Clock
from imdsclient._config import IMDSConfig
from imdsclient._retry import RetryEvent, RetryHook, RetryPolicy, ThrottleGate, log_retry
from imdsclient._token import TokenState

__all__ = ["Session"]


@dataclass
class Session:
    """The state behind one ``IMDSClient`` or ``AsyncIMDSClient``."""

    config: IMDSConfig
    clock: Clock = SYSTEM_CLOCK
    rng: random.Random = field(default_factory=random.Random)
    on_retry: RetryHook = log_retry
    #: How to back off; the attempt count is ``config.num_attempts``.
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: Shared by every request of the client: a throttled answer pauses them all.
    gate: ThrottleGate = field(default_factory=ThrottleGate)
    tokens: TokenState = field(default_factory=TokenState)
    #: Set once the endpoint has answered; from then on connection failures are retried.
    endpoint_seen: bool = False
    #: Answers (of any status) the endpoint has given; a request whose answer never came while
    #: others arrived lost a packet to throttling (``RetryPolicy.budget``).  Counted without a
    #: lock: a lost increment can only withhold the throttling budget from one retry decision.
    answers: int = 0
    #: Values that cannot change during an instance's life, by cache key.
    cache: dict[str, Any] = field(default_factory=dict)
    #: The IAM role name, discovered once (it can change, so a 404 re-discovers it).
    role: str | None = None

    @classmethod
    def create(
        cls,
        config: IMDSConfig | None,
        *,
        clock: Clock | None,
        rng: random.Random | None,
        on_retry: RetryHook | None,
        retry_policy: RetryPolicy | None = None,
        **overrides: Any,
    ) -> Session:
        """Resolve settings (keywords > ``config`` or the environment) and fill in the seams."""
        cfg = config.replace(**overrides) if config else IMDSConfig.from_environment(**overrides)
        session = cls(cfg)
        session.clock = clock or session.clock
        session.rng = rng or session.rng
        if on_retry is not None:
            session.on_retry = _log_then(on_retry)
        if retry_policy is not None:
            session.retry_policy = retry_policy
        return session


def _log_then(hook: RetryHook) -> RetryHook:
    """A user's hook adds to the default retry log; it does not silence it."""

    def both(event: RetryEvent) -> None:
        log_retry(event)
        hook(event)

    return both
