"""The simulator's sans-IO core driven directly with a fake clock: IMDS behaviour, no sockets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone

import httpx
import pytest

from imdsclient.testing import FakeClock, Reply, SimulatorState, _versions

MD = "/latest/meta-data/"
CREDS = MD + "iam/security-credentials/baskinc-role"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"


def make(**knobs: object) -> tuple[SimulatorState, FakeClock]:
    clock = FakeClock()
    return SimulatorState(clock=clock, **knobs), clock  # type: ignore[arg-type]


def get(state: SimulatorState, path: str, headers: Mapping[str, str] | None = None) -> Reply:
    return state.handle("GET", path, headers or {})


def token(state: SimulatorState, ttl: int = 21600) -> str:
    reply = state.handle("PUT", "/latest/api/token", {TTL: str(ttl)})
    assert reply.status == 200
    return reply.body.decode()


def with_token(tok: str) -> dict[str, str]:
    return {"X-aws-ec2-metadata-token": tok}


# ---------------------------------------------------------------- tokens


def test_token_put_returns_token_and_echoes_ttl() -> None:
    """A token PUT answers 200 with the token as body and the TTL header echoed."""
    state, _ = make()
    reply = state.handle("PUT", "/latest/api/token", {TTL: "60"})
    assert reply.status == 200
    assert len(reply.body) >= 40
    assert ("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60") in reply.headers


@pytest.mark.parametrize("ttl", [None, "", "0", "21601", "abc", "-5", "1.5", " 60"])
def test_token_put_with_missing_or_invalid_ttl_is_400(ttl: str | None) -> None:
    """The TTL header must be an integer within 1..21600; anything else is 400."""
    state, _ = make()
    headers = {} if ttl is None else {TTL: ttl}
    assert state.handle("PUT", "/latest/api/token", headers).status == 400


@pytest.mark.parametrize("ttl", ["1", "21600"])
def test_token_ttl_bounds_are_accepted(ttl: str) -> None:
    """Both ends of the TTL range are valid."""
    state, _ = make()
    assert state.handle("PUT", "/latest/api/token", {TTL: ttl}).status == 200


def test_token_expires_after_its_ttl() -> None:
    """A token works until its TTL has elapsed, then a GET using it is 401."""
    state, clock = make()
    tok = token(state, ttl=60)
    clock.advance(59.9)
    assert get(state, MD + "instance-id", with_token(tok)).status == 200
    clock.advance(0.1)
    assert get(state, MD + "instance-id", with_token(tok)).status == 401


def test_required_tokens_refuse_tokenless_get() -> None:
    """With http_tokens='required' a GET without a token is 401 and one with a token is 200."""
    state, _ = make(http_tokens="required")
    assert get(state, MD + "instance-id").status == 401
    assert get(state, MD + "instance-id", with_token(token(state))).status == 200


def test_optional_tokens_serve_tokenless_get() -> None:
    """By default (optional) IMDSv1 GETs work."""
    state, _ = make()
    reply = get(state, MD + "instance-id")
    assert (reply.status, reply.body) == (200, b"i-1234567890abcdef0")


@pytest.mark.parametrize("bad", ["not-a-token", ""])
def test_invalid_token_is_401_even_when_optional(bad: str) -> None:
    """An unknown token is refused whatever http_tokens says."""
    state, _ = make()
    assert get(state, MD + "instance-id", with_token(bad)).status == 401


def test_invalidate_tokens_makes_issued_tokens_fail() -> None:
    """invalidate_tokens() forgets every token, so the next GET with one is 401."""
    state, _ = make()
    tok = token(state)
    state.invalidate_tokens()
    assert get(state, MD + "instance-id", with_token(tok)).status == 401
    assert state.tokens_issued == 0


def test_http_tokens_can_change_at_runtime() -> None:
    """Setting the attribute takes effect on the next request; bad values are refused."""
    state, _ = make()
    state.http_tokens = "required"
    assert get(state, MD + "instance-id").status == 401
    with pytest.raises(ValueError, match="http_tokens"):
        state.http_tokens = "sometimes"  # type: ignore[assignment]


def test_disabled_endpoint_answers_403_to_everything() -> None:
    """endpoint_enabled=False: token PUT and GETs are 403."""
    state, _ = make(endpoint_enabled=False)
    assert state.handle("PUT", "/latest/api/token", {TTL: "60"}).status == 403
    assert get(state, MD + "instance-id").status == 403
    assert get(state, "/nope").status == 403


def test_x_forwarded_for_on_token_put_is_403() -> None:
    """IMDS refuses token requests that went through a proxy."""
    state, _ = make()
    headers = {TTL: "60", "X-Forwarded-For": "10.0.0.1"}
    assert state.handle("PUT", "/latest/api/token", headers).status == 403


def test_token_put_on_versioned_path_is_403() -> None:
    """Only /latest/api/token issues tokens; a versioned token path is 403."""
    state, _ = make()
    assert state.handle("PUT", "/2021-03-23/api/token", {TTL: "60"}).status == 403


def test_get_on_token_path_is_405() -> None:
    """The token path only takes PUT."""
    state, _ = make()
    reply = get(state, "/latest/api/token")
    assert reply.status == 405
    assert ("Allow", "PUT") in reply.headers


@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH", "OPTIONS", "get"])
def test_unknown_methods_are_405(method: str) -> None:
    """Only GET, HEAD and PUT are known."""
    state, _ = make()
    assert state.handle(method, MD + "instance-id", {}).status == 405


def test_put_on_a_metadata_path_is_405() -> None:
    """PUT is only for the token path."""
    state, _ = make()
    assert state.handle("PUT", MD + "instance-id", {TTL: "60"}).status == 405


@pytest.mark.parametrize("status", [404, 405])
def test_legacy_mode_refuses_put_and_serves_v1(status: int) -> None:
    """legacy=404/405: the token PUT answers that status and token-less GETs work."""
    state, _ = make(legacy=status, http_tokens="required")
    assert state.handle("PUT", "/latest/api/token", {TTL: "60"}).status == status
    assert get(state, MD + "instance-id").status == 200


def test_legacy_knob_validates() -> None:
    """Only None, 404 and 405 are legacy modes."""
    with pytest.raises(ValueError, match="legacy"):
        make(legacy=500)


def test_hop_limit_drop_leaves_the_put_hanging_but_serves_v1() -> None:
    """hop_limit_drop: the PUT gets no answer (logged with status None); v1 GETs still work."""
    state, _ = make(hop_limit_drop=True)
    assert state.handle("PUT", "/latest/api/token", {TTL: "60"}).action == "hang"
    assert get(state, MD + "instance-id").status == 200
    assert [r.status for r in state.requests] == [None, 200]


# ---------------------------------------------------------------- the tree


def test_listing_is_lf_joined_with_folders_marked() -> None:
    """Listings are LF-joined, folders end with '/', and there is no trailing newline."""
    state, _ = make()
    body = get(state, MD).body.decode()
    names = body.split("\n")
    assert "instance-id" in names
    assert "placement/" in names
    assert not body.endswith("\n")
    assert names == sorted(names)


def test_root_listings_name_children_without_slash() -> None:
    """'/' lists versions and '/latest/' lists dynamic, meta-data, user-data, as IMDS does."""
    state, _ = make()
    assert get(state, "/latest/").body == b"dynamic\nmeta-data\nuser-data"
    assert get(state, "/").body.split(b"\n")[-1] == b"latest"


def test_public_keys_lists_index_equals_name() -> None:
    """public-keys/ lists '0=name', and the key is under 0/openssh-key."""
    state, _ = make()
    assert get(state, MD + "public-keys/").body == b"0=test"
    assert get(state, MD + "public-keys/0/openssh-key").body.startswith(b"ssh-rsa ")


def test_leaves_are_served_with_or_without_trailing_slash() -> None:
    """A leaf requested with a trailing slash is still the leaf."""
    state, _ = make()
    assert get(state, MD + "instance-id/").body == get(state, MD + "instance-id").body


def test_folders_are_served_without_trailing_slash() -> None:
    """A folder requested without its slash is still the listing."""
    state, _ = make()
    assert get(state, MD + "placement").body == get(state, MD + "placement/").body


def test_missing_path_gets_the_imds_404_page() -> None:
    """Unknown paths answer 404 with IMDS's XHTML error page."""
    state, _ = make()
    reply = get(state, MD + "no-such-thing")
    assert reply.status == 404
    assert ("Content-Type", "text/html") in reply.headers
    assert b"<title>404 - Not Found</title>" in reply.body


