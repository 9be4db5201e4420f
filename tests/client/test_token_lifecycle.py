"""Both shells against scripted IMDS answers (respx): the exact request sequences of the
protocol table (docs/design.md)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from imdsclient import (
    BadRequestError,
    EndpointDisabledError,
    IMDSDisabledError,
    IMDSTimeoutError,
    UnauthorizedError,
)
from imdsclient._protocol import TOKEN_HEADER, TTL_HEADER
from imdsclient._token import FALLBACK_RECHECK_SECONDS
from imdsclient.testing import FakeClock
from tests.conftest import ENDPOINT, MakeClient

ID = "/latest/meta-data/instance-id"
TOKEN = "/latest/api/token"


def trace(router: respx.Router) -> list[tuple[str, str, str | None]]:
    """(method, path, token header) of every request, in order."""
    return [
        (c.request.method, c.request.url.path, c.request.headers.get(TOKEN_HEADER))
        for c in router.calls
    ]


def token_answers(*tokens: str, ttl: int = 21600) -> list[httpx.Response]:
    return [httpx.Response(200, text=t, headers={TTL_HEADER: str(ttl)}) for t in tokens]


@pytest.fixture
def imds() -> Iterator[respx.Router]:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        yield router


def test_one_put_then_gets_carry_the_token(imds: respx.Router, make_client: MakeClient) -> None:
    """A warm client costs exactly one GET per call; the token is fetched once."""
    imds.put(TOKEN).mock(side_effect=token_answers("tok-1"))
    imds.get(ID).respond(200, text="i-0abc")
    client = make_client()
    assert [client.get("instance-id") for _ in range(3)] == ["i-0abc"] * 3
    assert trace(imds) == [("PUT", TOKEN, None)] + [("GET", ID, "tok-1")] * 3
    assert imds.calls[0].request.headers[TTL_HEADER] == "21600"


def test_token_is_refreshed_ahead_of_expiry(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock
) -> None:
    """A token is replaced shortly before it expires, not after a 401."""
    imds.put(TOKEN).mock(side_effect=token_answers("tok-1", "tok-2", ttl=600))
    imds.get(ID).respond(200, text="i-0abc")
    client = make_client(token_ttl=600)
    client.get("instance-id")
    clock.advance(600 - 59)  # within the last 60 s (10 % of 600): refresh now
    client.get("instance-id")
    clock.advance(10)
    client.get("instance-id")
    assert [t for _, _, t in trace(imds)] == [None, "tok-1", None, "tok-2", "tok-2"]


def test_401_refreshes_the_token_and_retries_once(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """A GET refused with 401 drops the token, fetches a new one and retries once."""
    imds.put(TOKEN).mock(side_effect=token_answers("old", "new"))
    imds.get(ID).mock(side_effect=[httpx.Response(401), httpx.Response(200, text="i-0abc")])
    assert make_client().get("instance-id") == "i-0abc"
    assert trace(imds) == [
        ("PUT", TOKEN, None),
        ("GET", ID, "old"),
        ("PUT", TOKEN, None),
        ("GET", ID, "new"),
    ]


def test_second_401_raises_unauthorized(imds: respx.Router, make_client: MakeClient) -> None:
    """A fresh token refused again is an UnauthorizedError, after exactly one refresh."""
    imds.put(TOKEN).mock(side_effect=token_answers("a", "b"))
    imds.get(ID).respond(401)
    with pytest.raises(UnauthorizedError) as info:
        make_client().get("instance-id")
    assert info.value.status == 401
    assert info.value.path == ID
    assert [m for m, _, _ in trace(imds)] == ["PUT", "GET", "PUT", "GET"]


@pytest.mark.parametrize("status", [404, 405])
def test_put_404_or_405_falls_back_to_v1(
    imds: respx.Router, make_client: MakeClient, clock: FakeClock, status: int
) -> None:
    """An IMDS that does not know the token PUT is used without tokens, and re-probed later."""
    imds.put(TOKEN).respond(status)
    imds.get(ID).respond(200, text="i-0abc")
    client = make_client()
    client.get("instance-id")
    client.get("instance-id")
    assert trace(imds) == [("PUT", TOKEN, None), ("GET", ID, None), ("GET", ID, None)]
    clock.advance(FALLBACK_RECHECK_SECONDS + 1)
    client.get("instance-id")
    assert [m for m, _, _ in trace(imds)][3:] == ["PUT", "GET"]


def test_put_403_is_endpoint_disabled_and_never_falls_back(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """403 on the token PUT raises EndpointDisabledError; no GET is sent."""
    imds.put(TOKEN).respond(403)
    with pytest.raises(EndpointDisabledError) as info:
        make_client().get("instance-id")
    assert "--http-endpoint enabled" in str(info.value)
    assert trace(imds) == [("PUT", TOKEN, None)]


def test_put_400_is_bad_request_and_not_retried(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """400 on the token PUT raises BadRequestError at once."""
    imds.put(TOKEN).respond(400)
    with pytest.raises(BadRequestError):
        make_client().get("instance-id")
    assert len(imds.calls) == 1


def test_get_403_is_endpoint_disabled(imds: respx.Router, make_client: MakeClient) -> None:
    """403 on a GET raises EndpointDisabledError naming the enable command."""
    imds.put(TOKEN).mock(side_effect=token_answers("t"))
    imds.get(ID).respond(403)
    with pytest.raises(EndpointDisabledError, match="modify-instance-metadata-options"):
        make_client().get("instance-id")
    assert len(imds.calls) == 2


def test_v1_disabled_never_sends_a_tokenless_request(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """With v1 fallback off, a PUT answered 404 raises instead of trying without a token."""
    imds.put(TOKEN).respond(404)
    imds.get(ID).respond(200, text="i-0abc")
    with pytest.raises(UnauthorizedError, match="fallback is disabled") as info:
        make_client(v1_fallback=False).get("instance-id")
    assert trace(imds) == [("PUT", TOKEN, None)]
    assert "IMDSv1 only" in info.value.hint  # the cause: nothing here issues tokens
    assert "hop" not in str(info.value)  # not the container cure, which cannot help


def test_put_timeout_falls_back_to_v1(imds: respx.Router, make_client: MakeClient) -> None:
    """A PUT whose answer never comes (hop limit) is followed by a token-less GET."""
    imds.put(TOKEN).mock(side_effect=httpx.ReadTimeout("dropped"))
    imds.get(ID).respond(200, text="i-0abc")
    assert make_client().get("instance-id") == "i-0abc"
    assert trace(imds) == [("PUT", TOKEN, None), ("GET", ID, None)]


def test_put_timeout_then_v1_refused_names_the_hop_limit(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """IMDSv1 refused right after a dropped PUT: the hop-limit fix, and no second PUT (its
    answer would be dropped too: the call waits for a dropped PUT once, not twice)."""
    imds.put(TOKEN).mock(side_effect=httpx.ReadTimeout("dropped"))
    imds.get(ID).respond(401)
    with pytest.raises(UnauthorizedError) as info:
        make_client().get("instance-id")
    assert "--http-put-response-hop-limit 2" in str(info.value)
    assert [m for m, _, _ in trace(imds)] == ["PUT", "GET"]


def test_a_401_after_an_older_hop_limit_decision_probes_the_token_once(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """A 401 in a later call is news (tokens now required): one more PUT, then the error."""
    imds.put(TOKEN).mock(side_effect=httpx.ReadTimeout("dropped"))
    get = imds.get(ID)
    get.respond(200, text="i-0abc")
    client = make_client()
    assert client.get("instance-id") == "i-0abc"  # IMDSv1, the PUT's answer dropped
    get.respond(401)
    with pytest.raises(UnauthorizedError, match="hop-limit"):
        client.get("instance-id")
    assert [m for m, _, _ in trace(imds)] == ["PUT", "GET", "GET", "PUT"]


def test_put_timeout_with_v1_disabled_names_the_hop_limit(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """With v1 off, a dropped PUT raises a timeout whose hint is the hop limit."""
    imds.put(TOKEN).mock(side_effect=httpx.ReadTimeout("dropped"))
    with pytest.raises(IMDSTimeoutError, match="hop-limit"):
        make_client(v1_fallback=False).get("instance-id")
    assert len(imds.calls) == 1


def test_v1_401_obtains_a_token_when_the_put_now_works(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """In v1 mode a 401 makes the client try for a token, and use it if IMDS gives one."""
    imds.put(TOKEN).mock(side_effect=[httpx.Response(404), *token_answers("t")])
    imds.get(ID).mock(side_effect=[httpx.Response(401), httpx.Response(200, text="i-0abc")])
    assert make_client().get("instance-id") == "i-0abc"
    assert trace(imds) == [
        ("PUT", TOKEN, None),
        ("GET", ID, None),
        ("PUT", TOKEN, None),
        ("GET", ID, "t"),
    ]


def test_disabled_sends_nothing(imds: respx.Router, make_client: MakeClient) -> None:
    """disabled=True raises IMDSDisabledError naming the switch, before any request."""
    with pytest.raises(IMDSDisabledError, match="AWS_EC2_METADATA_DISABLED"):
        make_client(disabled=True).get("instance-id")
    assert imds.calls.call_count == 0


def test_401_then_no_more_tokens_tries_once_without_a_token(
    imds: respx.Router, make_client: MakeClient
) -> None:
    """A refused token whose refresh finds no token service (404) is followed by one v1 GET."""
    imds.put(TOKEN).mock(side_effect=[*token_answers("old"), httpx.Response(404)])
    imds.get(ID).mock(side_effect=[httpx.Response(401), httpx.Response(200, text="i-0abc")])
    assert make_client().get("instance-id") == "i-0abc"
    assert trace(imds) == [
        ("PUT", TOKEN, None),
        ("GET", ID, "old"),
        ("PUT", TOKEN, None),
        ("GET", ID, None),
    ]


def test_401_then_v1_refused_too_names_the_fix(imds: respx.Router, make_client: MakeClient) -> None:
    """If that token-less GET is refused as well, the error is the IMDSv2-required one."""
    imds.put(TOKEN).mock(side_effect=[*token_answers("old"), httpx.Response(405)])
    imds.get(ID).respond(401)
    with pytest.raises(UnauthorizedError, match="without a session token"):
        make_client().get("instance-id")
    assert [t for _, _, t in trace(imds)] == [None, "old", None, None]
