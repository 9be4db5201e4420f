"""The client against the simulator's real-IMDS mode: a closed connection after every answer.

Real IMDS answers ``Connection: close``, so every request pays a new TCP connection. These tests
count connections in the simulator (``.connections``) next to the request log: a warm ``get``
costs exactly one new connection and one GET, the token is reused across connections, and
nothing in the client depends on a connection staying open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from imdsclient import IMDSClient
from imdsclient.testing import IMDSSimulator
from tests.conftest import MakeClient

TOKEN_HEADER = "x-aws-ec2-metadata-token"


@pytest.fixture
def sim() -> Iterator[IMDSSimulator]:
    with IMDSSimulator() as simulator:
        assert simulator.keep_alive is False  # the default is the real mode
        yield simulator
        assert simulator.internal_errors == []


def counts(sim: IMDSSimulator) -> tuple[int, int, int]:
    """(connections, PUTs, GETs) so far."""
    return sim.connections, sim.count("PUT"), sim.count("GET")


def test_a_warm_get_costs_one_connection_and_one_get(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """After the first call, each get opens exactly one new connection for exactly one GET."""
    client = make_client(endpoint=sim.url)
    client.get("instance-id")
    assert counts(sim) == (2, 1, 1)  # the token PUT and the first GET, each on its own
    for n in range(1, 6):
        assert client.get("placement/region") == "us-east-1"
        assert counts(sim) == (2 + n, 1, 1 + n)


def test_the_token_is_reused_across_connections(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """One PUT; every GET, each on a new connection, carries that one token."""
    client = make_client(endpoint=sim.url)
    for _ in range(5):
        client.get("instance-id")
    put, *gets = sim.requests
    assert put.method == "PUT"
    assert {r.headers[TOKEN_HEADER] for r in gets} == {gets[0].headers[TOKEN_HEADER]}
    assert sim.connections == len(sim.requests) == 6


def test_credentials_once_the_role_is_known_cost_one_connection(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """iam_credentials(): after the first call, one connection and one GET per call."""
    client = make_client(endpoint=sim.url)
    client.iam_credentials()
    before = counts(sim)
    client.iam_credentials()
    after = counts(sim)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 0, 1)


def test_crawls_and_listings_work_without_keep_alive(
    sim: IMDSSimulator, make_client: MakeClient
) -> None:
    """dump() and list() (concurrent requests in the async shell) need no persistent connection."""
    client = make_client(endpoint=sim.url)
    tree = client.dump()
    assert tree["placement"]["region"] == "us-east-1"
    assert "instance-id" in client.list("")
    assert sim.connections == len(sim.requests)
    assert all(r.status == 200 for r in sim.requests)


def test_threads_share_one_token_over_closed_connections(sim: IMDSSimulator) -> None:
    """8 threads x 20 gets through one client: one PUT, no error, a connection per request."""
    errors: list[BaseException] = []
    with IMDSClient(endpoint=sim.url) as client:

        def work() -> None:
            for _ in range(20):
                try:
                    client.get("instance-id")
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sim.count("PUT") == 1
    assert sim.count("GET") == 160
    assert sim.connections == 161


def test_keep_alive_mode_reuses_the_connection(make_client: MakeClient) -> None:
    """Against keep_alive=True the same calls share one connection: the knob really differs."""
    with IMDSSimulator(keep_alive=True) as sim:
        client = make_client(endpoint=sim.url)
        for _ in range(5):
            client.get("instance-id")
        assert sim.connections == 1
        assert sim.count("GET") == 5