def test_versioned_paths_alias_latest() -> None:
    """/2021-03-23/meta-data/... serves the same data as /latest/meta-data/..."""
    state, _ = make()
    assert get(state, "/2021-03-23/meta-data/placement/region").body == b"us-east-1"


def test_head_is_answered_like_get() -> None:
    """HEAD gets GET's status and body (the shell drops the body)."""
    state, _ = make()
    assert state.handle("HEAD", MD + "instance-id", {}).status == 200


def test_query_string_is_ignored_for_lookup_but_logged() -> None:
    """A query string does not change the path served; the log keeps the target as sent."""
    state, _ = make()
    assert get(state, MD + "instance-id?x=1").body == b"i-1234567890abcdef0"
    assert state.requests[0].path == MD + "instance-id?x=1"


def test_user_data_is_served_as_exact_bytes() -> None:
    """User data bytes come back untouched, as application/octet-stream."""
    raw = b"\x00\xff#!/bin/sh\r\n\x1f\x8b"
    state, _ = make(tree={"/latest/user-data": raw})
    reply = get(state, "/latest/user-data")
    assert reply.body == raw
    assert ("Content-Type", "application/octet-stream") in reply.headers


def test_set_overrides_a_value_and_adds_new_paths() -> None:
    """set() changes a value or creates a path, and the new path shows in its listing."""
    state, _ = make()
    state.set("instance-type", "t3.micro")
    state.set(MD + "extra/leaf", b"x")
    assert get(state, MD + "instance-type").body == b"t3.micro"
    assert get(state, MD + "extra/leaf").body == b"x"
    assert "extra/" in get(state, MD).body.decode().split("\n")


