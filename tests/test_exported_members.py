"""The public surface: ``__all__`` is sorted, complete and importable; imports stay lazy."""

from __future__ import annotations

import subprocess
import sys

import imdsclient


def test_all_is_sorted_and_importable() -> None:
    """Every name in __all__ resolves, and __all__ is sorted."""
    assert imdsclient.__all__ == sorted(imdsclient.__all__)
    for name in imdsclient.__all__:
        assert getattr(imdsclient, name) is not None


def test_public_names_are_in_all() -> None:
    """No public attribute is missing from __all__."""
    public = {
        name
        for name, value in vars(imdsclient).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("imdsclient")
    }
    assert public <= set(imdsclient.__all__)


def test_import_is_lazy() -> None:
    """`import imdsclient` loads neither httpx, tenacity nor pydantic."""
    code = (
        "import sys, imdsclient; "
        "print(sorted(m for m in ('httpx', 'tenacity', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_client_does_not_import_pydantic() -> None:
    """Building a client and reading a value does not pay for pydantic."""
    code = (
        "import sys, imdsclient; imdsclient.IMDSClient(endpoint='http://127.0.0.1:9').close(); "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_verification_names_are_lazy() -> None:
    """`import imdsclient` and the verification names load neither cryptography nor asn1crypto."""
    code = (
        "import sys, imdsclient; imdsclient.verify_identity; imdsclient.VerifiedIdentity; "
        "print(sorted(m for m in ('cryptography', 'asn1crypto') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
