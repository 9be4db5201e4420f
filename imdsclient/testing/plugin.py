"""pytest plugin (entry point ``pytest11``): the ``imds_simulator`` fixture and the ``imds`` marker.

Loaded by every pytest run in an environment where imdsclient is installed, so it imports nothing
heavy at module level; the simulator is imported when a test first asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from imdsclient.testing import IMDSSimulator

__all__ = ["imds_simulator", "pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``imds`` marker, so ``--strict-markers`` suites accept it."""
    config.addinivalue_line(
        "markers",
        "imds(**knobs): keyword arguments for the IMDSSimulator behind the imds_simulator fixture",
    )


@pytest.fixture
def imds_simulator(request: pytest.FixtureRequest) -> Iterator[IMDSSimulator]:
    """A running ``IMDSSimulator`` for one test, stopped afterwards.

    Knobs come from ``@pytest.mark.imds(...)`` on the test, its class or its module; the marker
    closest to the test wins per keyword.
    """
    from imdsclient.testing import IMDSSimulator

    knobs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("imds"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.imds takes keyword arguments only")
        knobs.update(marker.kwargs)
    with IMDSSimulator(**knobs) as simulator:
        yield simulator
