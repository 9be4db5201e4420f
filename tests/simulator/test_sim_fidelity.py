"""How the simulator matches real IMDS on the wire: one test per difference of issue #13.

Each test talks raw HTTP over a socket to a default simulator (the real-IMDS mode) and checks the
bytes and headers that come back, so what is asserted is what any client would see.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import NamedTuple

import pytest

from imdsclient.testing import FakeClock, IMDSSimulator

MD = "/latest/meta-data/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"


class Answer(NamedTuple):
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes
    closed: bool
    """The server closed the connection after the answer."""

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def _read_answer(conn: socket.socket, *, then_closed: bool = True) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a complete head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    length = int(next(v for k, v in headers if k.lower() == "content-length"))
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk
        body += chunk
    closed = then_closed and conn.recv(1) == b""  # a server that keeps it open fails by timeout
    return Answer(status_line, headers, body[:length], closed)


def exchange(sim: IMDSSimulator, method: str, path: str, *extra: str) -> Answer:
    """One request on a fresh connection; the answer, and whether the server then closed."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 169.254.169.254", *extra]
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return _read_answer(conn)


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator(clock=FakeClock(wall=1_767_225_600.0)) as simulator:
        yield simulator
        assert simulator.internal_errors == []


# 1. connections and headers ---------------------------------------------------------------------


def test_every_answer_closes_the_connection(sim: IMDSSimulator) -> None:
    """Default: 'Connection: close' on the PUT, a GET and a 404, and the socket is closed."""
    put = exchange(sim, "PUT", "/latest/api/token", f"{TTL}: 60")
    get = exchange(sim, "GET", MD + "instance-id")
    missing = exchange(sim, "GET", MD + "nope")
    for answer in (put, get, missing):
        assert answer.header("Connection") == "close"
        assert answer.closed
    assert sim.connections == 3


def test_a_second_request_on_the_connection_is_not_answered(sim: IMDSSimulator) -> None:
    """Two pipelined requests on one connection: one answer, then the close (like IMDS)."""
    one = b"GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(one * 2)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 1


def test_metadata_answers_carry_real_headers_in_real_order(sim: IMDSSimulator) -> None:
    """A 200 has Content-Type, Accept-Ranges: none, Last-Modified, Content-Length, Date, Server."""
    answer = exchange(sim, "GET", MD + "instance-id")
    assert answer.status_line == "HTTP/1.1 200 OK"
    assert [k for k, _ in answer.headers] == [
        "Content-Type",
        "Accept-Ranges",
        "Last-Modified",
        "Content-Length",
        "Date",
        "Server",
        "Connection",
    ]
    assert answer.header("Accept-Ranges") == "none"
    assert answer.header("Last-Modified") == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert answer.header("Server") == "EC2ws"
    token = exchange(sim, "PUT", "/latest/api/token", f"{TTL}: 60")
    assert token.header("Accept-Ranges") is None  # the token answer has none of these
    assert exchange(sim, "GET", MD + "nope").header("Last-Modified") is None


def test_keep_alive_is_one_knob_away(sim: IMDSSimulator) -> None:
    """keep_alive=True: 'Connection: keep-alive' and the same connection serves the next request."""
    sim.keep_alive = True
    request = b"GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(request)
        first = _read_answer(conn, then_closed=False)
        conn.sendall(request)
        second = _read_answer(conn, then_closed=False)
    assert first.header("Connection") == "keep-alive"
    assert second.body == b"ami-0a887e401f7654935"
    assert sim.connections == 1


def test_http10_status_lines_are_a_knob(sim: IMDSSimulator) -> None:
    """http_version='1.0' answers 'HTTP/1.0 200 OK' (as some captures show) and closes."""
    sim.http_version = "1.0"
    sim.keep_alive = True  # no effect: HTTP/1.0 answers always close
    answer = exchange(sim, "GET", MD + "instance-id")
    assert answer.status_line == "HTTP/1.0 200 OK"
    assert answer.closed


# 2. tags ------------------------------------------------------------------------------------------


def test_tags_are_404_by_default(sim: IMDSSimulator) -> None:
    """InstanceMetadataTags=disabled: tags/ is 404 and meta-data/ does not list it."""
    assert exchange(sim, "GET", MD + "tags/instance/Name").status == 404
    assert b"tags/" not in exchange(sim, "GET", MD).body.split(b"\n")
    sim.tags_enabled = True
    assert exchange(sim, "GET", MD + "tags/instance/Name").body == b"test-instance"


# 3. double slash --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/latest//meta-data/reservation-id", "//latest/meta-data//reservation-id"]
)
def test_a_double_slash_is_tolerated(sim: IMDSSimulator, path: str) -> None:
    """What amazon-ec2-utils' ec2-metadata sends answers 200, as on real IMDS."""
    answer = exchange(sim, "GET", path)
    assert (answer.status, answer.body) == (200, b"r-046cb3eca3e201d2f")
    assert sim.requests[-1].path == path  # logged as sent


