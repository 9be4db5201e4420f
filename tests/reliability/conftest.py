"""Fixtures shared by the reliability tests."""

from __future__ import annotations

from typing import Any

import pytest

from imdsclient._cli import _doctor


@pytest.fixture
def quiet_doctor(monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor never runs real iptables, nft, ethtool or ip here: every tool is 'missing'."""

    class Missing:
        def run(self, argv: Any) -> tuple[int, str, str]:
            return 127, "", "not installed"

    monkeypatch.setattr(_doctor, "default_runner", Missing)
