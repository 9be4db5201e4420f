"""Bad paths are ``InvalidPathError`` (IMDSError and ValueError); 404 hints name the category."""

from __future__ import annotations

import re

import httpx
import pytest

from imdsclient import IMDSError, InvalidPathError, MetadataNotFoundError
from imdsclient.errors import HINTS, CredentialsError, not_found_hint
from imdsclient.testing import SimulatorState
from tests.conftest import MakeClient


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.:;])\s+", text) if s.strip()]


@pytest.mark.parametrize("path", ["../secret", "http://evil/x", "a//b", "a b", "x?y=1", "a\nb"])
def test_a_bad_path_is_an_invalid_path_error_and_nothing_is_sent(
    make_client: MakeClient, path: str
) -> None:
    """A path IMDS can never have: InvalidPathError (also IMDSError and ValueError), no request."""
    state = SimulatorState()
    imds = make_client(transport=httpx.MockTransport(state.handle_httpx))
    with pytest.raises(InvalidPathError) as caught:
        imds.get(path)
    assert isinstance(caught.value, IMDSError)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).endswith(HINTS["invalid_path"])
    assert state.requests == []


def test_a_role_that_is_not_a_role_name_is_an_invalid_path_error(make_client: MakeClient) -> None:
    """iam_credentials(role='../x') raises InvalidPathError before anything is sent."""
    state = SimulatorState()
    imds = make_client(transport=httpx.MockTransport(state.handle_httpx))
    with pytest.raises(InvalidPathError, match="not an IAM role name"):
        imds.iam_credentials(role="../x")
    assert state.requests == []


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/latest/user-data", "no_user_data"),
        ("/latest/meta-data/iam/info", "no_role"),
        ("/latest/meta-data/iam", "no_role"),
        ("/latest/meta-data/spot/instance-action", "no_spot_notice"),
        ("/latest/meta-data/events/recommendations/rebalance", "no_rebalance"),
        ("/latest/meta-data/tags/instance/Name", "no_tags"),
        ("/latest/meta-data/public-keys/0/openssh-key", "no_public_keys"),
        ("/latest/meta-data/no-such-thing", "not_found"),
        ("/latest/meta-data/iamx", "not_found"),
        ("/latest/user-data-x", "not_found"),
    ],
)
def test_not_found_hint_names_the_category(path: str, key: str) -> None:
    """A 404 under a known category (a whole segment) gets its own hint, else the generic one."""
    assert not_found_hint(path) == HINTS[key]


def test_the_generic_not_found_hint_no_longer_lists_every_category() -> None:
    """'nothing there' says so and how to list, without guessing at user-data, roles or tags."""
    for word in ("user-data", "IAM", "spot", "tags"):
        assert word not in HINTS["not_found"]


@pytest.mark.parametrize(
    ("setup", "call", "key"),
    [
        (
            lambda s: s.delete("/latest/user-data"),
            lambda c: c.get("/latest/user-data"),
            "no_user_data",
        ),
        (lambda s: None, lambda c: c.get("spot/instance-action"), "no_spot_notice"),
        (lambda s: setattr(s, "iam_role", None), lambda c: c.get("iam/info"), "no_role"),
        (lambda s: setattr(s, "iam_role", None), lambda c: c.iam_credentials(), "no_role"),
        (
            lambda s: setattr(s, "tags_enabled", False),
            lambda c: c.get("tags/instance/Name"),
            "no_tags",
        ),
    ],
)
def test_a_404_of_a_known_category_names_it_once(
    make_client: MakeClient, setup: object, call: object, key: str
) -> None:
    """The error's text carries the category's hint, and no sentence of it twice."""
    state = SimulatorState()
    setup(state)  # type: ignore[operator]
    imds = make_client(transport=httpx.MockTransport(state.handle_httpx))
    with pytest.raises((MetadataNotFoundError, CredentialsError)) as caught:
        call(imds)  # type: ignore[operator]
    text = str(caught.value)
    assert HINTS[key] in text
    sentences = _sentences(text)
    assert len(sentences) == len(set(sentences)), text
