"""Every script in ``examples/`` runs unchanged against the simulator, so the docs cannot drift.

Scripts run as subprocesses with ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` pointing at an
``IMDSSimulator`` on 127.0.0.1, exactly as a reader would run them against
``python -m imdsclient serve``. ``test_*.py`` modules there are pytest modules and run under
pytest. New scripts are picked up automatically: one without an entry in ``EXPECTED`` must exit 0
and make at least one request to the simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import imdsclient
from imdsclient.testing import IMDSSimulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("test_"))
TEST_MODULES = sorted(p.name for p in EXAMPLES.glob("test_*.py"))

INSTANCE_ID = "i-1234567890abcdef0"  # the simulator's default instance
DEAD_PROXY = "http://127.0.0.1:9"

#: Script → text its stdout must contain when run against the default simulator.
EXPECTED: dict[str, list[str]] = {
    "get_instance_id.py": [INSTANCE_ID],
    "async_gather.py": [INSTANCE_ID, "m4.xlarge", "us-east-1a", "172.16.34.43"],
    "credentials.py": [
        "role:              baskinc-role",
        "secret access key: **********",
        "session token:     **********",
    ],
    "handling_errors.py": [
        f"instance id: {INSTANCE_ID}",
        "spot interruption: none (404: nothing there)",
        "with disabled=True: IMDS is switched off by configuration",
        "unreachable endpoint: IMDSConnectionError after",
        "bad setting: Invalid timeout -1 (from argument)",
    ],
    "retry_hooks.py": [f"instance-id: {INSTANCE_ID}", "retries: 2 (HTTP 429: 2); throttled: 2"],
    "boto_dropin.py": ["credentials from: iam-role (imdsclient.boto)", "(same key: True)"],
    "aiobotocore_dropin.py": [
        "credentials from: iam-role (imdsclient.aiobotocore)",
        "(same key: True)",
    ],
    "drain_on_interruption.py": ["interruption: spot-interruption, deadline ", "drained: "],
}

#: Script → what to do to the simulator before it runs.
PREPARE: dict[str, Callable[[IMDSSimulator], None]] = {
    "retry_hooks.py": lambda sim: sim.throttle_next(2),
    "drain_on_interruption.py": lambda sim: sim.schedule_spot_interruption(),
}


def leave_as_is(sim: IMDSSimulator) -> None:
    """The default preparation: the simulator's default instance, no faults."""


def example_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """A minimal environment: no AWS settings, proxies or home files of the developer's."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint,
        "PYTHONDONTWRITEBYTECODE": "1",
        # imdsclient ignores proxies; anything else that honours them (botocore calling an AWS
        # API, say) hits a dead loopback port instead of leaving this machine.
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if "SYSTEMROOT" in os.environ:  # Windows needs it to start Python
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    return env


@dataclass
class Run:
    """One example's subprocess, the simulator it ran against, and what came out."""

    process: subprocess.Popen[str]
    simulator: IMDSSimulator | None
    returncode: int = -1
    stdout: str = ""
    stderr: str = ""
    requests: int = 0
    secrets: tuple[str, ...] = ()

    def finish(self) -> None:
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.stdout, self.stderr = self.process.communicate()
        self.returncode = self.process.returncode
        sim = self.simulator
        if sim is not None:
            self.requests = sim.count()
            with imdsclient.IMDSClient(endpoint=sim.url) as imds:
                credentials = imds.iam_credentials()
            self.secrets = tuple(
                secret.get_secret_value()
                for secret in (credentials.secret_access_key, credentials.token)
            )
            sim.stop()

    def report(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def start(args: list[str], env: dict[str, str], simulator: IMDSSimulator | None) -> Run:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Run(process, simulator)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every example, started at once (each with its own simulator), then waited for."""
    started: dict[str, Run] = {}
    try:
        for script in SCRIPTS:
            sim = IMDSSimulator().start()
            PREPARE.get(script, leave_as_is)(sim)
            env = example_env(tmp_path_factory.mktemp("home"), sim.url)
            started[script] = start([str(EXAMPLES / script)], env, sim)
        for module in TEST_MODULES:
            # The module starts its own simulators; the endpoint here is a dead loopback port.
            # The hypothesis plugin (dev extra) is not needed there and doubles pytest's start-up.
            env = example_env(tmp_path_factory.mktemp("home"), "http://127.0.0.1:9")
            args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
            started[module] = start([*args, f"examples/{module}"], env, None)
    finally:
        for run in started.values():
            run.finish()
    return started


def test_the_examples_are_there() -> None:
    """The scripts the docs include exist, so a rename cannot silently skip them."""
    assert set(EXPECTED) <= set(SCRIPTS)
    assert "test_with_simulator.py" in TEST_MODULES


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_script_runs_against_the_simulator(script: str, runs: dict[str, Run]) -> None:
    """The script exits 0, prints what it promises, and really talked to the endpoint."""
    run = runs[script]
    assert run.returncode == 0, run.report()
    assert run.requests > 0, run.report()
    for text in EXPECTED.get(script, []):
        assert text in run.stdout, run.report()
    for secret in run.secrets:  # no example ever prints a secret
        assert secret not in run.stdout + run.stderr, run.report()


@pytest.mark.parametrize("module", TEST_MODULES)
def test_example_test_module_passes_under_pytest(module: str, runs: dict[str, Run]) -> None:
    """``pytest examples/test_*.py`` passes, with the plugin's fixture and markers."""
    run = runs[module]
    assert run.returncode == 0, run.report()
    assert " passed" in run.stdout, run.report()
    assert "failed" not in run.stdout, run.report()
