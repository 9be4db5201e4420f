"""Both shells: retries with recorded (never real) sleeps, transport failures, and safety rails."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import respx

from imdsclient import (
    IMDSClient,
    IMDSConnectionError,
    IMDSError,
    IMDSTimeoutError,
    MetadataNotFoundError,
    RetryEvent,
    RetryPolicy,
    ThrottledError,
    _transport,
)
from imdsclient._protocol import MAX_BODY_BYTES, TTL_HEADER
from imdsclient.testing import FakeClock, instant_retries
from tests.conftest import ENDPOINT, MakeClient

ID = "/latest/meta-data/instance-id"
TOKEN = "/latest/api/token"


@pytest.fixture
def imds() -> Iterator[respx.Router]:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        router.put(TOKEN).respond(200, text="tok", headers={TTL_HEADER: "21600"})
        yield router


def gets(router: respx.Router) -> int:
    return sum(1 for c in router.calls if c.request.method == "GET")


@pytest.mark.parametrize("status", [429, 503, 500, 502, 504])
def test_transient_statuses_are_retried_with_jittered_backoff(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock, status: int
) -> None:
    """429/503/5xx are retried; each sleep is a full-jitter draw within the doubling cap."""
    imds.get(ID).mock(side_effect=[httpx.Response(status)] * 2 + [httpx.Response(200, text="i-1")])
    client = make_client(rng=random.Random(7))
    assert client.get("instance-id") == "i-1"
    assert gets(imds) == 3
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.1
    assert 0 <= clock.sleeps[1] <= 0.2


def test_throttling_exhausted_raises_throttled_error(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """A server that keeps throttling yields ThrottledError after the throttle budget (10)."""
    imds.get(ID).respond(429)
    with pytest.raises(ThrottledError) as info:
        make_client().get("instance-id")
    assert info.value.status == 429
    assert gets(imds) == 10
    assert len(clock.sleeps) == 9


def test_server_errors_use_the_configured_attempts(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """num_attempts bounds retries of 500s; the last error says what happened."""
    imds.get(ID).respond(500)
    with pytest.raises(IMDSError, match="500") as info:
        make_client(num_attempts=2).get("instance-id")
    assert info.value.status == 500
    assert gets(imds) == 2


def test_retry_after_replaces_the_backoff_and_is_clamped(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """Retry-After is honoured, clamped to the 2 s cap."""
    imds.get(ID).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1.5"}),
            httpx.Response(503, headers={"Retry-After": "120"}),
            httpx.Response(200, text="i-1"),
        ]
    )
    make_client().get("instance-id")
    assert clock.sleeps == [1.5, 2.0]


def test_retry_events_reach_the_hook(imds: respx.Router, make_client: MakeClient) -> None:
    """on_retry hooks get one event per retry with the cause and whether it was throttling."""
    events: list[RetryEvent] = []
    imds.get(ID).mock(side_effect=[httpx.Response(503), httpx.Response(200, text="i-1")])
    make_client(on_retry=events.append).get("instance-id")
    assert [(e.path, e.attempt, e.cause, e.throttled) for e in events] == [
        (ID, 1, "HTTP 503", True)
    ]


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_never_retried(
    imds: respx.Router, make_client: MakeClient, status: int
) -> None:
    """400 and 404 fail at once."""
    imds.get(ID).respond(status)
    with pytest.raises(IMDSError):
        make_client().get("instance-id")
    assert gets(imds) == 1


def test_404_is_also_a_lookup_error(imds: respx.Router, make_client: MakeClient) -> None:
    """MetadataNotFoundError can be caught as LookupError."""
    imds.get("/latest/meta-data/spot/instance-action").respond(404)
    with pytest.raises(LookupError) as info:
        make_client().get("spot/instance-action")
    assert isinstance(info.value, MetadataNotFoundError)


def test_instant_retries_skips_sleeps_and_overrides_attempts(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """instant_retries() makes loops started inside it sleep 0 and use its attempt budget."""
    imds.get(ID).respond(503)
    client = make_client()
    with instant_retries(attempts=4), pytest.raises(ThrottledError):
        client.get("instance-id")
    assert gets(imds) == 4
    assert clock.sleeps == [0.0, 0.0, 0.0]


def test_connection_refused_on_first_contact_fails_fast(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """Off EC2 the first call raises at once: no retry of a connection never made."""
    imds.put(TOKEN).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(IMDSConnectionError) as info:
        make_client().get("instance-id")
    assert "iptables" in str(info.value)
    assert len(imds.calls) == 1


def test_connect_timeout_on_first_contact_fails_fast(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """A blackholed endpoint: two attempts, the second at once, then IMDSTimeoutError naming
    DROP rules (off EC2 ~1.65 s with the defaults)."""
    imds.put(TOKEN).mock(side_effect=httpx.ConnectTimeout("blackhole"))
    with pytest.raises(IMDSTimeoutError) as info:
        make_client().get("instance-id")
    assert len(imds.calls) == 2
    assert clock.sleeps == [0.0]
    assert "DROPs traffic to 169.254.169.254" in str(info.value)
    assert "nft list ruleset" in str(info.value)


def test_the_second_first_contact_attempt_waits_half_the_timeout(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """The first attempt waits timeout + slack (two SYNs); the second, one more SYN, waits half
    the timeout; once IMDS answers, everything uses the client's own limits again."""
    imds.put(TOKEN).mock(
        side_effect=[
            httpx.ConnectTimeout("lost SYNs"),
            httpx.Response(200, text="tok", headers={TTL_HEADER: "21600"}),
        ]
    )
    imds.get(ID).respond(200, text="i-1")
    assert make_client(timeout=1.0).get("instance-id") == "i-1"
    connects = [call.request.extensions["timeout"]["connect"] for call in imds.calls]
    assert connects == [pytest.approx(1.15), 0.5, pytest.approx(1.15)]


