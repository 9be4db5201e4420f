"""Running a piece of a test in a forked child, bounded in time (tests of fork safety)."""

from __future__ import annotations

import os
import select
import signal
import warnings
from typing import Callable

__all__ = ["in_child"]


def in_child(action: Callable[[], object], *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Fork; the child runs ``action()`` and exits (never returning into pytest), writing what
    the action returned, when it is ``bytes``, to a pipe.  Returns the child's exit code (0: the
    action returned; 1: it raised) and those bytes.  A child still running after ``timeout``
    seconds is killed (exit code -9)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about forking with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            os.close(read_end)
            value = action()
            if isinstance(value, bytes):
                os.write(write_end, value)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        # The pipe becomes readable with the child's answer, or at EOF when it exits.
        if not select.select([read_end], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), os.read(read_end, 65536)
    finally:
        os.close(read_end)