def test_delete_removes_a_leaf_or_a_folder_and_set_restores() -> None:
    """delete() makes a path 404 and drops it from listings; set() afterwards wins."""
    state, _ = make()
    state.delete("placement/")
    assert get(state, MD + "placement/region").status == 404
    assert get(state, MD + "placement/").status == 404
    assert "placement/" not in get(state, MD).body.decode().split("\n")
    state.delete(MD + "instance-id")
    assert get(state, MD + "instance-id").status == 404
    state.set("instance-id", "i-0new")
    assert get(state, MD + "instance-id").body == b"i-0new"


def test_user_tree_replaces_default_and_listings_are_derived() -> None:
    """A custom tree is all there is; listings come from its leaf paths (relative keys allowed)."""
    tree = {"instance-id": "i-abc", MD + "placement/region": "eu-west-1"}
    state, _ = make(tree=tree)
    assert get(state, MD).body == b"instance-id\nplacement/"
    assert get(state, MD + "placement/").body == b"region"
    assert get(state, MD + "ami-id").status == 404
    assert get(state, "/latest/").body == b"meta-data"


@pytest.mark.parametrize("document", ["[1, 2]", '"text"', "{not json", '{"accountId": 7}'])
def test_a_tree_may_hold_an_odd_identity_document(document: str) -> None:
    """A document that is not a JSON object with a string accountId is served as given (tests
    of clients need broken ones); the simulator falls back to its own account id."""
    doc_path = "/latest/dynamic/instance-identity/document"
    state, _ = make(tree={"instance-id": "i-abc", doc_path: document})
    assert get(state, doc_path).body == document.encode()
    assert get(state, MD + "instance-id").body == b"i-abc"


def test_explicit_listing_that_differs_is_kept_verbatim() -> None:
    """A listing given in the tree that the leaves do not imply is served as given."""
    tree = {MD + "public-keys/": "0=mine", MD + "public-keys/0/openssh-key": "ssh-ed25519 AAA"}
    state, _ = make(tree=tree)
    assert get(state, MD + "public-keys/").body == b"0=mine"


# ---------------------------------------------------------------- credentials


def creds_at(state: SimulatorState) -> dict[str, str]:
    reply = get(state, CREDS)
    assert reply.status == 200
    document: dict[str, str] = json.loads(reply.body)
    return document


def parse_iso(value: str) -> float:
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return moment.timestamp()


