"""The command line against hostile servers: one message and the error's own exit code, never a
traceback, never exit 2 ("usage") for something the server did, and never a hang."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imdsclient._cli import main
from imdsclient._cli._exit_codes import USAGE, exit_code_for
from imdsclient.testing import IMDSSimulator
from tests.reliability._hostile import IDENTITY, SPOT, TOKEN, by_name, deep_json, respond, within
from tests.reliability._servers import Piece, RawServer, simple_answer

PACE = 0.03
TIMEOUT = "0.2"


@pytest.fixture(autouse=True)
def no_real_tools(quiet_doctor: None) -> None:
    """Every test here: doctor runs no real tool (the shared ``quiet_doctor``)."""


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in-process, under the liveness guard: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(argv))

    code = within(60, run)
    return code, out.getvalue(), err.getvalue()


def one_message(err: str) -> None:
    """stderr is one ``imdsclient: error:`` line, no traceback."""
    assert "Traceback" not in err
    assert err.startswith("imdsclient: error: ")
    assert err.count("\n") == 1


def test_a_70000_character_path_is_a_usage_error_with_one_message() -> None:
    """`get` with a 70,000-character path: exit 2 (a bad command line) and one short message."""
    with RawServer(respond(by_name("silent"), PACE)) as server:
        code, out, err = run_cli("get", "a" * 70_000, "--endpoint", server.url)
        assert server.requests == []
    assert code == USAGE
    assert out == ""
    one_message(err)
    assert "70000 characters long" in err
    assert len(err) < 400


ERRORS = [
    ("drip-head", "IMDSTimeoutError"),
    ("interim-102", "IMDSTimeoutError"),
    ("silent", "IMDSTimeoutError"),
    ("close-mid-body", "IMDSConnectionError"),
    ("garbage", "IMDSConnectionError"),
    ("huge-head", "IMDSConnectionError"),
    ("endless-body", "IMDSError"),
    ("huge-token", "IMDSError"),
    ("utf16-token", "IMDSError"),
]


@pytest.mark.parametrize(("name", "error"), ERRORS, ids=[name for name, _ in ERRORS])
def test_get_against_a_hostile_server_exits_with_the_errors_code(name: str, error: str) -> None:
    """`get instance-id`: the exit code of the error (17, 18, 10...), one message, bounded."""
    import imdsclient

    with RawServer(respond(by_name(name), PACE)) as server:
        code, out, err = run_cli(
            "get", "instance-id", "--endpoint", server.url, "--timeout", TIMEOUT
        )
    assert code == exit_code_for(getattr(imdsclient, error)("x"))
    assert code != USAGE
    assert out == ""
    one_message(err)


def test_get_through_a_dripped_token_answer_prints_the_value() -> None:
    """A dripped token PUT is cut off by the deadline; `get` falls back and prints the value."""
    with RawServer(respond(by_name("drip-put"), PACE)) as server:
        code, out, err = run_cli(
            "get", "instance-id", "--endpoint", server.url, "--timeout", TIMEOUT
        )
    assert (code, out, err) == (0, "i-0123456789abcdef0\n", "")


def _huge_entry(method: str, path: str) -> list[bytes]:
    if method == "PUT":
        return simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
    if path.endswith("/"):
        return simple_answer(200, b"Name\n" + b"k" * 70_000)
    return simple_answer(200, b"value")


@pytest.mark.parametrize("command", ["dump", "tags"])
def test_a_huge_listing_entry_is_an_imds_error_exit(command: str) -> None:
    """`dump` and `tags` with a 70,000-character listing entry: exit 10, one message."""
    with RawServer(_huge_entry) as server:
        code, out, err = run_cli(command, "--endpoint", server.url)
    assert code == 10
    assert out == ""
    one_message(err)
    assert "unusable entry" in err


DEEP = {
    "identity": ("/latest/dynamic/instance-identity/document", IDENTITY),
    "events": ("/latest/meta-data/spot/instance-action", SPOT),
}


@pytest.mark.parametrize("command", sorted(DEEP))
def test_absurdly_nested_json_is_an_imds_error_exit_not_usage(command: str) -> None:
    """`identity` and `events` with a valid document plus a 900-deep field: exit 10
    (IMDSError), not 2 with pydantic's message."""
    path, document = DEEP[command]
    with IMDSSimulator({path: deep_json(900, document)}) as sim:
        code, out, err = run_cli(command, "--json", "--endpoint", sim.url)
    assert code == 10
    assert out == ""
    one_message(err)
    assert "nested more than" in err


