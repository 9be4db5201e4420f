"""botocore drop-in: IAM role credentials from imdsclient, for botocore and boto3.

Install with ``pip install imdsclient[boto]``; ``import imdsclient`` never imports botocore.

* :class:`InstanceMetadataFetcher` has the constructor and the ``retrieve_iam_role_credentials()``
  result of ``botocore.utils.InstanceMetadataFetcher``, with imdsclient underneath: one token per
  token lifetime, the role name remembered, one GET per retrieval once warm, no proxies, retries
  with backoff, and ``{}`` (never an exception) when there are no credentials to be had.
* :class:`InstanceMetadataProvider` is a botocore ``CredentialProvider`` (``METHOD = "iam-role"``)
  returning refreshable credentials.
* :func:`install` swaps botocore's own ``iam-role`` provider for ours in a botocore or boto3
  session.
* Static stability (:mod:`imdsclient._stability`): when IMDS fails at refresh time, or serves
  credentials that have already expired, the last credentials are served while still valid,
  then extended by a random 5-15 min, at most 1 h past their expiry, with one warning.

The logic shared with :mod:`imdsclient.aiobotocore` lives in :mod:`imdsclient._dropin` and
:mod:`imdsclient._refresh`.  See ``docs/boto.md``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from typing import Any

try:
    from botocore.credentials import CredentialProvider, RefreshableCredentials
    from botocore.exceptions import CredentialRetrievalError
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without botocore
    raise ImportError(
        "imdsclient.boto needs botocore, which is not installed: pip install imdsclient[boto]"
    ) from exc

from imdsclient._client import IMDSClient
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
    "InstanceMetadataFetcher",
    "InstanceMetadataProvider",
    "install",
]

logger = logging.getLogger("imdsclient.boto")


class InstanceMetadataFetcher(FetcherCore):
    """``botocore.utils.InstanceMetadataFetcher``'s interface, backed by one ``IMDSClient``.

    The positional parameters and the ``config`` keys are botocore's (``config`` honours
    ``ec2_metadata_service_endpoint``, ``ec2_metadata_service_endpoint_mode``,
    ``ec2_metadata_v1_disabled``, ``ec2_credential_refresh_window`` and
    ``ec2_instance_profile_name``; ``env`` is read for ``AWS_EC2_METADATA_DISABLED``).  Nothing
    else is read from the environment or ``~/.aws/config``: like botocore's, this fetcher does
    what its arguments say.  ``user_agent`` is accepted and not sent (imdsclient sends its own).

    Keyword-only extras: ``clock`` and ``rng`` are seams for tests; ``max_stale`` bounds static
    stability (seconds past the real expiry; 0 turns extensions off).  Thread-safe: retrievals
    run one at a time, so concurrent callers share one token and one role lookup.
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
        self._lock = threading.Lock()
        self._client = IMDSClient(self.imds_config, clock=self._clock, rng=self._rng)

    @property
    def client(self) -> IMDSClient:
        """The ``IMDSClient`` behind this fetcher (one per fetcher, so one token per lifetime)."""
        return self._client

    def close(self) -> None:
        """Close the connection pool; retrievals afterwards return ``{}``."""
        self._client.close()

    def retrieve_iam_role_credentials(self) -> dict[str, str]:
        """``role_name``, ``access_key``, ``secret_key``, ``token``, ``expiry_time``; or ``{}``.

        Never raises: a failure is logged (debug; the hop limit once at WARNING) and answered with
        ``{}``, unless static
        stability serves the last credentials.
        """
        try:
            return self._credentials()
        except Exception as exc:  # the credential chain must move on, never break
            return self.no_credentials(exc)

    def _credentials(self) -> dict[str, str]:
        """Like ``retrieve_iam_role_credentials`` but raising the imdsclient error on failure."""
        with self._lock:
            state = self._state
            served = state.held()
            if served is not None:
                return served
            try:
                creds = self._client.iam_credentials()
            except Exception as exc:
                return state.failed(exc)
            return state.succeeded(creds)


