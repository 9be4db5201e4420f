"""Catch each imdsclient error for what it means, instead of one blanket ``except``.

Every failure talking to IMDS is an ``imdsclient.IMDSError``; its subclasses say what happened
and ``str(error)`` ends with the fix (``error.hint`` alone is the fix). The script reads two
real values, then provokes two failures that need no EC2 and no network: ``disabled=True``
(nothing is sent) and an endpoint on a closed loopback port (fails fast on first contact).
A bad setting is a ``ConfigError``, a ``ValueError``, raised before any request.

Run it on EC2, or anywhere against ``python -m imdsclient serve`` with
``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338``.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Callable

import imdsclient


def read_optional(imds: imdsclient.IMDSClient, path: str) -> str | None:
    """The value at ``path``, or ``None`` when this instance has no such category (404)."""
    try:
        return imds.get(path)
    except LookupError:  # MetadataNotFoundError is also a LookupError: nothing there
        return None


def attempt(label: str, call: Callable[[], str | None]) -> None:
    """Run ``call`` and say what its outcome means for a program that needs the value."""
    started = time.monotonic()
    try:
        value = call()
    except imdsclient.IMDSDisabledError:
        # AWS_EC2_METADATA_DISABLED=true or disabled=True: a deliberate choice; run without IMDS.
        print(f"{label}: IMDS is switched off by configuration; continuing without it")
    except imdsclient.EndpointDisabledError as error:
        # 403: the instance's metadata endpoint is disabled; only an AWS API call fixes that.
        print(f"{label}: IMDS is disabled for this instance. {error.hint}")
    except imdsclient.ThrottledError:
        # 429/503 after every retry: back off for longer, or use a value read earlier.
        print(f"{label}: IMDS is throttling this instance; using a cached value would be wise")
    except imdsclient.IMDSConnectionError as error:
        # Includes IMDSTimeoutError. Off EC2 this is expected; on EC2, a firewall or bad endpoint.
        elapsed = time.monotonic() - started
        print(f"{label}: {type(error).__name__} after {elapsed:.2f} s; probably not on EC2")
    except imdsclient.IMDSError as error:
        # Anything else (401 after a refresh, 400, a redirect, an unusable answer): report it.
        print(f"{label}: {type(error).__name__}: {error}")
    else:
        print(f"{label}: {value if value is not None else 'none (404: nothing there)'}")


def closed_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def main() -> int:
    with imdsclient.IMDSClient() as imds:
        attempt("instance id", lambda: imds.get("instance-id"))
        attempt("spot interruption", lambda: read_optional(imds, "spot/instance-action"))

    with imdsclient.IMDSClient(disabled=True) as off:
        attempt("with disabled=True", lambda: off.get("instance-id"))

    unreachable = f"http://127.0.0.1:{closed_loopback_port()}"
    with imdsclient.IMDSClient(endpoint=unreachable) as nowhere:
        attempt("unreachable endpoint", lambda: nowhere.get("instance-id"))

    try:
        imdsclient.IMDSClient(timeout=-1)
    except imdsclient.ConfigError as error:  # a ValueError, not an IMDSError
        print(f"bad setting: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
