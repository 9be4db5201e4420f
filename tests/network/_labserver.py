"""Lab only: the IMDS simulator on 169.254.169.254:80 inside the lab's "imds" namespace.

Started by ``_lab.Lab.imds()`` as ``ip netns exec <imds> python _labserver.py '<knobs JSON>'``;
never run it in the main namespace (it binds the real IMDS address). It prints ``ready <url>``
once it listens, then reads commands from stdin, one per line, answering each with one JSON line:

* ``set {"http_tokens": "required"}``: change knobs while serving (``IMDSSimulator`` attributes);
* ``call inject {"kind": "reset"}``: call a simulator method with keyword arguments;
* ``log``: the request log so far, ``[[method, path, status], ...]``;
* ``clear``: empty the request log.

It stops when stdin closes (the test ended, or died) or on SIGTERM, and never outlives
``MAX_LIFETIME`` seconds.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

from imdsclient.testing import IMDSSimulator

MAX_LIFETIME = 900.0


def _commands(simulator: IMDSSimulator, stop: threading.Event) -> None:
    for line in sys.stdin:
        verb, _, argument = line.strip().partition(" ")
        answer: Any = "ok"
        if verb == "set":
            for name, value in json.loads(argument).items():
                setattr(simulator, name, value)
        elif verb == "call":
            name, _, kwargs = argument.partition(" ")
            getattr(simulator, name)(**json.loads(kwargs or "{}"))
        elif verb == "log":
            answer = [[r.method, r.path, r.status, dict(r.headers)] for r in simulator.requests]
        elif verb == "clear":
            simulator.clear_requests()
        else:
            answer = f"unknown command {verb!r}"
        print(json.dumps(answer), flush=True)
    stop.set()


def main(argv: list[str]) -> int:
    knobs = json.loads(argv[1]) if len(argv) > 1 else {}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with IMDSSimulator(host="169.254.169.254", port=80, log_limit=20_000, **knobs) as simulator:
        print(f"ready {simulator.url}", flush=True)
        threading.Thread(target=_commands, args=(simulator, stop), daemon=True).start()
        stop.wait(MAX_LIFETIME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
