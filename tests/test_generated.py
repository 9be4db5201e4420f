"""The clients' methods are generated from the operations; the committed file is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imdsclient
from imdsclient._api import operations

ROOT = Path(__file__).resolve().parent.parent


def test_generated_methods_are_current() -> None:
    """tools/generate_methods.py --check passes: nobody edited an operation without regenerating."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_methods.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_operation_is_a_method_of_both_clients() -> None:
    """Each marked flow is a public method of IMDSClient and AsyncIMDSClient, with its doc."""
    names = [name for _, name, _ in operations()]
    assert len(names) == len(set(names))
    for name in names:
        for cls in (imdsclient.IMDSClient, imdsclient.AsyncIMDSClient):
            method = getattr(cls, name)
            assert method.__doc__, f"{cls.__name__}.{name}"
