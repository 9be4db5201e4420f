"""Security properties, one test each, over real sockets on 127.0.0.1.

"Proxies are never used" is ``tests/integration/test_client_simulator.py::
test_proxies_are_never_used`` (every proxy variable pointing at a live listener that must receive
nothing); it is not repeated here.
"""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imdsclient import (
    ConfigError,
    CredentialsError,
    EndpointDisabledError,
    IMDSClient,
    IMDSError,
    MetadataNotFoundError,
    ThrottledError,
)
from imdsclient.testing import FakeClock, IMDSSimulator
from tests.forking import in_child
from tests.reliability._servers import RawServer, simple_answer

TOKEN = b"AQAEAFake-Token-For-Raw-Servers=="
MiB = 1024 * 1024


def token_or(get_answer: list[bytes]) -> Any:
    """A respond() that issues a token for the PUT and ``get_answer`` for everything else."""

    def respond(method: str, path: str) -> list[bytes]:
        if method == "PUT":
            return simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
        return get_answer

    return respond


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(status: int) -> None:
    """A 3xx to another live loopback listener: IMDSError, and that listener gets nothing."""
    with RawServer() as target:
        location = f"Location: {target.url}/latest/meta-data/instance-id"
        with RawServer(token_or(simple_answer(status, b"", location))) as redirector:
            client = IMDSClient(endpoint=redirector.url, clock=FakeClock())
            with client, pytest.raises(IMDSError, match="redirect"):
                client.get("instance-id")
            gets = [r for r in redirector.requests if r[1] == "GET"]
        assert len(gets) == 1  # neither followed nor retried
    assert target.connections == []


def test_no_forwarding_headers_on_any_path(sim: IMDSSimulator) -> None:
    """Token refresh, retries, resets and IMDSv1 fallback: no request carries X-Forwarded-For."""
    with IMDSClient(endpoint=sim.url, clock=FakeClock()) as client:
        client.get("instance-id")
        sim.invalidate_tokens()  # 401, then a second PUT
        sim.throttle_next(1, status=503)
        sim.inject("reset", path="instance-id")
        client.get("instance-id")
    sim.legacy = 405
    with IMDSClient(endpoint=sim.url, clock=FakeClock()) as client:
        client.list("")
    assert sim.count("PUT") == 3
    assert sim.count(status=401) == 1
    assert [r.status for r in sim.requests].count(None) == 1  # the reset
    for record in sim.requests:
        assert not {"x-forwarded-for", "forwarded", "via"} & set(record.headers)


