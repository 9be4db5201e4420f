"""Fixtures for the command-line tests: run ``main`` in-process, and never run real tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

import pytest

from imdsclient._cli import _doctor, main

MISSING = (127, "", "command not found")


@dataclass
class FakeRunner:
    """A ``CommandRunner`` answering from recorded outputs; anything unrecorded is "missing"."""

    outputs: dict[tuple[str, ...], tuple[int, str, str]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """Answer from ``outputs`` and record the call."""
        key = tuple(argv)
        self.calls.append(key)
        return self.outputs.get(key, MISSING)


@pytest.fixture(autouse=True)
def runner(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    """``doctor`` never runs real iptables, nft, ethtool or ip in tests: recorded outputs only."""
    fake = FakeRunner()
    monkeypatch.setattr(_doctor, "default_runner", lambda: fake)
    return fake


@dataclass(frozen=True)
class Outcome:
    """What one ``main([...])`` call did."""

    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``main(argv)`` and capture its exit code, stdout and stderr."""

    def run(*argv: str) -> Outcome:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
