"""doctor's report: a version line, and fix lines that never send you to doctor or say Fix twice."""

from __future__ import annotations

import re

import pytest

from imdsclient import __version__
from imdsclient._cli._doctor import Check, Report, as_fix
from imdsclient.errors import HINTS
from tests.cli.conftest import Cli

RUN_DOCTOR = "`python -m imdsclient doctor`"


def _report(*fixes: str) -> Report:
    return Report([Check(5, "token", "problem", "it failed", ["PUT: 403"], list(fixes))])


@pytest.mark.parametrize("key", sorted(HINTS))
def test_every_hint_as_a_fix_line_keeps_its_commands_but_not_run_doctor(key: str) -> None:
    """Each HINTS text as doctor's fix: no 'run doctor', no 'Fix:', every other command kept."""
    fix = as_fix(HINTS[key])
    assert RUN_DOCTOR not in fix
    assert "Fix:" not in fix
    assert fix.strip()
    commands = set(re.findall(r"`[^`]+`", HINTS[key])) - {RUN_DOCTOR}
    for command in commands:
        assert command in fix


@pytest.mark.parametrize(
    ("hint", "fix"),
    [
        ("Something broke. Check with `python -m imdsclient doctor`.", "Something broke."),
        ("Retry later; if it persists, run `python -m imdsclient doctor`.", "Retry later."),
        ("On EC2 raise X or run `python -m imdsclient doctor`.", "On EC2 raise X."),
        ("Dropped by the hop limit. Fix: `aws ec2 x --y 2`.", "`aws ec2 x --y 2`."),
        ("Use `imdsclient doctor --interface IFACE`", "Use `imdsclient doctor --interface IFACE`"),
    ],
)
def test_as_fix_drops_only_the_advice_to_run_doctor(hint: str, fix: str) -> None:
    """Sentences and clauses that send you to doctor go; doctor with options is a real fix."""
    assert as_fix(hint) == fix


def test_the_report_starts_with_the_version() -> None:
    """Text: the first line is `imdsclient X.Y.Z`; JSON: a "version" key."""
    report = _report(HINTS["hop_limit"])
    assert report.render().splitlines()[0] == f"imdsclient {__version__}"
    assert report.as_dict()["version"] == __version__


def test_a_hop_limit_fix_line_says_fix_once() -> None:
    """Check 5's hop-limit fix is `fix: <the command>`, not `fix: … Fix: …`, in text and JSON."""
    report = _report(HINTS["hop_limit"])
    line = next(line for line in report.render().splitlines() if "fix:" in line)
    assert line.lower().count("fix") == 1
    assert "--http-put-response-hop-limit 2" in line
    assert report.as_dict()["checks"][0]["fix"] == [as_fix(HINTS["hop_limit"])]


def test_doctor_against_a_dead_endpoint_never_tells_you_to_run_doctor(cli: Cli) -> None:
    """Check 4's connection fix, as printed by `doctor`, has no 'run doctor' in it."""
    result = cli("--endpoint", "http://127.0.0.1:9", "doctor")
    assert result.code == 1
    assert result.out.startswith(f"imdsclient {__version__}\n")
    assert "4. reachability" in result.out
    assert "imdsclient doctor`" not in result.out