# 4. scheduled events history ------------------------------------------------------------------


def test_completed_and_canceled_events_move_to_history(sim: IMDSSimulator) -> None:
    """An ended event leaves 'scheduled' and shows in 'history' with its state as a prefix."""
    start = datetime(2026, 1, 21, 9, 0, tzinfo=timezone.utc)
    done = sim.add_scheduled_event("system-reboot", not_before=start, description="reboot")
    dropped = sim.add_scheduled_event("instance-stop", not_before=start, description="stop")
    sim.add_scheduled_event("system-maintenance", not_before=start)
    sim.complete_scheduled_event(done)
    sim.cancel_scheduled_event(dropped)
    scheduled = json.loads(exchange(sim, "GET", MD + "events/maintenance/scheduled").body)
    history = json.loads(exchange(sim, "GET", MD + "events/maintenance/history").body)
    assert [e["Code"] for e in scheduled] == ["system-maintenance"]
    assert [(e["EventId"], e["State"], e["Description"]) for e in history] == [
        (done, "completed", "[Completed] reboot"),
        (dropped, "canceled", "[Canceled] stop"),
    ]
    assert exchange(sim, "GET", MD + "events/maintenance/").body == b"history\nscheduled"


def test_history_is_an_empty_list_by_default(sim: IMDSSimulator) -> None:
    """A default instance has no past events: history is '[]', like scheduled."""
    assert exchange(sim, "GET", MD + "events/maintenance/history").body == b"[]"


# 5. instance identity role ----------------------------------------------------------------------


def test_the_instance_identity_role_is_served(sim: IMDSSimulator) -> None:
    """identity-credentials/ec2/info and the ec2-instance credentials, as AWS documents them."""
    base = MD + "identity-credentials/ec2/"
    assert exchange(sim, "GET", base).body == b"info\nsecurity-credentials/"
    info = json.loads(exchange(sim, "GET", base + "info").body)
    assert info == {
        "Code": "Success",
        "LastUpdated": "2026-01-01T00:00:00Z",
        "AccountId": "515336597381",
    }
    assert exchange(sim, "GET", base + "security-credentials/").body == b"ec2-instance"
    creds = json.loads(exchange(sim, "GET", base + "security-credentials/ec2-instance").body)
    assert creds["Code"] == "Success"
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["Expiration"] == "2026-01-01T06:00:00Z"
    role = json.loads(exchange(sim, "GET", MD + "iam/security-credentials/baskinc-role").body)
    assert role["AccessKeyId"] != creds["AccessKeyId"]


def test_the_identity_role_can_be_switched_off(sim: IMDSSimulator) -> None:
    """identity_credentials=False: identity-credentials/ is 404 and not listed."""
    sim.identity_credentials = False
    assert exchange(sim, "GET", MD + "identity-credentials/").status == 404
    assert b"identity-credentials/" not in exchange(sim, "GET", MD).body.split(b"\n")


# 6. versions ------------------------------------------------------------------------------------


def test_root_lists_the_versions_real_imds_lists(sim: IMDSSimulator) -> None:
    """'/' lists 1.0, the dated versions and latest."""
    versions = exchange(sim, "GET", "/").body.decode().split("\n")
    assert versions[0] == "1.0"
    assert versions[-1] == "latest"
    assert "2021-03-23" in versions


@pytest.mark.parametrize("version", ["1999-01-01", "2021-03-24", "v1", "api"])
def test_a_version_that_is_not_listed_is_404(sim: IMDSSimulator, version: str) -> None:
    """Any other first segment is 404, even for a path that exists under latest."""
    assert exchange(sim, "GET", f"/{version}/meta-data/instance-id").status == 404


def test_categories_appear_only_under_versions_that_have_them(sim: IMDSSimulator) -> None:
    """tags/ came with 2021-03-23, placement/region with 2020-08-24, dynamic/ with 2009-04-04."""
    sim.tags_enabled = True
    assert exchange(sim, "GET", "/2021-03-23/meta-data/tags/instance/Name").status == 200
    assert exchange(sim, "GET", "/2020-10-27/meta-data/tags/instance/Name").status == 404
    assert b"tags/" not in exchange(sim, "GET", "/2020-10-27/meta-data/").body.split(b"\n")
    assert exchange(sim, "GET", "/2020-10-27/meta-data/placement/region").body == b"us-east-1"
    assert exchange(sim, "GET", "/2019-10-01/meta-data/placement/").body == b"availability-zone"
    assert exchange(sim, "GET", "/2008-02-01/meta-data/instance-id").status == 200
    assert exchange(sim, "GET", "/1.0/").body == b"meta-data\nuser-data"
    assert exchange(sim, "GET", "/2009-04-04/").body == b"dynamic\nmeta-data\nuser-data"


