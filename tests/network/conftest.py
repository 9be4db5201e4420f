"""Fixtures of the network lab: one lab per session, a clean network per test, both users.

Every test here is marked ``network`` (select with ``-m network``, leave out with
``-m "not network"``) and skips with the reason when the lab cannot run: not root, not Linux,
``ip``/``nft``/``iptables`` missing, or no namespace, veth or nf_tables support.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.network._lab import UNPRIVILEGED, Lab, LabUnavailable, User, lab_unavailable_reason

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``network``."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.network)


@pytest.fixture(scope="session")
def built_lab() -> Iterator[Lab]:
    """The lab, built once per session and removed at its end (namespaces, processes, files)."""
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        lab = Lab()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def lab(built_lab: Lab) -> Iterator[Lab]:
    """The lab with no firewall rule anywhere, before and after the test."""
    built_lab.reset()
    yield built_lab
    built_lab.reset()


@pytest.fixture(params=["root", "uid 1000"])
def user(request: pytest.FixtureRequest, built_lab: Lab) -> User:
    """Run as root, and again as an unprivileged UID (``setpriv`` to 1000)."""
    if request.param == "root":
        return None
    if shutil.which("setpriv") is None:
        pytest.skip("`setpriv` is not installed (apt-get install util-linux)")
    if built_lab.user_python() is None:
        pytest.skip(built_lab.user_python_reason)
    return UNPRIVILEGED


@pytest.fixture
def unprivileged(built_lab: Lab) -> User:
    """UID 1000, for tests about what an unprivileged process meets."""
    if shutil.which("setpriv") is None:
        pytest.skip("`setpriv` is not installed (apt-get install util-linux)")
    if built_lab.user_python() is None:
        pytest.skip(built_lab.user_python_reason)
    return UNPRIVILEGED