def test_default_credentials_are_generated_and_valid_for_hours() -> None:
    """The role's credentials carry botocore's keys, Code=Success and an Expiration 6 h ahead."""
    state, clock = make()
    assert get(state, MD + "iam/security-credentials/").body == b"baskinc-role"
    doc = creds_at(state)
    assert doc["Code"] == "Success"
    assert doc["Type"] == "AWS-HMAC"
    assert doc["AccessKeyId"].startswith("ASIA")
    assert doc["SecretAccessKey"]
    assert doc["Token"]
    assert parse_iso(doc["Expiration"]) == int(clock.time()) + 6 * 3600
    assert parse_iso(doc["LastUpdated"]) == int(clock.time())


def test_credentials_rotate_before_expiry() -> None:
    """The same keys are served until 15 min before expiry, then new ones (≥ 5 min early)."""
    state, clock = make()
    first = creds_at(state)
    clock.advance(6 * 3600 - 15 * 60 - 1)
    assert creds_at(state)["AccessKeyId"] == first["AccessKeyId"]
    clock.advance(2)
    second = creds_at(state)
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert second["Token"] != first["Token"]
    assert parse_iso(first["Expiration"]) - clock.time() >= 5 * 60
    assert parse_iso(second["Expiration"]) > parse_iso(first["Expiration"])


def test_rotate_credentials_forces_new_keys() -> None:
    """rotate_credentials() replaces the keys at once."""
    state, _ = make()
    first = creds_at(state)["AccessKeyId"]
    state.rotate_credentials()
    assert creds_at(state)["AccessKeyId"] != first


def test_credential_timing_knobs_validate() -> None:
    """A refresh margin under IMDS's 5-minute promise, or beyond the lifetime, is refused."""
    with pytest.raises(ValueError, match="refresh margin"):
        make(credential_refresh_margin=60)
    with pytest.raises(ValueError, match="refresh margin"):
        make(credential_lifetime=600, credential_refresh_margin=900)


def test_iam_info_matches_role_account_and_rotation() -> None:
    """iam/info names the role in the instance's account and shares LastUpdated with the keys."""
    state, _ = make()
    info = json.loads(get(state, MD + "iam/info").body)
    identity = json.loads(get(state, "/latest/dynamic/instance-identity/document").body)
    arn = f"arn:aws:iam::{identity['accountId']}:instance-profile/baskinc-role"
    assert info["Code"] == "Success"
    assert info["InstanceProfileArn"] == arn
    assert info["LastUpdated"] == creds_at(state)["LastUpdated"]


def test_no_instance_profile_means_iam_404() -> None:
    """iam_role=None: iam/ and everything below are 404, and meta-data/ does not list iam/."""
    state, _ = make(iam_role=None)
    assert get(state, MD + "iam/").status == 404
    assert get(state, MD + "iam/security-credentials/").status == 404
    assert "iam/" not in get(state, MD).body.decode().split("\n")


def test_iam_role_can_be_renamed_or_removed_at_runtime() -> None:
    """Changing iam_role changes the listed role; None removes it; bad names are refused."""
    state, _ = make()
    state.iam_role = "app-role"
    assert get(state, MD + "iam/security-credentials/").body == b"app-role"
    assert get(state, MD + "iam/security-credentials/app-role").status == 200
    assert get(state, CREDS).status == 404
    state.iam_role = None
    assert get(state, MD + "iam/info").status == 404
    with pytest.raises(ValueError, match="iam_role"):
        state.iam_role = "a/b"


def test_custom_tree_gets_generated_parts_only_on_request() -> None:
    """A custom tree has no role or events unless asked: iam_role= and event methods add them."""
    static = '{"Code": "Success", "AccessKeyId": "AKIASTATIC"}'
    state, _ = make(tree={MD + "iam/security-credentials/mine": static})
    assert get(state, MD + "iam/security-credentials/").body == b"mine"
    assert json.loads(get(state, MD + "iam/security-credentials/mine").body)["AccessKeyId"] == (
        "AKIASTATIC"
    )
    assert get(state, MD + "events/maintenance/scheduled").status == 404
    state.clear_scheduled_events()
    assert get(state, MD + "events/maintenance/scheduled").body == b"[]"
    generated, _ = make(tree={"instance-id": "i-abc"}, iam_role="app")
    assert get(generated, MD + "iam/security-credentials/").body == b"app"


# ---------------------------------------------------------------- notices and events


