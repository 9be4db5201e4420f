"""Test helpers: a fake IMDS on a real socket, and a clock that sleeps instantly.

``IMDSSimulator`` behaves like the EC2 Instance Metadata Service (tokens, 401/403/404/405, legacy
and hop-limit modes, throttling, faults, rotating credentials, spot and maintenance events, a
closed connection after every answer), so the client and users' own code can be tested off EC2;
a ``Timeline`` plays an instance's lifecycle on its clock. The pytest plugin in ``plugin`` wraps
it in the ``imds_simulator`` fixture. See
``docs/testing.md``.
"""

from __future__ import annotations

from imdsclient._retry import instant_retries
from imdsclient.testing._fake_clock import FakeClock
from imdsclient.testing._serve import serve
from imdsclient.testing._server import IMDSSimulator
from imdsclient.testing._state import FaultKind, Reply, RequestRecord, SimulatorState
from imdsclient.testing._timeline import Timeline

__all__ = [
    "FakeClock",
    "FaultKind",
    "IMDSSimulator",
    "Reply",
    "RequestRecord",
    "SimulatorState",
    "Timeline",
    "instant_retries",
    "serve",
]
