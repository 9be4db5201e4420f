"""imdsclient: a resilient, typed client for the EC2 Instance Metadata Service.

``import imdsclient`` is cheap: the clients, httpcore, tenacity and pydantic load on first use
(PEP 562), so a one-off ``python -m imdsclient get instance-id`` pays only for what it uses: the
sync client sends to an ``http://`` endpoint over its own socket exchange (no httpcore), the
async client through httpcore's pool, and httpx loads only for a ``transport=``.
Identity verification (``verify_identity``) loads cryptography and asn1crypto, the ``[verify]``
extra, only when it first checks a signature.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imdsclient.errors import (
    BadRequestError,
    ConfigError,
    CredentialsError,
    EndpointDisabledError,
    IdentityVerificationError,
    IMDSConnectionError,
    IMDSDisabledError,
    IMDSError,
    IMDSTimeoutError,
    InvalidPathError,
    MetadataNotFoundError,
    ThrottledError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    from imdsclient._api.events import (
        RebalanceRecommendation,
        ScheduledEvent,
        SpotInstanceAction,
    )
    from imdsclient._api.iam import IAMCredentials, IAMInfo
    from imdsclient._api.identity import InstanceIdentityDocument
    from imdsclient._api.network import NetworkInterface
    from imdsclient._api.public_keys import PublicKey
    from imdsclient._async_client import AsyncIMDSClient
    from imdsclient._client import IMDSClient
    from imdsclient._clock import Clock
    from imdsclient._config import IMDSConfig
    from imdsclient._retry import RetryEvent, RetryHook, RetryPolicy
    from imdsclient._shutdown import (
        AsyncInterruptionWatcher,
        Interruption,
        InterruptionWatcher,
        async_on_interruption,
        on_interruption,
    )
    from imdsclient._trust import bundled_identity_certificates
    from imdsclient._verify import VerifiedIdentity, identity_certificates_date, verify_identity
    from imdsclient._watch import InstanceEvent, WatchStatus

__all__ = [
    "AsyncIMDSClient",
    "AsyncInterruptionWatcher",
    "BadRequestError",
    "Clock",
    "ConfigError",
    "CredentialsError",
    "EndpointDisabledError",
    "IAMCredentials",
    "IAMInfo",
    "IMDSClient",
    "IMDSConfig",
    "IMDSConnectionError",
    "IMDSDisabledError",
    "IMDSError",
    "IMDSTimeoutError",
    "IdentityVerificationError",
    "InstanceEvent",
    "InstanceIdentityDocument",
    "Interruption",
    "InterruptionWatcher",
    "InvalidPathError",
    "MetadataNotFoundError",
    "NetworkInterface",
    "PublicKey",
    "RebalanceRecommendation",
    "RetryEvent",
    "RetryHook",
    "RetryPolicy",
    "ScheduledEvent",
    "SpotInstanceAction",
    "ThrottledError",
    "UnauthorizedError",
    "VerifiedIdentity",
    "WatchStatus",
    "__version__",
    "async_on_interruption",
    "bundled_identity_certificates",
    "identity_certificates_date",
    "on_interruption",
    "verify_identity",
]

#: Public name -> the private module that defines it; imported on first access.
_LAZY = {
    "AsyncIMDSClient": "imdsclient._async_client",
    "AsyncInterruptionWatcher": "imdsclient._shutdown",
    "Clock": "imdsclient._clock",
    "IAMCredentials": "imdsclient._api.iam",
    "IAMInfo": "imdsclient._api.iam",
    "IMDSClient": "imdsclient._client",
    "IMDSConfig": "imdsclient._config",
    "InstanceEvent": "imdsclient._watch",
    "InstanceIdentityDocument": "imdsclient._api.identity",
    "Interruption": "imdsclient._shutdown",
    "InterruptionWatcher": "imdsclient._shutdown",
    "NetworkInterface": "imdsclient._api.network",
    "PublicKey": "imdsclient._api.public_keys",
    "RebalanceRecommendation": "imdsclient._api.events",
    "RetryEvent": "imdsclient._retry",
    "RetryHook": "imdsclient._retry",
    "RetryPolicy": "imdsclient._retry",
    "ScheduledEvent": "imdsclient._api.events",
    "SpotInstanceAction": "imdsclient._api.events",
    "VerifiedIdentity": "imdsclient._verify",
    "WatchStatus": "imdsclient._watch",
    "__version__": "imdsclient._version",
    "async_on_interruption": "imdsclient._shutdown",
    "bundled_identity_certificates": "imdsclient._trust",
    "identity_certificates_date": "imdsclient._verify",
    "on_interruption": "imdsclient._shutdown",
    "verify_identity": "imdsclient._verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imdsclient' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