def test_default_instance_has_no_notices() -> None:
    """No spot notice (404), no rebalance (404), scheduled events is '[]'; spot/ is not listed."""
    state, _ = make()
    assert get(state, MD + "spot/instance-action").status == 404
    assert get(state, MD + "events/recommendations/rebalance").status == 404
    assert get(state, MD + "events/maintenance/scheduled").body == b"[]"
    assert "spot/" not in get(state, MD).body.decode().split("\n")


def test_spot_interruption_on_demand_and_cancel() -> None:
    """A termination notice shows in spot/instance-action and termination-time until cancelled."""
    state, clock = make()
    state.schedule_spot_interruption()
    doc = json.loads(get(state, MD + "spot/instance-action").body)
    assert doc["action"] == "terminate"
    assert parse_iso(doc["time"]) == int(clock.time()) + 120
    assert get(state, MD + "spot/termination-time").body.decode() == doc["time"]
    assert get(state, MD + "spot/").body == b"instance-action\ntermination-time"
    state.cancel_spot_interruption()
    assert get(state, MD + "spot/instance-action").status == 404


def test_spot_stop_has_no_termination_time() -> None:
    """A 'stop' notice carries its time in instance-action only."""
    state, _ = make()
    when = datetime(2026, 1, 21, 9, 0, tzinfo=timezone.utc)
    state.schedule_spot_interruption("stop", at=when)
    doc = json.loads(get(state, MD + "spot/instance-action").body)
    assert doc == {"action": "stop", "time": "2026-01-21T09:00:00Z"}
    assert get(state, MD + "spot/termination-time").status == 404


def test_rebalance_recommendation_on_demand() -> None:
    """recommend_rebalance() publishes noticeTime; clearing it brings back 404."""
    state, _ = make()
    state.recommend_rebalance(at=datetime(2026, 1, 21, 9, 0, tzinfo=timezone.utc))
    body = get(state, MD + "events/recommendations/rebalance").body
    assert json.loads(body) == {"noticeTime": "2026-01-21T09:00:00Z"}
    state.clear_rebalance_recommendation()
    assert get(state, MD + "events/recommendations/rebalance").status == 404


def test_scheduled_events_on_demand() -> None:
    """add_scheduled_event() adds an entry with every IMDS field and IMDS's time format."""
    state, _ = make()
    start = datetime(2026, 1, 21, 9, 0, tzinfo=timezone.utc)
    event_id = state.add_scheduled_event("instance-reboot", not_before=start)
    (event,) = json.loads(get(state, MD + "events/maintenance/scheduled").body)
    assert event == {
        "NotBefore": "21 Jan 2026 09:00:00 GMT",
        "Code": "instance-reboot",
        "Description": "The instance is scheduled for instance-reboot",
        "EventId": event_id,
        "NotAfter": "21 Jan 2026 11:00:00 GMT",
        "NotBeforeDeadline": "28 Jan 2026 09:00:00 GMT",
        "State": "active",
    }
    state.clear_scheduled_events()
    assert get(state, MD + "events/maintenance/scheduled").body == b"[]"


def test_tags_are_off_by_default_and_a_knob_away() -> None:
    """Tags are off by default (404, unlisted), as on real instances; tags_enabled=True serves."""
    state, _ = make(tags_enabled=True)
    assert get(state, MD + "tags/instance/Name").body == b"test-instance"
    assert get(state, MD + "tags/instance/").body == b"Name\nTest"
    state.tags_enabled = False
    assert get(state, MD + "tags/").status == 404
    assert get(state, MD + "tags/instance/").status == 404
    assert get(state, MD + "tags/instance/Name").status == 404
    assert "tags/" not in get(state, MD).body.decode().split("\n")
    default, _ = make()
    assert default.tags_enabled is False
    assert get(default, MD + "tags/instance/Name").status == 404


# ---------------------------------------------------------------- throttling


