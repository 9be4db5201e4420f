"""The one place that touches httpx: building clients and turning exchanges into results.

Clients always connect directly (``trust_env=False``: a proxy can never reach a link-local
address), never follow redirects, and read at most ``MAX_BODY_BYTES``.  httpx exceptions become
:class:`~imdsclient._protocol.Failure` values here, so the protocol rules decide what they mean.
"""

from __future__ import annotations

from typing import Any

import httpx

from imdsclient._protocol import MAX_BODY_BYTES, Failure, FailureKind, Request, Response, Result
from imdsclient._version import __version__

__all__ = [
    "SYN_RESEND_SLACK",
    "async_client",
    "failure_from",
    "send_async",
    "send_sync",
    "sync_client",
]

_HEADERS = {
    "User-Agent": f"imdsclient/{__version__}",
    "Accept": "*/*",
    # Bodies are returned byte for byte (user-data may itself be gzip); nothing to decode.
    "Accept-Encoding": "identity",
}
#: Extra seconds for connecting.  Linux resends an unanswered SYN 1 s after the first (then at
#: 3 s, 7 s): exactly when the default 1 s timeout ends.  IMDS drops packets over its rate limit,
#: so without this a single lost SYN fails a call that the resend would have saved.
SYN_RESEND_SLACK = 0.15
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0)


def _options(base_url: str, timeout: float, transport: object | None) -> dict[str, Any]:
    """Settings shared by the sync and async clients."""
    extra = {} if transport is None else {"transport": transport}
    return {
        **extra,
        "base_url": base_url,
        "headers": _HEADERS,
        "timeout": httpx.Timeout(
            timeout, connect=timeout + SYN_RESEND_SLACK, read=timeout, write=timeout, pool=None
        ),
        "limits": _LIMITS,
        "trust_env": False,  # never a proxy: none can reach a link-local address
        "follow_redirects": False,
        # Plain-HTTP endpoints never do TLS; skipping the CA bundle saves start-up time.
        "verify": base_url.startswith("https:"),
    }


def sync_client(base_url: str, timeout: float, transport: object = None) -> httpx.Client:
    """A keep-alive client for one endpoint; ``transport`` replaces the network (tests)."""
    return httpx.Client(**_options(base_url, timeout, _check(transport, httpx.BaseTransport)))


def async_client(base_url: str, timeout: float, transport: object = None) -> httpx.AsyncClient:
    """The async twin of :func:`sync_client`."""
    kind = httpx.AsyncBaseTransport
    return httpx.AsyncClient(**_options(base_url, timeout, _check(transport, kind)))


def _check(transport: object, kind: type) -> object:
    """A transport of the kind the client needs, or a usage error before anything is sent."""
    if transport is not None and not isinstance(transport, kind):
        raise TypeError(f"the client needs an httpx.{kind.__name__}, not {transport!r}")
    return transport


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


class _Body:
    """Collects one answer's body under the size cap; shared by both senders."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks: list[bytes] = []
        self.size = 0
        length = response.headers.get("content-length", "")
        # ASCII digits only: str.isdigit() also accepts "¹", which int() refuses.
        self.too_large = length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES

    @property
    def streaming(self) -> bool:
        """Whether there is anything left to read (an in-memory answer is already read)."""
        if self.response.is_stream_consumed:
            self.add(self.response.content)
        return not self.too_large and not self.response.is_stream_consumed

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; ``True`` once the body is over the cap (stop reading)."""
        self.size += len(chunk)
        self.too_large = self.too_large or self.size > MAX_BODY_BYTES
        if not self.too_large:
            self.chunks.append(chunk)
        return self.too_large

    def result(self) -> Result:
        if self.too_large:
            return Failure(FailureKind.TOO_LARGE, f"over {MAX_BODY_BYTES} bytes")
        raw = self.response.headers.raw
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        return Response(self.response.status_code, headers, b"".join(self.chunks))


def _build(client: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
    if request.connect_timeout is None:
        return client.build_request(request.method, request.path, headers=request.headers)
    timeout = client.timeout
    this = httpx.Timeout(
        timeout.read, connect=request.connect_timeout, write=timeout.write, pool=timeout.pool
    )
    return client.build_request(request.method, request.path, headers=request.headers, timeout=this)


def send_sync(client: httpx.Client, request: Request) -> Result:
    """One exchange, never raising for transport trouble."""
    try:
        response = client.send(_build(client, request), stream=True)
        try:
            body = _Body(response)
            if body.streaming:
                for chunk in response.iter_raw():
                    if body.add(chunk):
                        break
            return body.result()
        finally:
            response.close()
    except httpx.TransportError as exc:
        return failure_from(exc)


async def send_async(client: httpx.AsyncClient, request: Request) -> Result:
    """The async twin of :func:`send_sync`."""
    try:
        response = await client.send(_build(client, request), stream=True)
        try:
            body = _Body(response)
            if body.streaming:
                async for chunk in response.aiter_raw():
                    if body.add(chunk):
                        break
            return body.result()
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        return failure_from(exc)
