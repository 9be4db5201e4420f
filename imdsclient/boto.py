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
* Static stability (:mod:`imdsclient._stability`): when IMDS fails at refresh time, the last
  credentials are served while still valid, then extended by a random 5-15 min, at most 1 h past
  their expiry, with a warning.

See ``docs/boto.md``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

try:
    from botocore.credentials import CredentialProvider, RefreshableCredentials
    from botocore.exceptions import CredentialRetrievalError, InvalidIMDSEndpointError
    from botocore.utils import resolve_imds_endpoint_mode
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without botocore
    raise ImportError(
        "imdsclient.boto needs botocore, which is not installed: pip install imdsclient[boto]"
    ) from exc

from imdsclient._client import IMDSClient
from imdsclient._clock import SYSTEM_CLOCK, Clock
from imdsclient._config import IMDSConfig
from imdsclient._stability import MAX_STALE, StaticStability
from imdsclient.errors import HINTS, ConfigError, IMDSError

if TYPE_CHECKING:
    from imdsclient._api.iam import IAMCredentials

__all__ = [
    "METADATA_BASE_URL",
    "InstanceMetadataFetcher",
    "InstanceMetadataProvider",
    "install",
]

logger = logging.getLogger("imdsclient.boto")

#: botocore's default ``base_url``; any other value wins over the ``config`` endpoint settings.
METADATA_BASE_URL = "http://169.254.169.254/"
_IPV6_BASE_URL = "http://[fd00:ec2::254]/"
#: botocore passes 15 min (its advisory refresh time) from ``create_credential_resolver``.
_DEFAULT_REFRESH_WINDOW = 15 * 60.0
#: botocore's mandatory refresh time: from here on every caller waits for the refresh.
_MANDATORY_REFRESH = 10 * 60.0
_COMPONENT = "credential_provider"


