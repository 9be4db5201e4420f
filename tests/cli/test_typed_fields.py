"""Typed commands with FIELDs print values the `get` way; JSON keys follow one documented rule."""

from __future__ import annotations

import json
import re

import pytest

from imdsclient.errors import HINTS
from imdsclient.testing import IMDSSimulator
from tests.cli.conftest import Cli

SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def test_identity_fields_in_either_spelling_one_per_line(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`identity region accountId account_id`: three lines, in order, one GET of the document."""
    result = cli("--endpoint", imds_simulator.url, "identity", "region", "accountId", "account_id")
    assert (result.code, result.out) == (0, "us-east-1\n515336597381\n515336597381\n")
    assert imds_simulator.count(method="GET") == 1


def test_identity_fields_as_json_and_shell(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`--json` keys are the fields as typed; `--shell` names come from the snake_case name."""
    as_json = cli("--endpoint", imds_simulator.url, "identity", "--json", "accountId", "region")
    assert json.loads(as_json.out) == {"accountId": "515336597381", "region": "us-east-1"}
    shell = cli("--endpoint", imds_simulator.url, "identity", "--shell", "accountId", "region")
    assert shell.out == "ACCOUNT_ID='515336597381'\nREGION='us-east-1'\n"


def test_identity_shell_without_fields_prints_every_field_shown(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`identity --shell`: one assignment per field the text output shows (unset ones left out)."""
    text = cli("--endpoint", imds_simulator.url, "identity")
    shell = cli("--endpoint", imds_simulator.url, "identity", "--shell", "--prefix", "ID_")
    assert len(shell.out.splitlines()) == len(text.out.splitlines())
    assert "ID_INSTANCE_ID='i-1234567890abcdef0'" in shell.out.splitlines()


def test_an_unknown_field_is_exit_2_listing_the_fields(
    cli: Cli, imds_simulator: IMDSSimulator
) -> None:
    """`identity nope`: exit 2 naming the field and listing the real ones; stdout empty."""
    result = cli("--endpoint", imds_simulator.url, "identity", "nope")
    assert (result.code, result.out) == (2, "")
    assert "no field 'nope'" in result.err
    assert "account_id" in result.err


def test_iam_info_field(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`iam-info InstanceProfileArn` prints the ARN alone."""
    result = cli("--endpoint", imds_simulator.url, "iam-info", "InstanceProfileArn")
    assert result.code == 0
    assert result.out.startswith("arn:aws:iam::")
    assert result.out.count("\n") == 1


@pytest.mark.imds(iam_role=None)
def test_iam_info_without_a_role_says_it_once(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """No instance profile: exit 15, the attach hint, and no sentence said twice."""
    result = cli("--endpoint", imds_simulator.url, "iam-info")
    assert result.code == 15
    assert HINTS["no_role"] in result.err
    assert result.err.count("No IAM instance profile") == 1


@pytest.mark.imds(tags_enabled=True)
def test_tags_keys_print_their_values(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`tags Name` prints the value; a missing key is exit 15 with the tags hint."""
    imds_simulator.set("tags/instance/Team", "blue team")
    result = cli("--endpoint", imds_simulator.url, "tags", "Team", "Name")
    assert (result.code, result.out) == (0, "blue team\ntest-instance\n")
    missing = cli("--endpoint", imds_simulator.url, "tags", "Name", "Nope")
    assert (missing.code, missing.out) == (15, "")
    assert HINTS["no_tags"] in missing.err


@pytest.mark.imds(tags_enabled=True)
def test_tags_shell_prints_every_tag(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`tags --shell --prefix TAG_`: one assignment per tag."""
    imds_simulator.set("tags/instance/Team", "it's blue")
    result = cli("--endpoint", imds_simulator.url, "tags", "--shell", "--prefix", "TAG_")
    assert "TAG_TEAM='it'\\''s blue'" in result.out.splitlines()
    assert "TAG_NAME='test-instance'" in result.out.splitlines()


def test_user_data_missing_names_the_category_once(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """No user-data: exit 15, the user-data hint (how to set it), not the generic list."""
    imds_simulator.delete("/latest/user-data")
    result = cli("--endpoint", imds_simulator.url, "user-data")
    assert result.code == 15
    assert HINTS["no_user_data"] in result.err
    assert HINTS["not_found"] not in result.err


# -- one rule for JSON keys (docs/cli.md) ----------------------------------------------------


def test_documents_imds_serves_keep_imds_keys(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`identity --json` and `iam-info --json` have exactly the keys of the documents served."""
    for command, path in (
        ("identity", "/latest/dynamic/instance-identity/document"),
        ("iam-info", "/latest/meta-data/iam/info"),
    ):
        printed = json.loads(cli("--endpoint", imds_simulator.url, command, "--json").out)
        served = json.loads(imds_simulator.handle("GET", path, {}).body)
        assert list(printed) == list(served), command


def test_what_imdsclient_composes_is_snake_case(cli: Cli, imds_simulator: IMDSSimulator) -> None:
    """`doctor --json` and `events --json` records use snake_case keys throughout."""
    imds_simulator.add_scheduled_event("system-reboot")
    imds_simulator.schedule_spot_interruption()
    imds_simulator.recommend_rebalance()
    doctor = json.loads(cli("--endpoint", imds_simulator.url, "doctor", "--json").out)
    keys = set(doctor) | {key for check in doctor["checks"] for key in check}
    events = cli("--endpoint", imds_simulator.url, "events", "--json").out.splitlines()
    assert events
    keys |= {key for line in events for key in json.loads(line)}
    assert all(SNAKE.fullmatch(key) for key in keys), sorted(keys)
