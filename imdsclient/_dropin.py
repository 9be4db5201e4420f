"""What ``imdsclient.boto`` and ``imdsclient.aiobotocore`` share: everything but the I/O.

The two drop-ins differ only in their shells (``IMDSClient`` under a ``threading.Lock``,
``AsyncIMDSClient`` under an ``asyncio.Lock``) and in the botocore classes they hand out.  This
module holds the rest, written once:

* :class:`FetcherCore`: botocore's fetcher arguments turned into an ``IMDSConfig``, the refresh
  window, and the :class:`~imdsclient._refresh.CredentialState` (static stability, warnings);
* :func:`refreshable`: botocore's refresh windows and our clock on a ``RefreshableCredentials``;
* :func:`fetcher_settings`: a session's IMDS settings, read as ``create_credential_resolver``
  reads them;
* :func:`install_provider`: our provider in the ``iam-role`` slot of a session's resolver (and
  as the ``Ec2InstanceMetadata`` credential source), lazily if the resolver is not built yet;
* :func:`defers_to_workload`: whether the environment gives this process credentials of its
  own (ECS task role, EKS Pod Identity or IRSA, Lambda), which the instance role must not
  silently replace.

Imported only by the drop-ins, after they have checked that botocore is installed.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Callable

from botocore.exceptions import InvalidIMDSEndpointError
from botocore.utils import resolve_imds_endpoint_mode

from imdsclient._clock import SYSTEM_CLOCK, Clock
from imdsclient._config import IMDSConfig
from imdsclient._refresh import SDK_REFRESH_WINDOW, CredentialState
from imdsclient.errors import HINTS, ConfigError, IMDSError

__all__ = [
    "DEFAULT_REFRESH_WINDOW",
    "MANDATORY_REFRESH",
    "METADATA_BASE_URL",
    "FetcherCore",
    "defers_to_workload",
    "fetcher_settings",
    "install_provider",
    "refreshable",
    "register_imds_feature",
]

#: botocore's default ``base_url``; any other value wins over the ``config`` endpoint settings.
METADATA_BASE_URL = "http://169.254.169.254/"
_IPV6_BASE_URL = "http://[fd00:ec2::254]/"
#: botocore passes 15 min (its advisory refresh time) from ``create_credential_resolver``.
DEFAULT_REFRESH_WINDOW = SDK_REFRESH_WINDOW
#: botocore's mandatory refresh time: from here on every caller waits for the refresh.
MANDATORY_REFRESH = 10 * 60.0
_COMPONENT = "credential_provider"
_PROFILE_NAME = "ec2_instance_profile_name"


def _is_true(value: object) -> bool:
    """botocore's ``ensure_boolean``: a bool as is, a string when it reads ``true``."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _base_url(base_url: str, config: Mapping[str, Any]) -> str:
    """botocore's choice: an explicit ``base_url``, else the config endpoint, else by mode."""
    if base_url != METADATA_BASE_URL:
        return base_url
    custom = config.get("ec2_metadata_service_endpoint")
    if custom:
        return str(custom)
    mode = config.get("ec2_metadata_service_endpoint_mode")
    if isinstance(mode, str) and mode.strip().lower() == "ipv6":
        return _IPV6_BASE_URL
    return METADATA_BASE_URL


