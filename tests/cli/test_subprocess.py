"""A few real processes: `python -m imdsclient`, the console script, `serve`, lean start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from imdsclient.testing import IMDSSimulator

#: Modules `get instance-id` must not load (docs/performance.md: lean start-up).
NOT_FOR_GET = (
    "pydantic",
    "tenacity",
    "imdsclient.testing",
    "imdsclient._cli._doctor",
    "imdsclient._models",
    "imdsclient._cli._shell",
    "imdsclient._cli._wait",
    "imdsclient._cli._serve_args",  # only `serve` defines its options (the parser is lazy)
    "imdsclient._redact",  # the log filter imports it at the first record; a quiet get has none
    "configparser",  # the config file is empty (AWS_CONFIG_FILE=/dev/null here)
    "shtab",
    # The sync client sends to an http:// endpoint over imdsclient._socket (#15).
    "httpcore",
    "h11",
    "anyio",
    "certifi",
    "ssl",
    "httpx",
    "imdsclient._core_pool",
)
#: Every imdsclient module `get instance-id` may load (#15: a new one on the path is a choice).
FOR_GET = {
    "imdsclient",
    "imdsclient.errors",
    "imdsclient._version",
    "imdsclient._cli",
    "imdsclient._cli._commands",
    "imdsclient._cli._exit_codes",
    "imdsclient._cli._help",
    "imdsclient._cli._values",
    "imdsclient._protocol",
    "imdsclient._clock",
    "imdsclient._config",
    "imdsclient._flow",
    "imdsclient._retry",
    "imdsclient._token",
    "imdsclient._session",
    "imdsclient._base",
    "imdsclient._methods",
    "imdsclient._api",
    "imdsclient._api._common",
    "imdsclient._api.values",
    "imdsclient._fetch",
    "imdsclient._transport",
    "imdsclient._socket",
    "imdsclient._client",
}
#: What `import imdsclient` must not load: each costs start-up, and none is needed to import.
NOT_FOR_IMPORT = (
    "argparse",
    "asyncio",
    "configparser",
    "dataclasses",
    "email",
    "http",
    "httpcore",
    "httpx",
    "json",
    "logging",
    "pydantic",
    "socket",
    "ssl",
    "tenacity",
    "threading",
    "urllib",
)


def _run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imdsclient", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_python_m_simulate_get_instance_id() -> None:
    """The README's command: `python -m imdsclient --simulate get instance-id`."""
    done = _run("--simulate", "get", "instance-id")
    assert (done.returncode, done.stdout, done.stderr) == (0, "i-1234567890abcdef0\n", "")


def test_error_exit_code_and_one_line_without_traceback() -> None:
    """Connection refused in a real process: exit 17, one line on stderr."""
    done = _run("--endpoint", "http://127.0.0.1:9", "get", "instance-id")
    assert done.returncode == 17
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_console_script() -> None:
    """The `imdsclient` console script (when installed next to this Python) is the same main."""
    script = Path(sys.executable).with_name("imdsclient")
    if not script.exists():
        pytest.skip("the console script is not installed in this environment")
    done = subprocess.run(
        [str(script), "--simulate", "get", "placement/region"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "us-east-1\n")


def _imported(*argv: str) -> set[str]:
    """The modules a fresh interpreter run with ``argv`` imports (``-X importtime``)."""
    env = {**os.environ, "AWS_CONFIG_FILE": os.devnull}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}


def _loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_get_does_not_import_pydantic_the_simulator_or_the_doctor() -> None:
    """`-X importtime` of `get instance-id` lists none of the heavy or unrelated modules, and
    of imdsclient's own only those of :data:`FOR_GET`."""
    with IMDSSimulator() as sim:
        modules = _imported("-m", "imdsclient", "--endpoint", sim.url, "get", "instance-id")
    assert "imdsclient._client" in modules
    for heavy in NOT_FOR_GET:
        assert not _loaded(modules, heavy), heavy
    ours = {m for m in modules if m.split(".")[0] == "imdsclient"} - {"imdsclient.__main__"}
    assert ours <= FOR_GET, sorted(ours - FOR_GET)


def test_import_imdsclient_loads_only_the_errors() -> None:
    """`import imdsclient` loads imdsclient's errors and nothing of :data:`NOT_FOR_IMPORT`; its
    other names load on first use."""
    modules = _imported("-c", "import imdsclient")
    assert {m for m in modules if m.split(".")[0] == "imdsclient"} == {
        "imdsclient",
        "imdsclient.errors",
    }
    for heavy in NOT_FOR_IMPORT:
        assert not _loaded(modules, heavy), heavy


def test_python_m_freezes_the_gc_and_still_runs_atexit() -> None:
    """`run()` (the console script, `python -m`) exits with main's code after `gc.freeze()`
    (the interpreter's shutdown then skips collecting), and atexit handlers still run."""
    code = (
        "import atexit, gc, sys\n"
        "from imdsclient._cli import run\n"
        "atexit.register(lambda: print('atexit', gc.get_freeze_count() > 0, flush=True))\n"
        "sys.argv = ['imdsclient', 'get', '']\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout) == (2, "atexit True\n"), done.stderr
    assert done.stderr.startswith("imdsclient: error: '' is the meta-data root")


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child is POSIX-only here")
def test_serve_prints_its_url_serves_and_stops_on_ctrl_c() -> None:
    """`serve --port 0 --http-tokens required`: URL on the first line, IMDS behaviour, exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "imdsclient", "serve", "--port", "0", "--http-tokens", "required"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
        with httpx.Client(base_url=url, trust_env=False) as http:
            assert http.get("/latest/meta-data/instance-id").status_code == 401
            token = http.put(
                "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
            ).text
            answer = http.get(
                "/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
            )
            assert answer.text == "i-1234567890abcdef0"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_serve_on_a_busy_port_exits_1_with_a_message() -> None:
    """The port is taken: one message and exit 1, no traceback."""
    with IMDSSimulator() as sim:
        done = _run("serve", "--port", str(sim.port))
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pipe")
def test_closed_stdout_exits_141_quietly() -> None:
    """stdout already closed by the reader (`| head`): exit 141, no BrokenPipeError noise."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "imdsclient", "--simulate", "dump"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
