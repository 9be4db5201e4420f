"""The lab's Python for an unprivileged UID: a venv made from /usr/bin/python3.

pyenv's interpreters live under /root, which UID 1000 cannot enter. The venv holds the runtime
and boto dependencies at the versions installed here and is cached in /tmp by those versions
(the first build takes about 20 s, from the package index); imdsclient itself is never
installed in it: every lab process runs this checkout's copy through ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

__all__ = ["unprivileged_python"]

SYSTEM_PYTHON = "/usr/bin/python3"


def _pins() -> list[str]:
    """The runtime and boto dependencies at the versions installed here."""
    return sorted(
        f"{name}=={version(name)}" for name in ("httpx", "tenacity", "pydantic", "botocore")
    )


def unprivileged_python() -> tuple[str | None, str]:
    """The venv's Python, building the venv if needed; or ``None`` and why not."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return None, f"no {SYSTEM_PYTHON} to build an unprivileged venv from"
    pins = _pins()
    which = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    key = hashlib.sha256("\n".join([which, *pins]).encode()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"imdslab-venv-{key}"
    if not (venv / "complete").exists():
        building = Path(tempfile.mkdtemp(prefix=f"imdslab-venv-{key}-"))
        shutil.rmtree(building)
        steps = ([SYSTEM_PYTHON, "-m", "venv", str(building)],
                 [str(building / "bin" / "pip"), "install", "-q", *pins])  # fmt: skip
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                shutil.rmtree(building, ignore_errors=True)
                return None, f"cannot build the unprivileged venv: {done.stderr[-500:]}"
        (building / "complete").write_text("\n".join(pins) + "\n")
        for path in [building, *building.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))
        with contextlib.suppress(OSError):
            building.rename(venv)  # another run may have finished first: then keep its venv
        shutil.rmtree(building, ignore_errors=True)
    return str(venv / "bin" / "python"), ""