class InstanceMetadataProvider(CredentialProvider):  # type: ignore[misc]
    """botocore's ``iam-role`` credential provider, answered by imdsclient.

    ``load()`` returns botocore ``RefreshableCredentials`` (or ``None`` so the chain moves on).
    They refresh ``ec2_credential_refresh_window`` (15 min) before expiry, blocking all callers
    in the last 10 min, as botocore's do; a refresh that cannot get credentials raises
    ``CredentialRetrievalError`` with imdsclient's message and fix.

    With ``defer_to_workload`` (the default), ``load()`` returns ``None`` without asking IMDS
    when the environment gives the process credentials of its own (ECS task role, EKS Pod
    Identity or IRSA, Lambda): the instance role never stands in for them.  ``install()``
    turns it off for the ``credential_source = Ec2InstanceMetadata`` source, which asks for
    the instance role explicitly.
    """

    METHOD = "iam-role"
    CANONICAL_NAME = "Ec2InstanceMetadata"

    def __init__(
        self,
        iam_role_fetcher: InstanceMetadataFetcher | None = None,
        *,
        defer_to_workload: bool = True,
    ) -> None:
        super().__init__()
        self._role_fetcher = iam_role_fetcher or InstanceMetadataFetcher()
        self.defer_to_workload = defer_to_workload

    def __repr__(self) -> str:
        return f"InstanceMetadataProvider({self._role_fetcher!r})"

    @property
    def fetcher(self) -> InstanceMetadataFetcher:
        """The fetcher behind this provider."""
        return self._role_fetcher

    def load(self) -> Any:
        """Credentials from IMDS, or ``None`` when there are none (never raises)."""
        fetcher = self._role_fetcher
        if self.defer_to_workload and defers_to_workload(fetcher.env, logger):
            return None
        metadata = fetcher.retrieve_iam_role_credentials()
        if not metadata:
            return None
        register_imds_feature()
        logger.info("Found credentials from IAM Role: %s (imdsclient)", metadata["role_name"])
        return refreshable(RefreshableCredentials, metadata, self._refresh, self.METHOD, fetcher)

    def _refresh(self) -> dict[str, str]:
        try:
            return self._role_fetcher._credentials()
        except Exception as exc:
            raise CredentialRetrievalError(provider=self.METHOD, error_msg=str(exc)) from exc


# -- install ---------------------------------------------------------------------------------


def _core_session(session: Any) -> Any:
    """The botocore session behind ``session`` (a boto3 ``Session`` keeps it in ``_session``)."""
    if session is None:
        try:
            import boto3
        except ImportError:
            raise TypeError(
                "install() without a session patches boto3's default session, and boto3 is not "
                "installed; pass a botocore session: install(botocore.session.get_session())"
            ) from None
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
    core = getattr(session, "_session", session)
    if not callable(getattr(core, "get_component", None)):
        raise TypeError(f"install() needs a botocore or boto3 session, not {type(session)!r}")
    return core


def install(
    session: Any = None, *, clock: Clock | None = None, rng: random.Random | None = None
) -> InstanceMetadataProvider:
    """Make a botocore or boto3 session get role credentials through imdsclient.

    Replaces the ``iam-role`` provider of the session's credential resolver (appending one if
    there is none), and the ``Ec2InstanceMetadata`` source of ``credential_source`` role
    profiles (sharing one fetcher).  Every provider botocore puts first (environment, profiles,
    web identity, SSO, process, container) stays first, and when the environment says this
    process has credentials of its own (ECS, EKS, Lambda) ours answers ``None`` rather than
    the instance role.  Timeout, attempts, endpoint, endpoint mode, the IMDSv1 switch and
    ``ec2_instance_profile_name`` are read from the session now, as botocore reads them.
    ``session=None`` means boto3's default session.  Works before credentials are first
    resolved (the resolver is still built lazily, by botocore) and after (credentials botocore's
    own ``iam-role`` provider found are dropped, so the next client resolves through ours).
    Returns the installed provider.
    """
    core = _core_session(session)
    fetcher = InstanceMetadataFetcher(**fetcher_settings(core), clock=clock, rng=rng)
    provider = InstanceMetadataProvider(fetcher)
    source = InstanceMetadataProvider(fetcher, defer_to_workload=False)
    install_provider(core, provider, source)
    return provider
