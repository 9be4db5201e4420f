"""`wait`: exit 0 once IMDS answers, the last error after the timeout; all on a FakeClock."""

from __future__ import annotations

from typing import Callable

import httpx
import pytest

from imdsclient._cli import _commands, build_parser
from imdsclient._cli._wait import INTERVAL, is_transient, wait_until_up
from imdsclient.errors import (
    BadRequestError,
    EndpointDisabledError,
    IMDSConnectionError,
    IMDSDisabledError,
    IMDSError,
    IMDSTimeoutError,
    MetadataNotFoundError,
    ThrottledError,
    UnauthorizedError,
)
from imdsclient.testing import FakeClock, IMDSSimulator, SimulatorState
from tests.cli.conftest import Cli


def _failing(times: int, error: IMDSError) -> tuple[list[int], Callable[[], None]]:
    calls: list[int] = []

    def probe() -> None:
        calls.append(1)
        if len(calls) <= times:
            raise error

    return calls, probe


def test_returns_at_the_first_answer_after_n_failed_probes(clock: FakeClock) -> None:
    """Refused 3 times, then up: 4 probes, 3 sleeps of the interval, nothing raised."""
    calls, probe = _failing(3, IMDSConnectionError("refused"))
    assert wait_until_up(probe, timeout=60, clock=clock) == 4
    assert len(calls) == 4
    assert clock.sleeps == [INTERVAL] * 3


def test_raises_the_last_error_after_about_the_timeout(clock: FakeClock) -> None:
    """Never up: the last failure is raised once `timeout` has passed on the clock, not before."""
    errors = iter([IMDSConnectionError(f"refused {i}") for i in range(100)])
    seen: list[IMDSError] = []

    def probe() -> None:
        seen.append(next(errors))
        raise seen[-1]

    with pytest.raises(IMDSConnectionError) as caught:
        wait_until_up(probe, timeout=2.0, clock=clock, interval=0.5)
    assert caught.value is seen[-1]
    assert sum(clock.sleeps) == pytest.approx(2.0)
    assert len(seen) == 5  # at 0, 0.5, 1.0, 1.5 and 2.0 s


def test_the_last_sleep_is_cut_to_the_deadline(clock: FakeClock) -> None:
    """A timeout that is not a multiple of the interval: the last sleep ends on the deadline."""
    _, probe = _failing(100, IMDSTimeoutError("slow"))
    with pytest.raises(IMDSTimeoutError):
        wait_until_up(probe, timeout=1.2, clock=clock, interval=0.5)
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.2])


def test_probes_are_bounded_whatever_the_clock_does() -> None:
    """A clock that never moves still ends the loop: at most timeout/interval + 2 probes."""

    class Frozen(FakeClock):
        def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)

    calls, probe = _failing(10_000, IMDSConnectionError("refused"))
    with pytest.raises(IMDSConnectionError):
        wait_until_up(probe, timeout=5.0, clock=Frozen(), interval=0.5)
    assert len(calls) == 12


@pytest.mark.parametrize(
    "error",
    [
        EndpointDisabledError("403", status=403),
        UnauthorizedError("401", status=401),
        BadRequestError("400", status=400),
        IMDSDisabledError("off"),
        IMDSError("a redirect", status=301),
    ],
)
def test_an_answer_waiting_cannot_change_ends_the_wait_at_once(
    clock: FakeClock, error: IMDSError
) -> None:
    """403, 401, 400, disabled by configuration, a redirect: raised on the first probe."""
    calls, probe = _failing(1, error)
    with pytest.raises(type(error)):
        wait_until_up(probe, timeout=60, clock=clock)
    assert (len(calls), clock.sleeps) == (1, [])


def test_a_404_means_imds_answered(clock: FakeClock) -> None:
    """MetadataNotFoundError from the probe: IMDS is up (a tree without instance-id)."""
    _, probe = _failing(1, MetadataNotFoundError("404", status=404))
    assert wait_until_up(probe, timeout=60, clock=clock) == 1


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (IMDSConnectionError("refused"), True),
        (IMDSTimeoutError("slow"), True),
        (ThrottledError("429", status=429), True),
        (IMDSError("503 after retries", status=500), True),
        (IMDSError("redirect", status=302), False),
        (EndpointDisabledError("403", status=403), False),
    ],
)
def test_is_transient(error: IMDSError, transient: bool) -> None:
    """Only what waiting can cure is transient."""
    assert is_transient(error) is transient


@pytest.mark.parametrize("refusals", [0, 1, 4])
def test_cmd_wait_against_an_in_process_imds_that_comes_up_late(
    clock: FakeClock, refusals: int
) -> None:
    """The real command: a transport refusing the first N requests, then the simulator: exit 0
    after N sleeps of the interval, and the global --timeout stays the per-attempt timeout."""
    state = SimulatorState(clock=clock)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if len(seen) <= refusals:
            raise httpx.ConnectError("connection refused", request=request)
        return state.handle_httpx(request)

    args = build_parser().parse_args(
        ["--endpoint", "http://imds.test", "--timeout", "0.5", "wait", "--timeout", "30"]
    )
    assert (args.timeout, args.wait_timeout) == (0.5, 30.0)
    code = _commands.cmd_wait(args, clock=clock, transport=httpx.MockTransport(handler))
    assert code == 0
    assert clock.sleeps == [INTERVAL] * refusals
    assert seen[refusals:] == ["/latest/api/token", "/latest/meta-data/instance-id"]


def test_wait_against_a_running_simulator_exits_0_silently(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """IMDS already up: exit 0, nothing on stdout or stderr, one PUT and one GET."""
    result = cli("--endpoint", imds_simulator.url, "wait")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert (imds_simulator.count(method="PUT"), imds_simulator.count(method="GET")) == (1, 1)


def test_wait_for_an_endpoint_disabled_exits_12_at_once(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """403 from the first probe: exit 12 and its one-line message, without waiting."""
    imds_simulator.endpoint_enabled = False
    result = cli("--endpoint", imds_simulator.url, "wait", "--timeout", "3600")
    assert result.code == 12
    assert len(result.err.splitlines()) == 1


def test_wait_timed_out_has_the_last_errors_code_and_message(cli: Cli) -> None:
    """Nothing listening and a deadline already past after one probe: exit 17, one line naming
    the endpoint (the suite's dead loopback port); no sleep happens."""
    result = cli("wait", "--timeout", "1e-9")
    assert (result.code, result.out) == (17, "")
    assert result.err.startswith("imdsclient: error: IMDS connection failed")
    assert "http://127.0.0.1:9" in result.err
    assert len(result.err.splitlines()) == 1