def _texts_of(exc: BaseException) -> list[str]:
    """str and repr of an exception, its hint, and of every exception in its chain."""
    out: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        out += [str(seen), repr(seen), str(getattr(seen, "hint", "")), str(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return out


def test_tokens_and_secrets_never_leak(
    sim: IMDSSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Session tokens and credential secrets appear in no repr, str, DEBUG log or error text."""
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    caplog.set_level(logging.DEBUG, logger="imdsclient")  # even if a CLI run lowered it
    with IMDSClient(endpoint=sim.url, clock=FakeClock()) as client:
        client.get("instance-id")
        creds = client.iam_credentials()
        failing: list[Callable[[], object]] = [
            lambda: sim.inject("error", count=20, path="instance-id"),
            lambda: sim.inject("reset", count=20, path="instance-id"),
            lambda: sim.throttle_next(50),
            lambda: sim.inject("credentials_error", path="iam/security-credentials/"),
            lambda: sim.inject("bad_json", path="/latest/dynamic/instance-identity/document"),
            lambda: setattr(sim, "endpoint_enabled", False),
        ]
        calls: list[Callable[[], object]] = [
            lambda: client.get("instance-id"),
            lambda: client.get("instance-id"),
            lambda: client.get("instance-id"),
            client.iam_credentials,
            lambda: client.get_json("/latest/dynamic/instance-identity/document"),
            lambda: client.get("instance-id"),
        ]
        for arm, call in zip(failing, calls):
            arm()
            with pytest.raises(IMDSError) as info:
                call()
            errors.append(info.value)
            sim.clear_faults()
        sim.endpoint_enabled = True
        sim.invalidate_tokens()
        with pytest.raises(MetadataNotFoundError) as missing:
            client.get("no-such-thing")  # after a 401 and a fresh token
        errors.append(missing.value)
        texts = [repr(client), str(client), repr(creds), str(creds)]
    assert [type(e) for e in errors[2:4]] == [ThrottledError, CredentialsError]
    assert isinstance(errors[5], EndpointDisabledError)
    tokens = {r.headers["x-aws-ec2-metadata-token"] for r in sim.requests if r.method == "GET"}
    assert len(tokens) == 2  # the first token and the one fetched after the 401
    secrets = [*tokens, creds.secret_access_key.get_secret_value(), creds.token.get_secret_value()]
    for exc in errors:
        texts += _texts_of(exc)
    records = caplog.records
    assert any(r.levelno == logging.DEBUG and r.name == "imdsclient" for r in records)
    texts += [r.getMessage() for r in records] + [str(vars(r)) for r in records]
    for secret in secrets:
        assert len(secret) > 10
        assert not [t for t in texts if secret in t]


class _Stream:
    """A GET answer claiming (or not) 64 MiB and streaming zeros until the client hangs up."""

    def __init__(self, declared: bool) -> None:
        self.declared = declared

    def __iter__(self) -> Iterator[bytes]:
        length = f"Content-Length: {64 * MiB}" if self.declared else "Connection: close"
        yield f"HTTP/1.1 200 OK\r\n{length}\r\n\r\n".encode()
        chunk = b"\0" * 65536
        for _ in range(64 * MiB // len(chunk)):
            yield chunk


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_64_mib_answer_is_refused_with_bounded_memory(declared: bool) -> None:
    """A 64 MiB answer is an IMDSError; memory peaks near the 1 MiB cap, far below 64 MiB."""
    with RawServer(lambda method, path: token_or(_Stream(declared))(method, path)) as server:  # type: ignore[arg-type]
        with IMDSClient(endpoint=server.url, clock=FakeClock()) as client:
            tracemalloc.start()
            try:
                with pytest.raises(IMDSError, match="too large"):
                    client.get("instance-id")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert [m for _, m, _ in server.requests] == ["PUT", "GET"]  # refused, not retried
    assert peak < 4 * MiB
    assert server.sent < 32 * MiB  # the client hung up long before the end


BAD_PATHS = [
    "http://127.0.0.2/latest/meta-data/",
    "https://evil.example/x",
    "//127.0.0.2/x",
    "../../etc/passwd",
    "placement/../../../x",
    "/latest/meta-data/./ami-id",
    "instance-id\r\nX-Injected: 1",
    "instance-id\nHost: evil",
    "instance-id\x00",
    "instance-id%0d%0a",
    "instance-id?x=1",
]


@pytest.mark.parametrize("method", ["get", "get_bytes", "get_json", "list", "dump"])
@pytest.mark.parametrize("path", BAD_PATHS)
def test_path_injection_never_reaches_the_wire(sim: IMDSSimulator, method: str, path: str) -> None:
    """Scheme, //host, dot segments, CR/LF, NUL, % and ?: ValueError, and no request at all."""
    with IMDSClient(endpoint=sim.url) as client, pytest.raises(ValueError, match="IMDS path"):
        getattr(client, method)(path)
    assert sim.requests == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://127.0.0.1",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70",
        "ws://127.0.0.1",
        "127.0.0.1",
    ],
)
def test_only_http_and_https_endpoints(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Any other scheme (or none) is a ConfigError, from an argument or from the environment."""
    with pytest.raises(ConfigError, match="endpoint"):
        IMDSClient(endpoint=endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
    with pytest.raises(ConfigError, match="AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        IMDSClient()
    for good in ("http://127.0.0.1:9", "https://127.0.0.1:9"):
        IMDSClient(endpoint=good).close()


def _imds_on_raw_server(method: str, path: str) -> list[bytes]:
    if method == "PUT":
        return simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
    return simple_answer(200, b"i-0123456789abcdef0")


def test_forked_child_never_reuses_the_parents_connection() -> None:
    """After os.fork() the child's request arrives on a new TCP connection; the parent keeps its."""
    with RawServer(_imds_on_raw_server) as server:
        with IMDSClient(endpoint=server.url, timeout=2) as client:
            assert client.get("instance-id") == "i-0123456789abcdef0"
            assert len(server.connections) == 1
            code, child_saw = in_child(lambda: client.get("instance-id").encode())
            assert code == 0
            assert child_saw == b"i-0123456789abcdef0"
            assert client.get("instance-id") == "i-0123456789abcdef0"  # the parent, again
        parent_port, child_port = server.connections
        assert parent_port != child_port
        by_port = [(port, method) for port, method, _ in server.requests]
        assert by_port == [
            (parent_port, "PUT"),
            (parent_port, "GET"),
            (child_port, "GET"),  # the token is reused; the connection is not
            (parent_port, "GET"),
        ]