def test_the_oldest_version_has_only_the_oldest_categories(sim: IMDSSimulator) -> None:
    """1.0's meta-data/ lists exactly the categories released with 1.0."""
    listing = exchange(sim, "GET", "/1.0/meta-data/").body.decode().split("\n")
    assert listing == [
        "ami-id",
        "ami-launch-index",
        "ami-manifest-path",
        "hostname",
        "instance-id",
        "local-ipv4",
        "public-keys/",
        "reservation-id",
        "security-groups",
    ]


# 7. the default tree ----------------------------------------------------------------------------


def test_default_tree_has_profile_and_metrics(sim: IMDSSimulator) -> None:
    """profile is default-hvm and metrics/vhostmd is the empty XML document real instances serve."""
    assert exchange(sim, "GET", MD + "profile").body == b"default-hvm"
    assert exchange(sim, "GET", MD + "metrics/").body == b"vhostmd"
    vhostmd = exchange(sim, "GET", MD + "metrics/vhostmd").body
    assert vhostmd == b'<?xml version="1.0" encoding="UTF-8"?>'
    assert exchange(sim, "GET", MD + "instance-life-cycle").body == b"on-demand"


@pytest.mark.parametrize(
    "path",
    [
        "autoscaling/target-lifecycle-state",
        "placement/group-name",
        "placement/host-id",
        "placement/partition-number",
        "elastic-inference/",
    ],
)
def test_items_that_apply_only_sometimes_are_absent(sim: IMDSSimulator, path: str) -> None:
    """An ordinary on-demand instance has no ASG, placement group, host or accelerator."""
    assert exchange(sim, "GET", MD + path).status == 404
    folder = path.split("/", 1)[0] + ("/" if "/" in path else "")
    if folder in ("autoscaling/", "elastic-inference/"):
        assert folder.encode() not in exchange(sim, "GET", MD).body.split(b"\n")


def test_knobs_add_the_items_that_apply(sim: IMDSSimulator) -> None:
    """placement_group, partition_number, host_id, autoscaling state, accelerator, life cycle."""
    sim.placement_group = "my-pg"
    sim.partition_number = 3
    sim.host_id = "h-0123456789abcdef0"
    sim.autoscaling_lifecycle_state = "InService"
    sim.elastic_inference = "eia-0123"
    sim.instance_life_cycle = "spot"
    assert exchange(sim, "GET", MD + "placement/").body.split(b"\n") == [
        b"availability-zone",
        b"availability-zone-id",
        b"group-name",
        b"host-id",
        b"partition-number",
        b"region",
    ]
    assert exchange(sim, "GET", MD + "placement/group-name").body == b"my-pg"
    assert exchange(sim, "GET", MD + "placement/partition-number").body == b"3"
    assert exchange(sim, "GET", MD + "placement/host-id").body == b"h-0123456789abcdef0"
    state = exchange(sim, "GET", MD + "autoscaling/target-lifecycle-state")
    assert state.body == b"InService"
    association = exchange(sim, "GET", MD + "elastic-inference/associations/eia-0123")
    inner = json.loads(association.body)["version_2018_04_12"]
    assert inner["elastic-inference-accelerator-id"] == "eia-0123"
    assert exchange(sim, "GET", MD + "instance-life-cycle").body == b"spot"


# 8. protocol details ----------------------------------------------------------------------------


def test_x_forwarded_for_put_is_403_even_when_puts_are_dropped(sim: IMDSSimulator) -> None:
    """hop_limit_drop: a PUT that came through a proxy is refused at once, not left hanging."""
    sim.hop_limit_drop = True
    answer = exchange(sim, "PUT", "/latest/api/token", f"{TTL}: 60", "X-Forwarded-For: 10.0.0.9")
    assert answer.status == 403
    assert answer.closed


def test_legacy_405_names_the_allowed_methods(sim: IMDSSimulator) -> None:
    """legacy=405: the token PUT's 405 carries 'Allow: GET, HEAD'."""
    sim.legacy = 405
    answer = exchange(sim, "PUT", "/latest/api/token", f"{TTL}: 60")
    assert answer.status == 405
    assert answer.header("Allow") == "GET, HEAD"


def test_expired_credentials_are_a_knob(sim: IMDSSimulator) -> None:
    """credentials_expired=True: the same keys every time, Expiration an hour in the past."""
    path = MD + "iam/security-credentials/baskinc-role"
    fresh = json.loads(exchange(sim, "GET", path).body)
    sim.credentials_expired = True
    stale = json.loads(exchange(sim, "GET", path).body)
    assert stale["Expiration"] == "2025-12-31T23:00:00Z"
    assert stale["AccessKeyId"] != fresh["AccessKeyId"]
    assert json.loads(exchange(sim, "GET", path).body) == stale
    sim.credentials_expired = False
    renewed = json.loads(exchange(sim, "GET", path).body)
    assert renewed["Expiration"] == "2026-01-01T06:00:00Z"
