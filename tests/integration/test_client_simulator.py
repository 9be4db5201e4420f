"""The client against the simulator over real TCP, in every mode, asserting the request trace."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from imdsclient import (
    EndpointDisabledError,
    IMDSClient,
    MetadataNotFoundError,
    ThrottledError,
    UnauthorizedError,
)
from imdsclient.testing import FakeClock, IMDSSimulator
from tests.conftest import MakeClient

ID = "/latest/meta-data/instance-id"
TOKEN = "/latest/api/token"


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        yield simulator


def trace(sim: IMDSSimulator) -> list[tuple[str, str, bool, int | None]]:
    """(method, path, carried a token, status) per request."""
    return [
        (r.method, r.path, "x-aws-ec2-metadata-token" in r.headers, r.status) for r in sim.requests
    ]


def test_v2_round_trips(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """One PUT, then one GET per call, every GET carrying the token."""
    client = make_client(endpoint=sim.url)
    assert client.get("instance-id") == client.get("instance-id")
    assert trace(sim) == [
        ("PUT", TOKEN, False, 200),
        ("GET", ID, True, 200),
        ("GET", ID, True, 200),
    ]
    assert sim.requests[0].headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"


def test_tokens_required(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """An instance with HttpTokens=required works unchanged."""
    sim.http_tokens = "required"
    assert make_client(endpoint=sim.url).get("instance-id").startswith("i-")
    assert [s for *_, s in trace(sim)] == [200, 200]


@pytest.mark.parametrize("status", [404, 405])
def test_legacy_imds_is_used_without_tokens(
    sim: IMDSSimulator, make_client: MakeClient, status: int
) -> None:
    """Against an IMDS without tokens: one PUT refused, then plain GETs."""
    sim.legacy = status  # type: ignore[assignment]
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    client.get("instance-id")
    assert trace(sim) == [
        ("PUT", TOKEN, False, status),
        ("GET", ID, False, 200),
        ("GET", ID, False, 200),
    ]


def test_hop_limit_drop_falls_back_to_v1(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """The PUT answer never comes; with tokens optional the client carries on with IMDSv1."""
    sim.hop_limit_drop = True
    client = make_client(endpoint=sim.url, timeout=0.2)
    assert client.get("instance-id").startswith("i-")
    assert trace(sim)[1:] == [("GET", ID, False, 200)]
    assert trace(sim)[0][:2] == ("PUT", TOKEN)


def test_hop_limit_drop_with_tokens_required_names_the_fix(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """PUT dropped and IMDSv1 refused: the error says to raise the hop limit."""
    sim.hop_limit_drop = True
    sim.http_tokens = "required"
    with pytest.raises(UnauthorizedError, match="--http-put-response-hop-limit 2"):
        make_client(endpoint=sim.url, timeout=0.2).get("instance-id")


def test_endpoint_disabled(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """A disabled endpoint raises EndpointDisabledError after one request, never falling back."""
    sim.endpoint_enabled = False
    with pytest.raises(EndpointDisabledError, match="--http-endpoint enabled"):
        make_client(endpoint=sim.url).get("instance-id")
    assert trace(sim) == [("PUT", TOKEN, False, 403)]


def test_throttling_is_absorbed(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """Two throttled answers then success: three GETs, no error."""
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    sim.throttle_next(2, status=503)
    assert client.get("instance-id").startswith("i-")
    assert [s for *_, s in trace(sim)] == [200, 200, 503, 503, 200]


def test_throttling_that_never_ends_raises(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """A server throttling every request yields ThrottledError after the throttle budget."""
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    sim.throttle_next(100)
    with pytest.raises(ThrottledError):
        client.get("instance-id")
    assert sim.count("GET", ID, status=429) == 10


@pytest.mark.parametrize("kind", ["reset", "error", "empty"])
def test_transient_faults_are_retried(
    sim: IMDSSimulator, make_client: MakeClient, kind: str
) -> None:
    """A reset or a 500 is retried; an empty 200 is returned as the empty value it is."""
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    sim.inject(kind, path=ID)  # type: ignore[arg-type]
    value = client.get("instance-id")
    assert value == ("" if kind == "empty" else client.get("instance-id"))


def test_hang_times_out_and_is_retried(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """A GET left hanging times out and the retry gets the value."""
    client = make_client(endpoint=sim.url, timeout=0.2)
    client.get("instance-id")
    sim.inject("hang", path=ID)
    assert client.get("instance-id").startswith("i-")
    assert sim.count("GET", ID) == 3


def test_expired_token_is_refreshed(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """When IMDS forgets the token (401), the client fetches a new one and retries once."""
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    sim.invalidate_tokens()
    client.get("instance-id")
    assert [(m, s) for m, _, _, s in trace(sim)] == [
        ("PUT", 200),
        ("GET", 200),
        ("GET", 401),
        ("PUT", 200),
        ("GET", 200),
    ]


def test_404_page_is_metadata_not_found(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """A missing category is MetadataNotFoundError, requested once."""
    with pytest.raises(MetadataNotFoundError):
        make_client(endpoint=sim.url).get("no-such-category")
    assert sim.count("GET", "/latest/meta-data/no-such-category") == 1


def test_no_x_forwarded_for_is_ever_sent(sim: IMDSSimulator, make_client: MakeClient) -> None:
    """No request carries X-Forwarded-For (IMDS refuses such PUTs)."""
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    client.list("")
    assert all("x-forwarded-for" not in r.headers for r in sim.requests)


class Listener:
    """A TCP listener on loopback that counts connections (a would-be proxy)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.05)
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def test_proxies_are_never_used(
    sim: IMDSSimulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every proxy variable pointing at a live listener, it receives nothing."""
    proxy = Listener()
    try:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        assert make_client(endpoint=sim.url).get("instance-id").startswith("i-")
    finally:
        proxy.close()
    assert proxy.connections == 0
    assert sim.count("GET", ID) == 1


def test_threads_share_one_token_over_tcp(sim: IMDSSimulator) -> None:
    """32 threads sharing a client over real TCP: one PUT, every value right."""
    with IMDSClient(endpoint=sim.url, clock=FakeClock()) as client:
        barrier = threading.Barrier(32)
        values: list[str] = []

        def work() -> None:
            barrier.wait()
            values.extend(client.get("instance-id") for _ in range(10))

        threads = [threading.Thread(target=work) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(values) == 320
    assert len(set(values)) == 1
    assert sim.count("PUT") == 1