def test_throttle_rps_limits_each_one_second_window() -> None:
    """Above N requests within a second the answer is 429; a second later requests pass again."""
    state, clock = make(throttle_rps=3)
    statuses = [get(state, MD + "instance-id").status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    clock.advance(1.0)
    assert get(state, MD + "instance-id").status == 200


def test_throttle_status_and_retry_after_are_knobs() -> None:
    """throttle_status=503 and throttle_retry_after add the status and a Retry-After header."""
    state, _ = make(throttle_rps=1, throttle_status=503, throttle_retry_after=2)
    get(state, MD + "instance-id")
    reply = get(state, MD + "instance-id")
    assert reply.status == 503
    assert ("Retry-After", "2") in reply.headers


def test_throttle_next_throttles_exactly_n_requests() -> None:
    """throttle_next(n) throttles the next n requests, whatever they are, then stops."""
    state, _ = make()
    state.throttle_next(2, status=503, retry_after=1)
    first = state.handle("PUT", "/latest/api/token", {TTL: "60"})
    assert (first.status, ("Retry-After", "1") in first.headers) == (503, True)
    assert get(state, MD + "instance-id").status == 503
    assert get(state, MD + "instance-id").status == 200


def test_throttle_knobs_validate() -> None:
    """Zero requests per second and unknown throttle statuses are refused."""
    with pytest.raises(ValueError, match="throttle_rps"):
        make(throttle_rps=0)
    with pytest.raises(ValueError, match="throttle_status"):
        make(throttle_status=500)


# ---------------------------------------------------------------- faults


def test_injected_error_fails_the_next_request_only() -> None:
    """inject('error') answers 500 once; inject(status=502) answers 502."""
    state, _ = make()
    state.inject("error")
    assert get(state, MD + "instance-id").status == 500
    assert get(state, MD + "instance-id").status == 200
    state.inject("error", status=502, count=2)
    assert [get(state, MD).status for _ in range(3)] == [502, 502, 200]


@pytest.mark.parametrize("kind", ["reset", "hang"])
def test_reset_and_hang_are_actions_logged_without_status(kind: str) -> None:
    """reset/hang tell the shell to abort or hold the connection; the log has status None."""
    state, _ = make()
    state.inject(kind)  # type: ignore[arg-type]
    assert get(state, MD + "instance-id").action == kind
    assert state.requests[-1].status is None


def test_empty_fault_is_a_200_without_body() -> None:
    """inject('empty') answers 200 with an empty body."""
    state, _ = make()
    state.inject("empty")
    reply = get(state, CREDS)
    assert (reply.status, reply.body) == (200, b"")


def test_bad_json_applies_to_the_next_json_answer_only() -> None:
    """bad_json waits for a JSON body (skipping plain ones) and truncates it."""
    state, _ = make()
    state.inject("bad_json")
    assert get(state, MD + "instance-id").body == b"i-1234567890abcdef0"
    broken = get(state, CREDS)
    assert broken.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.body)
    json.loads(get(state, CREDS).body)


def test_credentials_error_sets_a_failure_code() -> None:
    """credentials_error serves a credentials document whose Code is not Success."""
    state, _ = make()
    state.inject("credentials_error", code="AssumeRoleUnauthorizedAccess")
    assert get(state, MD + "iam/info").status == 200  # not a credentials document: skipped
    doc = json.loads(get(state, CREDS).body)
    assert doc["Code"] == "AssumeRoleUnauthorizedAccess"
    assert "AccessKeyId" not in doc
    assert json.loads(get(state, CREDS).body)["Code"] == "Success"


def test_fault_path_filter() -> None:
    """A fault with a path hits only requests for that path (or subtree)."""
    state, _ = make()
    state.inject("error", path="iam/")
    assert get(state, MD + "instance-id").status == 200
    assert get(state, CREDS).status == 500


def test_fault_rate_is_reproducible_with_a_seed() -> None:
    """The same seed gives the same fault sequence; rate 0 turns faults off."""

    def run() -> list[str | int]:
        state, _ = make()
        state.fault_rate(0.5, kinds=["error", "reset"], seed=7)
        out: list[str | int] = []
        for _ in range(40):
            reply = get(state, MD + "instance-id")
            out.append(reply.action if reply.action != "send" else reply.status)
        return out

    first = run()
    assert first == run()
    assert {200, 500, "reset"} <= set(first)
    state, _ = make()
    state.fault_rate(1.0, kinds=["error"], seed=1)
    assert get(state, MD).status == 500
    state.fault_rate(0)
    assert get(state, MD).status == 200