def _is_true(value: object) -> bool:
    """botocore's ``ensure_boolean``: a bool as is, a string when it reads ``true``."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _format_expiry(epoch: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form botocore's fetcher returns."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


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


class InstanceMetadataFetcher:
    """``botocore.utils.InstanceMetadataFetcher``'s interface, backed by one ``IMDSClient``.

    The positional parameters and the ``config`` keys are botocore's (``config`` honours
    ``ec2_metadata_service_endpoint``, ``ec2_metadata_service_endpoint_mode``,
    ``ec2_metadata_v1_disabled`` and ``ec2_credential_refresh_window``; ``env`` is read for
    ``AWS_EC2_METADATA_DISABLED``).  Nothing else is read from the environment or
    ``~/.aws/config``: like botocore's, this fetcher does what its arguments say.
    ``user_agent`` is accepted for botocore's signature and ignored (imdsclient sends its own).

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
        settings: Mapping[str, Any] = config or {}
        environ: Mapping[str, str] = os.environ if env is None else env
        self._base_url = _base_url(base_url, settings)
        del user_agent  # botocore's signature; imdsclient sends its own User-Agent
        window = settings.get("ec2_credential_refresh_window")
        self.refresh_window = float(_DEFAULT_REFRESH_WINDOW if window is None else window)
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography
        self._stability = StaticStability(self._rng, max_stale=max_stale)
        self._lock = threading.Lock()
        self._last: dict[str, str] | None = None
        self._failing = False
        self._warned_hop_limit = False
        source = "botocore InstanceMetadataFetcher argument"
        try:
            imds_config = IMDSConfig(
                disabled=environ.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true",
                endpoint=self._base_url,
                v1_fallback=not _is_true(settings.get("ec2_metadata_v1_disabled")),
                timeout=float(1 if timeout is None else timeout),
                num_attempts=int(1 if num_attempts is None else num_attempts),
                sources=dict.fromkeys(
                    ("disabled", "endpoint", "v1_fallback", "timeout", "num_attempts"), source
                ),
            )
        except ConfigError as exc:
            if exc.setting == "endpoint":
                raise InvalidIMDSEndpointError(endpoint=self._base_url) from exc
            raise
        self._client = IMDSClient(imds_config, clock=self._clock, rng=self._rng)

    def __repr__(self) -> str:
        return f"InstanceMetadataFetcher(base_url={self._base_url!r})"

    def get_base_url(self) -> str:
        """The endpoint chosen from ``base_url`` and ``config``, as botocore reports it."""
        return self._base_url

    @property
    def client(self) -> IMDSClient:
        """The ``IMDSClient`` behind this fetcher (one per fetcher, so one token per lifetime)."""
        return self._client

    def close(self) -> None:
        """Close the connection pool; retrievals afterwards return ``{}``."""
        self._client.close()

    def retrieve_iam_role_credentials(self) -> dict[str, str]:
        """``role_name``, ``access_key``, ``secret_key``, ``token``, ``expiry_time``; or ``{}``.

        Never raises: a failure is logged (debug; once at WARNING when the hop limit drops the
        token answers, which only happens on EC2) and answered with ``{}``, unless static
        stability serves the last credentials.
        """
        try:
            return self._credentials()
        except Exception as exc:  # the credential chain must move on, never break
            if _is_hop_limit(exc) and not self._warned_hop_limit:
                # On EC2, in a container: botocore would say only "Unable to locate credentials".
                self._warned_hop_limit = True
                logger.warning("No IAM role credentials from IMDS: %s", exc)
            else:
                logger.debug("No IAM role credentials from IMDS: %s", exc)
            return {}

    # -- for InstanceMetadataProvider ------------------------------------------------------------

    def _now(self) -> datetime:
        """The injected clock's wall time, as botocore's ``RefreshableCredentials`` wants it."""
        return datetime.fromtimestamp(self._clock.time(), tz=timezone.utc)

    def _credentials(self) -> dict[str, str]:
        """Like ``retrieve_iam_role_credentials`` but raising the imdsclient error on failure."""
        with self._lock:
            last = self._last
            held = self._stability.held(self._clock.time())
            if held is not None and last is not None:
                return self._serve(last, held)
            try:
                creds = self._client.iam_credentials()
            except Exception as exc:
                return self._on_failure(exc)
            return self._on_success(creds)

    def _serve(self, last: dict[str, str], expires_at: float) -> dict[str, str]:
        if expires_at == self._stability.expires_at:
            return dict(last)  # the real expiry, exactly as IMDS wrote it
        return {**last, "expiry_time": _format_expiry(expires_at)}

    def _on_success(self, creds: IAMCredentials) -> dict[str, str]:
        from imdsclient._api.iam import botocore_dict

        result = botocore_dict(creds)
        if self._failing:
            logger.warning("IMDS answered again; fresh credentials for role %s", creds.role_name)
        self._last, self._failing = result, False
        self._stability.succeeded(
            self._clock.time(), creds.expiration.timestamp(), self.refresh_window
        )
        return dict(result)

    def _on_failure(self, exc: Exception) -> dict[str, str]:
        last, stability = self._last, self._stability
        serve = stability.failed(self._clock.time())
        if last is None:
            raise exc
        role = last["role_name"]
        if serve is None:
            logger.warning(
                "IMDS still fails and the credentials of role %s expired at %s, more than "
                "%.0f min ago; no longer serving them: %s",
                role,
                last["expiry_time"],
                stability.max_stale / 60,
                exc,
            )
            self._failing = True
            raise exc
        if serve.extended:
            logger.warning(
                "IMDS failed to refresh the expired credentials of role %s (%s); static "
                "stability: serving them until %s (extension %d, at most %.0f min past %s)",
                role,
                exc,
                _format_expiry(serve.expires_at),
                stability.extensions,
                stability.max_stale / 60,
                last["expiry_time"],
            )
        elif not self._failing:
            logger.warning(
                "IMDS failed to refresh the credentials of role %s (%s); they stay valid "
                "until %s and are kept",
                role,
                exc,
                last["expiry_time"],
            )
        self._failing = True
        return self._serve(last, serve.expires_at)


def _is_hop_limit(exc: Exception) -> bool:
    """Whether ``exc`` says the token answers are dropped by the hop limit (with its fix)."""
    return isinstance(exc, IMDSError) and exc.hint == HINTS["hop_limit"]


def _feature_id() -> Callable[[str], None] | None:
    try:
        from botocore.useragent import register_feature_id
    except ImportError:  # botocore before feature ids
        return None
    return register_feature_id  # type: ignore[no-any-return]