class FetcherCore:
    """botocore's ``InstanceMetadataFetcher`` arguments, resolved; the shells add the client.

    ``config`` honours ``ec2_metadata_service_endpoint``, ``ec2_metadata_service_endpoint_mode``,
    ``ec2_metadata_v1_disabled``, ``ec2_credential_refresh_window`` and
    ``ec2_instance_profile_name``; ``env`` is read for ``AWS_EC2_METADATA_DISABLED``.
    """

    def __init__(
        self,
        timeout: float | None,
        num_attempts: int | None,
        base_url: str,
        env: Mapping[str, str] | None,
        user_agent: str | None,
        config: Mapping[str, Any] | None,
        *,
        clock: Clock | None,
        rng: random.Random | None,
        max_stale: float,
        logger: logging.Logger,
    ) -> None:
        settings: Mapping[str, Any] = config or {}
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._base_url = _base_url(base_url, settings)
        del user_agent  # botocore's signature; imdsclient sends its own User-Agent
        window = settings.get("ec2_credential_refresh_window")
        self.refresh_window = float(DEFAULT_REFRESH_WINDOW if window is None else window)
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography
        self._logger = logger
        self._warned_hop_limit = False
        self._state = CredentialState(
            clock=self._clock,
            rng=self._rng,
            refresh_window=self.refresh_window,
            logger=logger,
            max_stale=max_stale,
        )
        source = "botocore InstanceMetadataFetcher argument"
        profile_name = settings.get(_PROFILE_NAME) or None
        try:
            self.imds_config = IMDSConfig(
                disabled=self.env.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true",
                endpoint=self._base_url,
                v1_fallback=not _is_true(settings.get("ec2_metadata_v1_disabled")),
                timeout=float(1 if timeout is None else timeout),
                num_attempts=int(1 if num_attempts is None else num_attempts),
                instance_profile_name=profile_name,
                sources={
                    **dict.fromkeys(
                        ("disabled", "endpoint", "v1_fallback", "timeout", "num_attempts"), source
                    ),
                    "instance_profile_name": source if profile_name else "default",
                },
            )
        except ConfigError as exc:
            if exc.setting == "endpoint":
                raise InvalidIMDSEndpointError(endpoint=self._base_url) from exc
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    def get_base_url(self) -> str:
        """The endpoint chosen from ``base_url`` and ``config``, as botocore reports it."""
        return self._base_url

    @property
    def max_stale(self) -> float:
        """Static stability's bound, in seconds past the credentials' expiry."""
        return self._state.stability.max_stale

    def _now(self) -> datetime:
        """The injected clock's wall time, as botocore's ``RefreshableCredentials`` wants it."""
        return datetime.fromtimestamp(self._clock.time(), tz=timezone.utc)

    def no_credentials(self, exc: Exception) -> dict[str, str]:
        """The drop-ins' answer to a failure: ``{}``, logged at DEBUG, except the hop limit
        dropping the token answers (only ever on EC2, in a container): once at WARNING with its
        fix, where botocore would say only "Unable to locate credentials"."""
        hop_limit = isinstance(exc, IMDSError) and exc.hint == HINTS["hop_limit"]
        if hop_limit and not self._warned_hop_limit:
            self._warned_hop_limit = True
            self._logger.warning("No IAM role credentials from IMDS: %s", exc)
            return {}
        self._logger.debug("No IAM role credentials from IMDS: %s", exc)
        return {}


def refreshable(
    cls: Any,
    metadata: Mapping[str, str],
    refresh: Callable[[], Any],
    method: str,
    fetcher: FetcherCore,
) -> Any:
    """``cls.create_from_metadata`` with botocore's windows and the fetcher's clock."""
    window = fetcher.refresh_window
    creds = cls.create_from_metadata(
        metadata,
        refresh_using=refresh,
        method=method,
        advisory_timeout=window,
        mandatory_timeout=min(MANDATORY_REFRESH, window),
    )
    # The one seam botocore offers for time; create_from_metadata does not take it.
    creds._time_fetcher = fetcher._now
    return creds


def defers_to_workload(env: Mapping[str, str], logger: logging.Logger) -> bool:
    """True (and an INFO record) when ``env`` says this process has credentials of its own.

    That is the container credentials endpoint (ECS task role, EKS Pod Identity), a web
    identity token (EKS IRSA) or Lambda (see :mod:`imdsclient._environment`).  botocore puts
    their providers ahead of ``iam-role``, so they normally answer first; when one does not
    (misconfigured, or removed from the chain) the chain must not fall through to the node's
    or container instance's role.  An ECS task without a task role does not defer: ECS
    documents that it uses the container instance's role through IMDS.
    """
    from imdsclient._environment import detect

    found = detect(env)
    if found is None or found.own_credentials is None:
        return False
    logger.info(
        "Not answering with the instance role: this looks like %s, whose own credentials come "
        "from %s; the provider for those is ahead of this one in the chain",
        found.describe(),
        found.own_credentials,
    )
    return True