def test_fault_arguments_validate() -> None:
    """Unknown kinds, zero counts and rates outside 0..1 are refused."""
    state, _ = make()
    with pytest.raises(ValueError, match="unknown fault kind"):
        state.inject("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        state.inject("error", count=0)
    with pytest.raises(ValueError, match="rate"):
        state.fault_rate(1.5)


def test_clear_faults_drops_everything_pending() -> None:
    """clear_faults() removes queued faults and forced throttling."""
    state, _ = make()
    state.inject("error", count=5)
    state.throttle_next(5)
    state.clear_faults()
    assert get(state, MD).status == 200


# ---------------------------------------------------------------- the request log


def test_request_log_records_method_path_headers_status_time() -> None:
    """Each request is logged with lower-cased headers, its status and the clock's wall time."""
    state, clock = make()
    state.handle("PUT", "/latest/api/token", {TTL: "60", "User-Agent": "t"})
    (record,) = state.requests
    assert record.method == "PUT"
    assert record.path == "/latest/api/token"
    assert record.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "60"
    assert record.headers["user-agent"] == "t"
    assert record.status == 200
    assert record.time == clock.time()


def test_count_filters_and_clear_requests() -> None:
    """count() filters by method, path (subtree with '/') and status; clear_requests() empties."""
    state, _ = make()
    token(state)
    get(state, MD + "instance-id")
    get(state, MD + "placement/region")
    get(state, MD + "nope")
    assert state.count() == 4
    assert state.count(method="PUT") == 1
    assert state.count(path="placement/") == 1
    assert state.count(path=MD + "instance-id") == 1
    assert state.count(status=404) == 1
    state.clear_requests()
    assert state.requests == []


def test_log_limit_keeps_the_newest_records() -> None:
    """With log_limit=N only the last N requests are kept."""
    state, _ = make(log_limit=2)
    for name in ("ami-id", "instance-id", "instance-type"):
        get(state, MD + name)
    assert [r.path for r in state.requests] == [MD + "instance-id", MD + "instance-type"]


# ---------------------------------------------------------------- httpx MockTransport adapter


def test_httpx_mock_transport_adapter() -> None:
    """handle_httpx serves through httpx.MockTransport; reset and hang become httpx errors."""
    state, _ = make(http_tokens="required")
    transport = httpx.MockTransport(state.handle_httpx)
    with httpx.Client(transport=transport, base_url="http://imds.test") as client:
        tok = client.put("/latest/api/token", headers={TTL: "60"}).text
        reply = client.get(MD + "instance-id", headers=with_token(tok))
        assert (reply.status_code, reply.text) == (200, "i-1234567890abcdef0")
        assert client.head(MD + "instance-id", headers=with_token(tok)).content == b""
        state.inject("reset")
        with pytest.raises(httpx.ReadError):
            client.get(MD + "instance-id")
        state.inject("hang")
        with pytest.raises(httpx.ReadTimeout):
            client.get(MD + "instance-id")


# ---------------------------------------------------------------- versions


def test_split_version_and_the_release_table() -> None:
    """Paths split into (version, rest); the most specific row of the table decides."""
    assert _versions.split_version("/2021-03-23/meta-data/x") == ("2021-03-23", "meta-data/x")
    assert _versions.split_version("/latest") == ("latest", "")
    assert _versions.released("meta-data/placement/region") == "2020-08-24"
    assert _versions.released("meta-data/placement/availability-zone") == "2008-02-01"
    mac = "meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/"
    assert _versions.released(mac + "ipv6s") == "2016-06-30"
    assert _versions.released(mac + "subnet-id") == "2011-01-01"
    assert _versions.released("meta-data/my-own-thing") is None
    assert _versions.available("meta-data/my-own-thing", "1.0")
    assert not _versions.available("meta-data/tags/instance/Name", "2020-10-27")
    assert _versions.available("meta-data/tags/instance/Name", "latest")


def test_every_default_leaf_exists_under_latest_and_the_table_covers_it() -> None:
    """Each leaf of the default tree has a release row, so old versions are accurate."""
    state, _ = make(tags_enabled=True)
    for key in state._leaves:
        rest = key[len("/latest/") :]
        assert _versions.released(rest) is not None, key
        assert get(state, key).status == 200, key


def test_a_custom_tree_serves_every_listed_version() -> None:
    """Without a '/' of its own, a tree gets the real version list; its own paths are in all."""
    state, _ = make(tree={"instance-id": "i-abc", "my-thing": "x"})
    assert get(state, "/").body.split(b"\n")[-1] == b"latest"
    assert get(state, "/1.0/meta-data/my-thing").body == b"x"
    assert get(state, "/2000-01-01/meta-data/my-thing").status == 404
    only_latest, _ = make(tree={"/": "latest", "instance-id": "i-abc"})
    assert get(only_latest, "/2021-03-23/meta-data/instance-id").status == 404
    assert get(only_latest, "/latest/meta-data/instance-id").body == b"i-abc"


def test_slashes_are_collapsed_before_routing() -> None:
    """'//' anywhere reads as '/', for GETs and for the token PUT."""
    state, _ = make()
    assert get(state, "/latest//meta-data///instance-id").body == b"i-1234567890abcdef0"
    assert state.handle("PUT", "/latest//api/token", {TTL: "60"}).status == 200


# ---------------------------------------------------------------- events history and knobs


def test_ending_events_validates() -> None:
    """Unknown ids, ending an event twice and unknown states are refused."""
    state, _ = make()
    event = state.add_scheduled_event()
    state.complete_scheduled_event(event)
    with pytest.raises(ValueError, match="already completed"):
        state.cancel_scheduled_event(event)
    with pytest.raises(ValueError, match="no scheduled event"):
        state.complete_scheduled_event("instance-event-nope")
    with pytest.raises(ValueError, match="state must be one of"):
        state.add_scheduled_event(state="pending")
    state.clear_scheduled_events()
    assert get(state, MD + "events/maintenance/history").body == b"[]"


def test_events_and_faults_can_be_set_at_construction() -> None:
    """spot_interruption, rebalance_recommendation, scheduled_events and fault_rate at start."""
    state, _ = make(
        spot_interruption="stop",
        rebalance_recommendation=True,
        scheduled_events=["system-reboot", {"code": "instance-stop", "state": "canceled"}],
        fault_rate=1.0,
        fault_kinds=["error"],
        fault_seed=3,
    )
    assert get(state, MD + "instance-id").status == 500
    state.fault_rate(0)
    assert json.loads(get(state, MD + "spot/instance-action").body)["action"] == "stop"
    assert get(state, MD + "events/recommendations/rebalance").status == 200
    (active,) = json.loads(get(state, MD + "events/maintenance/scheduled").body)
    (past,) = json.loads(get(state, MD + "events/maintenance/history").body)
    assert (active["Code"], past["Code"], past["State"]) == (
        "system-reboot",
        "instance-stop",
        "canceled",
    )


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("instance_life_cycle", "reserved"),
        ("placement_group", ""),
        ("placement_group", "a/b"),
        ("host_id", "two\nlines"),
        ("partition_number", 0),
        ("partition_number", 8),
        ("partition_number", True),
        ("autoscaling_lifecycle_state", "Running"),
        ("elastic_inference", 7),
    ],
)
def test_instance_knobs_validate(knob: str, value: object) -> None:
    """Values real IMDS could not serve are refused, at construction and as attributes."""
    with pytest.raises(ValueError, match=knob):
        make(**{knob: value})
    state, _ = make()
    with pytest.raises(ValueError, match=knob):
        setattr(state, knob, value)


