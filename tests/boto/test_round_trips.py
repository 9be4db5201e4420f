"""Round trips per credential retrieval: one GET once warm, against botocore's PUT + two GETs."""

from __future__ import annotations

from botocore.utils import InstanceMetadataFetcher as BotocoreFetcher

from imdsclient.testing import IMDSSimulator

from .conftest import CREDS, ROLE, MakeFetcher

N = 5


def test_ours_costs_one_get_per_retrieval_once_warm(
    sim: IMDSSimulator, make_fetcher: MakeFetcher
) -> None:
    """After the first retrieval, each one is exactly one GET of the role's document."""
    fetcher = make_fetcher(base_url=sim.url)
    fetcher.retrieve_iam_role_credentials()
    sim.clear_requests()
    for _ in range(N):
        fetcher.retrieve_iam_role_credentials()
    assert [(r.method, r.path) for r in sim.requests] == [("GET", CREDS + ROLE)] * N


def test_botocore_costs_three_round_trips_per_retrieval(sim: IMDSSimulator) -> None:
    """botocore's fetcher sends a PUT and two GETs every time, warm or not."""
    fetcher = BotocoreFetcher(timeout=2, base_url=sim.url, env={})
    fetcher.retrieve_iam_role_credentials()
    sim.clear_requests()
    for _ in range(N):
        fetcher.retrieve_iam_role_credentials()
    assert (sim.count("PUT"), sim.count("GET")) == (N, 2 * N)


def test_ours_is_at_most_half_of_botocores(sim: IMDSSimulator, make_fetcher: MakeFetcher) -> None:
    """Counted cold, over N retrievals ours sends at most half the requests botocore does."""
    ours = make_fetcher(base_url=sim.url)
    for _ in range(N):
        ours.retrieve_iam_role_credentials()
    our_requests = sim.count()
    sim.clear_requests()
    theirs = BotocoreFetcher(timeout=2, base_url=sim.url, env={})
    for _ in range(N):
        theirs.retrieve_iam_role_credentials()
    assert our_requests == 2 + N  # one PUT, one listing, then one GET each
    assert our_requests <= 0.5 * sim.count()