class InstanceMetadataProvider(CredentialProvider):  # type: ignore[misc]
    """botocore's ``iam-role`` credential provider, answered by imdsclient.

    ``load()`` returns botocore ``RefreshableCredentials`` (or ``None`` so the chain moves on).
    They refresh ``ec2_credential_refresh_window`` (15 min) before expiry, blocking all callers
    in the last 10 min, as botocore's do; a refresh that cannot get credentials raises
    ``CredentialRetrievalError`` with imdsclient's message and fix.
    """

    METHOD = "iam-role"
    CANONICAL_NAME = "Ec2InstanceMetadata"

    def __init__(self, iam_role_fetcher: InstanceMetadataFetcher | None = None) -> None:
        super().__init__()
        self._role_fetcher = iam_role_fetcher or InstanceMetadataFetcher()

    def __repr__(self) -> str:
        return f"InstanceMetadataProvider({self._role_fetcher!r})"

    @property
    def fetcher(self) -> InstanceMetadataFetcher:
        """The fetcher behind this provider."""
        return self._role_fetcher

    def load(self) -> Any:
        """Credentials from IMDS, or ``None`` when there are none (never raises)."""
        fetcher = self._role_fetcher
        metadata = fetcher.retrieve_iam_role_credentials()
        if not metadata:
            return None
        register = _feature_id()
        if register is not None:
            register("CREDENTIALS_IMDS")
        logger.info("Found credentials from IAM Role: %s (imdsclient)", metadata["role_name"])
        window = fetcher.refresh_window
        creds = RefreshableCredentials.create_from_metadata(
            metadata,
            refresh_using=self._refresh,
            method=self.METHOD,
            advisory_timeout=window,
            mandatory_timeout=min(_MANDATORY_REFRESH, window),
        )
        # The one seam botocore offers for time; create_from_metadata does not take it.
        creds._time_fetcher = fetcher._now
        return creds

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


def _fetcher_for(
    core: Any, clock: Clock | None, rng: random.Random | None
) -> InstanceMetadataFetcher:
    """A fetcher configured from the session, as botocore's ``create_credential_resolver`` does."""
    config = {
        "ec2_metadata_service_endpoint": core.get_config_variable("ec2_metadata_service_endpoint"),
        "ec2_metadata_service_endpoint_mode": resolve_imds_endpoint_mode(core),
        "ec2_credential_refresh_window": _DEFAULT_REFRESH_WINDOW,
        "ec2_metadata_v1_disabled": core.get_config_variable("ec2_metadata_v1_disabled"),
    }
    return InstanceMetadataFetcher(
        timeout=core.get_config_variable("metadata_service_timeout"),
        num_attempts=core.get_config_variable("metadata_service_num_attempts"),
        user_agent=core.user_agent(),
        config=config,
        clock=clock,
        rng=rng,
    )


def _replace(providers: Any, provider: InstanceMetadataProvider, *, append: bool) -> None:
    if not isinstance(providers, list):
        return
    for index, existing in enumerate(providers):
        if getattr(existing, "METHOD", None) == provider.METHOD:
            providers[index] = provider
            return
    if append:
        providers.append(provider)


def _swap(resolver: Any, provider: InstanceMetadataProvider) -> Any:
    """Put ``provider`` where the ``iam-role`` provider is (also as an assume-role source)."""
    _replace(resolver.providers, provider, append=True)
    for existing in resolver.providers:
        sourcer = getattr(existing, "_credential_sourcer", None)
        _replace(getattr(sourcer, "_providers", None), provider, append=False)
    return resolver


def install(
    session: Any = None, *, clock: Clock | None = None, rng: random.Random | None = None
) -> InstanceMetadataProvider:
    """Make a botocore or boto3 session get role credentials through imdsclient.

    Replaces the ``iam-role`` provider of the session's credential resolver (appending one if
    there is none), and the ``Ec2InstanceMetadata`` source of ``credential_source`` role
    profiles.  Timeout, attempts, endpoint, endpoint mode and the IMDSv1 switch are read from the
    session now, as botocore reads them.  ``session=None`` means boto3's default session.
    Works before credentials are first resolved (the resolver is still built lazily, by botocore)
    and after (credentials botocore's own ``iam-role`` provider found are dropped, so the next
    client resolves through ours).  Returns the installed provider.
    """
    core = _core_session(session)
    provider = InstanceMetadataProvider(_fetcher_for(core, clock, rng))
    deferred = getattr(getattr(core, "_components", None), "_deferred", None)
    factory = deferred.get(_COMPONENT) if isinstance(deferred, dict) else None
    if factory is not None:
        core.lazy_register_component(_COMPONENT, lambda: _swap(factory(), provider))
    else:
        _swap(core.get_component(_COMPONENT), provider)
    current = getattr(core, "_credentials", None)
    if current is not None and getattr(current, "method", None) == provider.METHOD:
        core._credentials = None
    return provider