def test_the_connect_phase_outlasts_the_kernels_syn_resend() -> None:
    """Connecting may take timeout + 0.15 s, so Linux's resent SYN (1 s later) is answered;
    reading keeps the timeout as set."""
    with _transport.sync_client("http://127.0.0.1:9", 1.0) as http:
        timeouts = http.endpoint.timeouts
        assert timeouts["connect"] == pytest.approx(1.0 + _transport.SYN_RESEND_SLACK)
        assert timeouts["read"] == 1.0
    assert _transport.SYN_RESEND_SLACK == 0.15


def test_connection_errors_after_contact_are_retried(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """Once the endpoint has answered, a refused or reset connection is retried."""
    imds.get(ID).mock(
        side_effect=[
            httpx.Response(200, text="i-1"),
            httpx.ConnectError("refused"),
            httpx.RemoteProtocolError("reset"),
            httpx.Response(200, text="i-1"),
        ]
    )
    client = make_client()
    assert client.get("instance-id") == "i-1"
    assert client.get("instance-id") == "i-1"
    assert gets(imds) == 4


def test_connect_timeouts_after_contact_get_the_throttling_budget(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """Once IMDS has answered, SYNs lost to packet throttling are retried like 429s."""
    imds.get(ID).mock(
        side_effect=[
            httpx.Response(200, text="i-1"),
            *[httpx.ConnectTimeout("dropped SYN")] * 8,
            httpx.Response(200, text="i-1"),
        ]
    )
    client = make_client(num_attempts=3)
    assert client.get("instance-id") == "i-1"
    assert client.get("instance-id") == "i-1"
    assert gets(imds) == 10
    assert len(clock.sleeps) == 8


def test_answers_lost_while_other_requests_are_answered_get_the_throttling_budget(
    imds: respx.Router, clock: FakeClock
) -> None:
    """Packet throttling drops answers too: while another thread's requests get theirs, a GET
    whose answer never comes is retried like a 429 (here 6 times), not given up after 3."""
    imds.get("/latest/meta-data/ami-id").respond(200, text="ami-1")
    client = IMDSClient(endpoint=ENDPOINT, clock=clock, num_attempts=3)
    lost = 0

    def lose_while_another_thread_is_answered(request: httpx.Request) -> httpx.Response:
        nonlocal lost
        if lost == 6:
            return httpx.Response(200, text="i-1")
        lost += 1
        other = threading.Thread(target=client.get, args=("ami-id",))
        other.start()
        other.join(timeout=10)
        raise httpx.ReadTimeout("the answer's packets were dropped")

    imds.get(ID).mock(side_effect=lose_while_another_thread_is_answered)
    with client:
        assert client.get("instance-id") == "i-1"
    assert lost == 6
    assert gets(imds) == 7 + 6


def test_connection_errors_name_a_custom_endpoint_and_its_source(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """The endpoint tried is named, with where the setting came from, when it is not IMDS's."""
    imds.put(TOKEN).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(IMDSConnectionError) as info:
        make_client().get("instance-id")
    assert f"at {ENDPOINT} (the endpoint setting, from argument)" in str(info.value)


def test_read_timeouts_on_get_are_retried_then_raised(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """A GET that hangs is retried, then raises IMDSTimeoutError."""
    imds.get(ID).mock(side_effect=httpx.ReadTimeout("hang"))
    with pytest.raises(IMDSTimeoutError):
        make_client().get("instance-id")
    assert gets(imds) == 3


def test_redirects_are_never_followed(imds: respx.Router, make_client: MakeClient) -> None:
    """A 3xx is an IMDSError; the Location is never requested."""
    imds.get(ID).respond(302, headers={"Location": "http://example.com/"})
    with pytest.raises(IMDSError, match="redirect"):
        make_client().get("instance-id")
    assert gets(imds) == 1


def test_oversized_bodies_are_refused(imds: respx.Router, make_client: MakeClient) -> None:
    """A body over the cap raises instead of being read into memory."""
    imds.get("/latest/user-data").respond(200, content=b"x" * (MAX_BODY_BYTES + 1))
    with pytest.raises(IMDSError, match="too large"):
        make_client().get_bytes("/latest/user-data")


def test_bodies_are_returned_byte_for_byte(imds: respx.Router, make_client: MakeClient) -> None:
    """get_bytes returns exactly what was served; get_json parses; list splits."""
    payload = bytes(range(256))
    imds.get("/latest/user-data").respond(200, content=payload)
    imds.get("/latest/dynamic/instance-identity/document").respond(200, json={"region": "x"})
    imds.get("/latest/meta-data/placement/").respond(200, text="region\navailability-zone")
    client = make_client()
    assert client.get_bytes("/latest/user-data") == payload
    assert client.get_json("/latest/dynamic/instance-identity/document") == {"region": "x"}
    assert client.list("placement") == ["region", "availability-zone"]


def test_undecodable_text_and_json_raise_imds_errors(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """get() of non-UTF-8 bytes and get_json() of non-JSON raise IMDSError, not ValueError."""
    imds.get("/latest/user-data").respond(200, content=b"\xff\xfe")
    client = make_client()
    with pytest.raises(IMDSError, match="UTF-8"):
        client.get("/latest/user-data")
    with pytest.raises(IMDSError, match="JSON"):
        client.get_json("/latest/user-data")


def test_absurdly_nested_json_raises_an_imds_error(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """get_json() of JSON nested past the recursion limit raises IMDSError, not RecursionError."""
    imds.get("/latest/user-data").respond(200, content=b"[" * 100_000)
    with pytest.raises(IMDSError, match="JSON"):
        make_client().get_json("/latest/user-data")


@pytest.mark.parametrize(
    "path",
    ["http://evil/", "//evil/x", "../../etc", "a/../../b", "a\r\nX-Injected: 1", "a\x00", "a b"],
)
def test_bad_paths_are_rejected_before_any_request(
    imds: respx.Router, make_client: MakeClient, path: str
) -> None:
    """Paths that could leave the endpoint or smuggle bytes raise ValueError; nothing is sent."""
    with pytest.raises(ValueError, match="IMDS path"):
        make_client().get(path)
    assert imds.calls.call_count == 0


def test_is_available(imds: respx.Router, make_client: MakeClient) -> None:
    """is_available is True when IMDS answers (even 404) and False when it cannot be reached."""
    imds.get(ID).respond(404)
    assert make_client().is_available() is True
    imds.put(TOKEN).mock(side_effect=httpx.ConnectError("refused"))
    assert make_client().is_available() is False
    assert make_client(disabled=True).is_available() is False


def test_is_available_makes_one_attempt(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """is_available never retries or sleeps, even against a throttling server."""
    imds.get(ID).respond(503)
    assert make_client().is_available() is False
    assert gets(imds) == 1
    assert clock.sleeps == []


def test_closed_client_raises_runtime_error(make_client: MakeClient) -> None:
    """Using a closed client is a usage error, not an IMDSError."""
    client = make_client()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get("instance-id")


def test_a_custom_retry_policy_is_used(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """retry_policy= replaces the backoff (sleeps of at most 10 ms); num_attempts= the count."""
    imds.get(ID).respond(500)
    policy = RetryPolicy(base=0.01, cap=0.01)
    with pytest.raises(IMDSError):
        make_client(retry_policy=policy, num_attempts=2).get("instance-id")
    assert gets(imds) == 2
    assert len(clock.sleeps) == 1
    assert 0 <= clock.sleeps[0] <= 0.01


def test_attempts_have_one_source_of_truth(make_client: MakeClient) -> None:
    """The attempt count the client uses is the one its config reports (doctor shows it)."""
    client = make_client(num_attempts=5, retry_policy=RetryPolicy(base=0.2))
    assert client.config.num_attempts == 5
    assert client.retry_policy == RetryPolicy(base=0.2)


def test_retry_policy_rejects_nonsense() -> None:
    """A policy that could never send or would sleep backwards is a usage error."""
    with pytest.raises(ValueError, match="at least"):
        RetryPolicy(throttle_attempts=0)
    with pytest.raises(ValueError, match="at least"):
        RetryPolicy(base=-1.0)


def test_an_idle_connection_is_readable_once_the_server_sent_or_hung_up() -> None:
    """The async pool's test of an idle connection (``is_readable``: drop it before reuse) is
    answered from the socket itself: quiet is False; data, a hang-up or no socket is True."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert _transport._readable(ours) is False
        theirs.sendall(b"x")
        assert _transport._readable(ours) is True
    hung, peer = socket.socketpair()
    with hung:
        peer.close()
        assert _transport._readable(hung) is True
    assert _transport._readable(None) is True
    assert _transport._readable(hung) is True  # closed: no descriptor any more