def test_instance_knobs_are_listed_in_their_folders() -> None:
    """A knob's leaf shows in its folder's listing, and vanishes again when set back to None."""
    state, _ = make(autoscaling_lifecycle_state="Warmed:Stopped")
    assert "autoscaling/" in get(state, MD).body.decode().split("\n")
    assert get(state, MD + "autoscaling/").body == b"target-lifecycle-state"
    state.autoscaling_lifecycle_state = None
    assert get(state, MD + "autoscaling/").status == 404


def test_expired_credentials_stay_expired_as_time_passes() -> None:
    """credentials_expired: the same stale keys an hour later; both roles' documents are stale."""
    state, clock = make(credentials_expired=True)
    first = creds_at(state)
    assert parse_iso(first["Expiration"]) == int(clock.time()) - 3600
    clock.advance(3600)
    assert creds_at(state) == first
    identity = json.loads(
        get(state, MD + "identity-credentials/ec2/security-credentials/ec2-instance").body
    )
    assert parse_iso(identity["Expiration"]) < clock.time()


def test_identity_credentials_rotate_like_the_role() -> None:
    """rotate_credentials() renews the instance identity role's keys too."""
    state, _ = make()
    path = MD + "identity-credentials/ec2/security-credentials/ec2-instance"
    before = json.loads(get(state, path).body)["AccessKeyId"]
    state.rotate_credentials()
    assert json.loads(get(state, path).body)["AccessKeyId"] != before
