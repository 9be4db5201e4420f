"""The one place that touches httpx: building clients and turning exchanges into results.

Clients always connect directly (``trust_env=False``: a proxy can never reach a link-local
address), never follow redirects, and read at most ``MAX_BODY_BYTES``.  httpx exceptions become
:class:`~imdsclient._protocol.Failure` values here, so the protocol rules decide what they mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from imdsclient._protocol import MAX_BODY_BYTES, Failure, FailureKind, Request, Response, Result
from imdsclient._version import __version__

__all__ = ["async_client", "failure_from", "send_async", "send_sync", "sync_client"]

_HEADERS = {
    "User-Agent": f"imdsclient/{__version__}",
    "Accept": "*/*",
    # Bodies are returned byte for byte (user-data may itself be gzip); nothing to decode.
    "Accept-Encoding": "identity",
}
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0)


def _options(base_url: str, timeout: float) -> dict[str, Any]:
    """Settings shared by the sync and async clients."""
    return {
        "base_url": base_url,
        "headers": _HEADERS,
        "timeout": httpx.Timeout(timeout, connect=timeout, read=timeout, write=timeout, pool=None),
        "limits": _LIMITS,
        "trust_env": False,  # never a proxy: none can reach a link-local address
        "follow_redirects": False,
        # Plain-HTTP endpoints never do TLS; skipping the CA bundle saves start-up time.
        "verify": base_url.startswith("https:"),
    }


def sync_client(base_url: str, timeout: float) -> httpx.Client:
    """A keep-alive client for one endpoint."""
    return httpx.Client(**_options(base_url, timeout))


def async_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    """The async twin of :func:`sync_client`."""
    return httpx.AsyncClient(**_options(base_url, timeout))


def failure_from(exc: httpx.TransportError) -> Failure:
    """Map an httpx transport error to the most specific failure kind."""
    if isinstance(exc, httpx.ConnectTimeout):
        kind = FailureKind.CONNECT_TIMEOUT
    elif isinstance(exc, httpx.TimeoutException):
        kind = FailureKind.READ_TIMEOUT
    elif isinstance(exc, httpx.ConnectError):
        kind = FailureKind.CONNECT
    else:  # RemoteProtocolError, ReadError, WriteError, ...
        kind = FailureKind.DROPPED
    return Failure(kind, type(exc).__name__)


def _too_large(headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length")
    return length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES


def _response(response: httpx.Response, body: bytes) -> Response:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers.raw}
    return Response(response.status_code, headers, body)


def send_sync(client: httpx.Client, request: Request) -> Result:
    """One exchange, never raising for transport trouble."""
    try:
        response = client.send(
            client.build_request(request.method, request.path, headers=request.headers),
            stream=True,
        )
        try:
            if _too_large(response.headers):
                return Failure(FailureKind.TOO_LARGE, f"over {MAX_BODY_BYTES} bytes")
            chunks, size = [], 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return Failure(FailureKind.TOO_LARGE, f"over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
            return _response(response, b"".join(chunks))
        finally:
            response.close()
    except httpx.TransportError as exc:
        return failure_from(exc)


async def send_async(client: httpx.AsyncClient, request: Request) -> Result:
    """The async twin of :func:`send_sync`."""
    try:
        response = await client.send(
            client.build_request(request.method, request.path, headers=request.headers),
            stream=True,
        )
        try:
            if _too_large(response.headers):
                return Failure(FailureKind.TOO_LARGE, f"over {MAX_BODY_BYTES} bytes")
            chunks, size = [], 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return Failure(FailureKind.TOO_LARGE, f"over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
            return _response(response, b"".join(chunks))
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        return failure_from(exc)