def register_imds_feature() -> None:
    """Tell botocore's user agent that credentials came from IMDS, as its own provider does."""
    try:
        from botocore.useragent import register_feature_id
    except ImportError:  # botocore before feature ids
        return
    register_feature_id("CREDENTIALS_IMDS")


# -- sessions and resolvers -------------------------------------------------------------------


def _profile_name(core: Any) -> str | None:
    """``ec2_instance_profile_name`` as the session sees it (older botocore does not know it)."""
    value = core.get_config_variable(_PROFILE_NAME)
    if value:
        return str(value)
    value = os.environ.get("AWS_EC2_INSTANCE_PROFILE_NAME", "").strip()
    if value:
        return value
    try:
        scoped = core.get_scoped_config()
    except Exception:  # a missing profile: botocore reports it where it matters
        return None
    value = scoped.get(_PROFILE_NAME) if isinstance(scoped, Mapping) else None
    text = str(value).strip() if value else ""
    return text or None


def fetcher_settings(core: Any) -> dict[str, Any]:
    """A fetcher's keyword arguments from a session, read as ``create_credential_resolver`` does."""
    config = {
        "ec2_metadata_service_endpoint": core.get_config_variable("ec2_metadata_service_endpoint"),
        "ec2_metadata_service_endpoint_mode": resolve_imds_endpoint_mode(core),
        "ec2_credential_refresh_window": DEFAULT_REFRESH_WINDOW,
        "ec2_metadata_v1_disabled": core.get_config_variable("ec2_metadata_v1_disabled"),
        _PROFILE_NAME: _profile_name(core),
    }
    return {
        "timeout": core.get_config_variable("metadata_service_timeout"),
        "num_attempts": core.get_config_variable("metadata_service_num_attempts"),
        "user_agent": core.user_agent(),
        "config": config,
    }


def _replace(providers: Any, provider: Any, *, append: bool) -> None:
    if not isinstance(providers, list):
        return
    for index, existing in enumerate(providers):
        if getattr(existing, "METHOD", None) == provider.METHOD:
            providers[index] = provider
            return
    if append:
        providers.append(provider)


def _swap(resolver: Any, provider: Any, source: Any) -> Any:
    """Put ``provider`` where the ``iam-role`` provider is, ``source`` where its source is."""
    _replace(resolver.providers, provider, append=True)
    for existing in resolver.providers:
        sourcer = getattr(existing, "_credential_sourcer", None)
        _replace(getattr(sourcer, "_providers", None), source, append=False)
    return resolver


def install_provider(core: Any, provider: Any, source: Any) -> None:
    """Swap ``provider`` (chain) and ``source`` (``credential_source``) into ``core``'s resolver.

    Order is kept: every provider botocore puts ahead of ``iam-role`` (environment, profiles,
    web identity, SSO, process, container) still comes first.  A resolver not built yet stays
    lazy (botocore builds it with the first client's region); credentials botocore's own
    ``iam-role`` provider already found are dropped, so the next lookup goes through ours.
    """
    deferred = getattr(getattr(core, "_components", None), "_deferred", None)
    factory = deferred.get(_COMPONENT) if isinstance(deferred, dict) else None
    if factory is not None:
        core.lazy_register_component(_COMPONENT, lambda: _swap(factory(), provider, source))
    else:
        _swap(core.get_component(_COMPONENT), provider, source)
    current = getattr(core, "_credentials", None)
    if current is not None and getattr(current, "method", None) == provider.METHOD:
        core._credentials = None
