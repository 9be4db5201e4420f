"""What a credential drop-in hands to its SDK: fresh credentials, or the last ones kept stable.

One :class:`CredentialState` per fetcher (``imdsclient.boto``, ``imdsclient.aiobotocore``) or per
run (``credential-process``).  It turns each outcome of ``iam_credentials()`` into botocore's
credential dict, applying :mod:`imdsclient._stability` and logging what happened: once when an
episode starts (credentials kept through a failure, or extended because they are expired), once
when it ends, and once when the extensions run out.  The shells only hold their lock (a
``threading.Lock`` or an ``asyncio.Lock``) and do the I/O::

    served = state.held()
    if served is None:
        try:
            creds = client.iam_credentials()
        except Exception as exc:
            served = state.failed(exc)      # re-raises when there is nothing to serve
        else:
            served = state.succeeded(creds)  # CredentialsError past the staleness bound

Secrets never reach a log record or an exception: records name the role and the times only.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from imdsclient._clock import Clock
from imdsclient._stability import EXTENSION, MAX_STALE, RECHECK, Serve, StaticStability
from imdsclient.errors import HINTS, CredentialsError

if TYPE_CHECKING:
    from imdsclient._api.iam import IAMCredentials

__all__ = [
    "PROCESS_EXTENSION",
    "SDK_REFRESH_WINDOW",
    "CredentialState",
    "credential_process_document",
    "format_expiry",
]

Served = dict[str, str]

#: botocore refreshes 15 min before expiry (its advisory time), for every refreshable source.
SDK_REFRESH_WINDOW = 15 * 60.0
#: ``credential-process`` cannot remember an extension between runs, and the SDK runs it again
#: once its ``Expiration`` is inside the SDK's refresh window.  Extending past that window by
#: 5-15 min makes the SDK come back after 5-15 min: the drop-ins' cadence, not every API call.
PROCESS_EXTENSION = (SDK_REFRESH_WINDOW + EXTENSION[0], SDK_REFRESH_WINDOW + EXTENSION[1])


def format_expiry(epoch: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form botocore's fetcher returns."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


class CredentialState:
    """The last credentials of one drop-in and their static stability; not thread-safe.

    ``refresh_window`` is the SDK's advisory refresh time (botocore: 15 min): credentials IMDS
    serves with less left than that are "not rotated yet" and IMDS is asked again after
    30-90 s.  ``extension`` and ``max_stale`` are :class:`StaticStability`'s.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random,
        refresh_window: float,
        logger: logging.Logger,
        max_stale: float = MAX_STALE,
        extension: tuple[float, float] = EXTENSION,
    ) -> None:
        self._clock = clock
        self.refresh_window = refresh_window
        self._log = logger
        self.stability = StaticStability(rng, max_stale=max_stale, extension=extension)
        self._last: Served | None = None
        self._failing = False  # a refresh failed since the last fresh credentials
        self._stale = False  # IMDS served expired credentials since the last fresh ones

    def held(self) -> Served | None:
        """The last credentials while IMDS should not be asked yet, else ``None``."""
        until = self.stability.held(self._clock.time())
        if until is None or self._last is None:
            return None
        return self._serve(self._last, until)

    def _serve(self, last: Served, expires_at: float) -> Served:
        if expires_at == self.stability.expires_at:
            return dict(last)  # the real expiry, exactly as IMDS wrote it
        return {**last, "expiry_time": format_expiry(expires_at)}

    # -- IMDS answered -------------------------------------------------------------------------

    def succeeded(self, creds: IAMCredentials) -> Served:
        """Credentials from IMDS: served as they are, or extended when they are expired."""
        from imdsclient._api.iam import botocore_dict

        now = self._clock.time()
        result = botocore_dict(creds)
        role, real = creds.role_name, result["expiry_time"]
        serve = self.stability.succeeded(now, creds.expiration.timestamp(), self.refresh_window)
        self._last = result
        if serve is None:
            self._stale = True
            raise self._too_stale(role, real)
        if not serve.extended:
            if self._failing or self._stale:
                self._log.warning(
                    "IMDS answered again; fresh credentials for role %s, expiring at %s",
                    role,
                    real,
                )
            self._failing = self._stale = False
            return dict(result)
        self._stale = True
        self._report_expired(role, real, serve)
        return self._serve(result, serve.expires_at)

    def _report_expired(self, role: str, real: str, serve: Serve) -> None:
        stability = self.stability
        until = format_expiry(serve.expires_at)
        if not serve.first:
            self._log.info(
                "IMDS still serves the expired credentials of role %s; serving them until %s "
                "(extension %d)",
                role,
                until,
                stability.extensions,
            )
            return
        low, high = (round(s) for s in RECHECK)
        self._log.warning(
            "IMDS served credentials for role %s that expired at %s (or expire within a "
            "minute); static stability: serving them until %s and asking IMDS again every "
            "%d-%d s, for at most %.0f min. %s",
            role,
            real,
            until,
            low,
            high,
            stability.max_stale / 60,
            HINTS["expired_credentials"],
        )

    def _too_stale(self, role: str, real: str) -> CredentialsError:
        self._log.warning(
            "IMDS keeps serving the credentials of role %s, which expired at %s; static "
            "stability has reached its %.0f min bound and no longer serves them",
            role,
            real,
            self.stability.max_stale / 60,
        )
        return CredentialsError(
            f"IMDS serves credentials for role {role!r} that expired at {real}, and they have "
            f"been kept past their expiry for the most static stability allows "
            f"({self.stability.max_stale / 60:.0f} min)",
            hint=HINTS["expired_credentials"],
        )

    # -- IMDS failed ---------------------------------------------------------------------------

    def failed(self, exc: Exception) -> Served:
        """A refresh failed with ``exc``: the last credentials if static stability allows."""
        last, stability = self._last, self.stability
        serve = stability.failed(self._clock.time())
        if last is None:
            raise exc
        role, real = last["role_name"], last["expiry_time"]
        if serve is None:
            self._failing = True
            self._log.warning(
                "IMDS still fails and the credentials of role %s expired at %s, more than "
                "%.0f min ago; no longer serving them: %s",
                role,
                real,
                stability.max_stale / 60,
                exc,
            )
            raise exc
        if serve.extended and serve.first:
            self._log.warning(
                "IMDS failed to refresh the expired credentials of role %s (%s); static "
                "stability: serving them until %s (extension %d, at most %.0f min past %s)",
                role,
                exc,
                format_expiry(serve.expires_at),
                stability.extensions,
                stability.max_stale / 60,
                real,
            )
        elif serve.extended:
            self._log.info(
                "IMDS still fails (%s); the credentials of role %s are served until %s "
                "(extension %d)",
                exc,
                role,
                format_expiry(serve.expires_at),
                stability.extensions,
            )
        elif not self._failing:
            self._log.warning(
                "IMDS failed to refresh the credentials of role %s (%s); they stay valid "
                "until %s and are kept",
                role,
                exc,
                real,
            )
        self._failing = True
        return self._serve(last, serve.expires_at)


def credential_process_document(
    creds: IAMCredentials, *, clock: Clock, rng: random.Random, logger: logging.Logger
) -> dict[str, object]:
    """The ``credential_process`` JSON (``Version: 1``) for credentials IMDS just served.

    The ``Expiration`` is never in the past: expired credentials (or ones with less than a
    minute left) get a :data:`PROCESS_EXTENSION`, with a warning on ``logger``.  One run is one
    episode, so each run extends afresh; the bound ``max_stale`` holds within a run only.
    """
    state = CredentialState(
        clock=clock,
        rng=rng,
        refresh_window=SDK_REFRESH_WINDOW,
        logger=logger,
        extension=PROCESS_EXTENSION,
    )
    served = state.succeeded(creds)
    return {
        "Version": 1,
        "AccessKeyId": served["access_key"],
        "SecretAccessKey": served["secret_key"],
        "SessionToken": served["token"],
        "Expiration": served["expiry_time"],
    }