def _token(body: bytes) -> Callable[[str, str], list[bytes]]:
    def answer(method: str, path: str) -> list[bytes]:
        del path
        if method == "PUT":
            return simple_answer(200, body, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
        return simple_answer(401)

    return answer


@pytest.mark.parametrize(
    "body", ["AQAE-token".encode("utf-16"), "AQAE-tökén".encode()], ids=["utf-16", "non-ascii"]
)
def test_doctor_reports_an_unusable_token_as_a_problem(body: bytes) -> None:
    """A UTF-16 or non-ASCII token: doctor's token check is a problem (exit 1), not a crash."""
    with RawServer(_token(body)) as server:
        code, out, err = run_cli("doctor", "--endpoint", server.url, "--timeout", "5")
    assert code == 1
    assert err == ""
    token_line = next(line for line in out.splitlines() if "5. token" in line)
    assert token_line.startswith("[problem]")
    assert "unusable token" in token_line


DOCTOR = ["drip-head", "interim-102", "silent", "garbage", "huge-head", "drip-put", "huge-token"]


@pytest.mark.parametrize("name", DOCTOR)
def test_doctor_against_a_hostile_server_reports_and_ends(name: str) -> None:
    """doctor against each hostile behaviour: a report and exit 0 or 1, bounded by its checks'
    deadlines, never a traceback."""
    with RawServer(respond(by_name(name), PACE)) as server:
        code, out, err = run_cli("doctor", "--endpoint", server.url, "--timeout", TIMEOUT)
    assert code in (0, 1)
    assert err == ""
    assert "5. token" in out
    assert "6. get" in out


class _Slow:
    """Every GET answered after ``pause`` seconds; for the deadline of `doctor`'s own steps."""

    def __init__(self, pause: float) -> None:
        self.pause = pause

    def __call__(self, method: str, path: str) -> Iterator[Piece]:
        del path
        if method == "GET":
            yield self.pause
        yield from simple_answer(200, TOKEN if method == "PUT" else b"i-1")


def test_doctor_reports_an_answer_slower_than_the_timeout_as_no_answer() -> None:
    """A GET answered after twice the timeout: doctor says it got no answer in time."""
    with RawServer(_Slow(0.4)) as server:
        code, out, _ = run_cli("doctor", "--endpoint", server.url, "--timeout", TIMEOUT)
    assert code == 1
    assert "no answer within the timeout" in out


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.sampled_from(
            ["2030-01-01T00:00:00Z", "21 Jan 2026 09:00:00 GMT", "9999-12-31T23:59:59-01:00"]
        ),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = {
    "identity": [
        "accountId",
        "availabilityZone",
        "imageId",
        "instanceId",
        "instanceType",
        "region",
        "pendingTime",
    ],
    "events": ["action", "time", "NotBefore", "NotAfter", "Code", "State", "EventId"],
    "iam-info": ["Code", "LastUpdated", "InstanceProfileArn", "InstanceProfileId"],
    "credential-process": ["Code", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"],
}
PATHS = {
    "identity": ["/latest/dynamic/instance-identity/document"],
    "events": [
        "/latest/meta-data/spot/instance-action",
        "/latest/meta-data/events/recommendations/rebalance",
        "/latest/meta-data/events/maintenance/scheduled",
    ],
    "iam-info": ["/latest/meta-data/iam/info"],
    "credential-process": ["/latest/meta-data/iam/security-credentials/r"],
}


@settings(max_examples=80, deadline=None)
@given(
    command=st.sampled_from(sorted(FIELDS)),
    data=st.data(),
    as_json=st.booleans(),
)
def test_no_document_makes_a_typed_command_exit_with_usage(
    command: str, data: st.DataObject, as_json: bool
) -> None:
    """identity, events, iam-info and credential-process fed generated documents (known fields
    with odd values, unknown ones, other JSON types): never exit 2, never a traceback."""
    fields = data.draw(st.dictionaries(st.sampled_from(FIELDS[command]), json_values, max_size=7))
    document = data.draw(
        st.one_of(st.just(fields), json_values, st.lists(st.just(fields), max_size=2))
    )
    body = json.dumps(document).encode()

    def answer(method: str, path: str) -> list[bytes]:
        if method == "PUT":
            return simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
        if path == "/latest/meta-data/iam/security-credentials/":
            return simple_answer(200, b"r")
        return simple_answer(200, body) if path in PATHS[command] else simple_answer(404)

    argv = [command, *(["--json"] if as_json and command != "credential-process" else [])]
    with RawServer(answer) as server:
        code, _, err = run_cli(*argv, "--endpoint", server.url)
    assert code != USAGE, err
    assert code in (0, 10, 15, 19), (code, err)
    assert "Traceback" not in err
