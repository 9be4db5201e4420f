"""aiobotocore drop-in: IAM role credentials from imdsclient, for aiobotocore (s3fs, fsspec, ...).

Install with ``pip install imdsclient[aiobotocore]``; ``import imdsclient`` never imports it.

The async twin of :mod:`imdsclient.boto`, on ``AsyncIMDSClient``: one token per token lifetime,
the role name remembered, one GET per retrieval once warm, no proxies, retries with backoff,
static stability for failed refreshes and for credentials served already expired, with the
same warnings.  Everything but the I/O is shared with :mod:`imdsclient.boto` through
:mod:`imdsclient._dropin` and :mod:`imdsclient._refresh`.

* :class:`AioInstanceMetadataFetcher`: aiobotocore's fetcher interface (``await
  retrieve_iam_role_credentials()``), task-safe: retrievals run one at a time, so concurrent
  tasks share one token and one role lookup.
* :class:`AioInstanceMetadataProvider`: an aiobotocore ``iam-role`` provider whose ``load()``
  returns ``AioRefreshableCredentials``.
* :func:`install`: swaps aiobotocore's own ``iam-role`` provider for ours in an ``AioSession``
  (or an aioboto3 ``Session``).

asyncio only, like ``AsyncIMDSClient``; a fetcher belongs to the event loop that first uses it.
See ``docs/boto.md``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

try:
    from aiobotocore.credentials import AioInstanceMetadataProvider as _AioProvider
    from aiobotocore.credentials import AioRefreshableCredentials
    from aiobotocore.session import AioSession
    from botocore.exceptions import CredentialRetrievalError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without aiobotocore
    raise ImportError(
        "imdsclient.aiobotocore needs aiobotocore, which is not installed: "
        "pip install imdsclient[aiobotocore]"
    ) from exc

from imdsclient._async_client import AsyncIMDSClient
from imdsclient._clock import Clock
from imdsclient._dropin import (
    METADATA_BASE_URL,
    FetcherCore,
    defers_to_workload,
    fetcher_settings,
    install_provider,
    refreshable,
    register_imds_feature,
)
from imdsclient._stability import MAX_STALE

__all__ = [
    "METADATA_BASE_URL",
    "AioInstanceMetadataFetcher",
    "AioInstanceMetadataProvider",
    "install",
]

logger = logging.getLogger("imdsclient.aiobotocore")


class AioInstanceMetadataFetcher(FetcherCore):
    """aiobotocore's ``AioInstanceMetadataFetcher`` interface, backed by one ``AsyncIMDSClient``.

    The arguments are those of :class:`imdsclient.boto.InstanceMetadataFetcher` (botocore's,
    plus the keyword-only ``clock``, ``rng`` and ``max_stale``).  Close it with
    ``await fetcher.close()``.
    """

    def __init__(
        self,
        timeout: float = 1,
        num_attempts: int = 1,
        base_url: str = METADATA_BASE_URL,
        env: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_stale: float = MAX_STALE,
    ) -> None:
        super().__init__(
            timeout,
            num_attempts,
            base_url,
            env,
            user_agent,
            config,
            clock=clock,
            rng=rng,
            max_stale=max_stale,
            logger=logger,
        )
        self._lock: asyncio.Lock | None = None  # made in the running loop (Python 3.9 binds early)
        self._client = AsyncIMDSClient(self.imds_config, clock=self._clock, rng=self._rng)

    @property
    def client(self) -> AsyncIMDSClient:
        """The ``AsyncIMDSClient`` behind this fetcher (one per fetcher: one token per lifetime)."""
        return self._client

    async def close(self) -> None:
        """Close the connection pool; retrievals afterwards return ``{}``."""
        await self._client.aclose()

    async def retrieve_iam_role_credentials(self) -> dict[str, str]:
        """``role_name``, ``access_key``, ``secret_key``, ``token``, ``expiry_time``; or ``{}``.

        Never raises (except ``CancelledError``): a failure is logged (debug; the hop limit once at
        WARNING) and answered with ``{}``, unless static stability serves the last credentials.
        """
        try:
            return await self._credentials()
        except Exception as exc:  # the credential chain must move on, never break
            return self.no_credentials(exc)

    async def _credentials(self) -> dict[str, str]:
        """Like ``retrieve_iam_role_credentials`` but raising the imdsclient error on failure."""
        if self._lock is None:  # no await since the check: no other task can interleave
            self._lock = asyncio.Lock()
        async with self._lock:
            state = self._state
            served = state.held()
            if served is not None:
                return served
            try:
                creds = await self._client.iam_credentials()
            except Exception as exc:
                return state.failed(exc)
            return state.succeeded(creds)


class AioInstanceMetadataProvider(_AioProvider):  # type: ignore[misc]
    """aiobotocore's ``iam-role`` credential provider, answered by imdsclient.

    ``await load()`` returns ``AioRefreshableCredentials`` (or ``None`` so the chain moves on),
    refreshing ``ec2_credential_refresh_window`` (15 min) before expiry, every caller waiting
    in the last 10 min, as aiobotocore's do; a refresh that cannot get credentials raises
    ``CredentialRetrievalError`` with imdsclient's message and fix.  ``defer_to_workload`` is
    :class:`imdsclient.boto.InstanceMetadataProvider`'s: ``None`` on ECS, EKS and Lambda.
    """

    METHOD = "iam-role"
    CANONICAL_NAME = "Ec2InstanceMetadata"

    def __init__(
        self,
        iam_role_fetcher: AioInstanceMetadataFetcher | None = None,
        *,
        defer_to_workload: bool = True,
    ) -> None:
        super().__init__(iam_role_fetcher=iam_role_fetcher or AioInstanceMetadataFetcher())
        self.defer_to_workload = defer_to_workload

    def __repr__(self) -> str:
        return f"AioInstanceMetadataProvider({self._role_fetcher!r})"

    @property
    def fetcher(self) -> AioInstanceMetadataFetcher:
        """The fetcher behind this provider."""
        fetcher: AioInstanceMetadataFetcher = self._role_fetcher
        return fetcher

    async def load(self) -> Any:
        """Credentials from IMDS, or ``None`` when there are none (never raises)."""
        fetcher = self.fetcher
        if self.defer_to_workload and defers_to_workload(fetcher.env, logger):
            return None
        metadata = await fetcher.retrieve_iam_role_credentials()
        if not metadata:
            return None
        register_imds_feature()
        logger.info("Found credentials from IAM Role: %s (imdsclient)", metadata["role_name"])
        return refreshable(AioRefreshableCredentials, metadata, self._refresh, self.METHOD, fetcher)

    async def _refresh(self) -> dict[str, str]:
        try:
            return await self.fetcher._credentials()
        except Exception as exc:
            raise CredentialRetrievalError(provider=self.METHOD, error_msg=str(exc)) from exc


def install(
    session: Any, *, clock: Clock | None = None, rng: random.Random | None = None
) -> AioInstanceMetadataProvider:
    """Make an aiobotocore session get role credentials through imdsclient.

    ``session`` is an ``aiobotocore.session.AioSession`` (``get_session()``) or an aioboto3
    ``Session``.  Replaces the ``iam-role`` provider of its credential resolver and the
    ``Ec2InstanceMetadata`` source of ``credential_source`` role profiles, reading the IMDS
    settings from the session now, exactly as :func:`imdsclient.boto.install` does; every
    provider aiobotocore puts first (environment, profiles, web identity, container) still
    comes first, and on ECS, EKS and Lambda ours answers ``None`` rather than the instance
    role.  Returns the installed provider; ``await provider.fetcher.close()`` when done.
    """
    core = getattr(session, "_session", session)
    if not isinstance(core, AioSession):
        raise TypeError(
            f"install() needs an aiobotocore AioSession or an aioboto3 Session, not "
            f"{type(session)!r}; for botocore and boto3 use imdsclient.boto.install()"
        )
    fetcher = AioInstanceMetadataFetcher(**fetcher_settings(core), clock=clock, rng=rng)
    provider = AioInstanceMetadataProvider(fetcher)
    source = AioInstanceMetadataProvider(fetcher, defer_to_workload=False)
    install_provider(core, provider, source)
    return provider
