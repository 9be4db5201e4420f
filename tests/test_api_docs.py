"""docs/api.md names every public client method and every model field, so it cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

import imdsclient
from imdsclient import IMDSClient
from tests.test_parity import public_methods

API_DOC = (Path(__file__).parent.parent / "docs" / "api.md").read_text("utf-8")
MODELS = [
    "IAMCredentials",
    "IAMInfo",
    "InstanceIdentityDocument",
    "NetworkInterface",
    "PublicKey",
    "RebalanceRecommendation",
    "ScheduledEvent",
    "SpotInstanceAction",
]


@pytest.mark.parametrize("name", sorted(n for n in public_methods(IMDSClient) if n[0] != "_"))
def test_every_method_is_documented(name: str) -> None:
    """Each public method of the clients appears as `name(` in docs/api.md."""
    assert f"`{name}(" in API_DOC


@pytest.mark.parametrize("model", MODELS)
def test_every_model_and_field_is_documented(model: str) -> None:
    """Each exported model has a section listing all of its fields."""
    cls = getattr(imdsclient, model)
    section = API_DOC.split(f"### `{model}`", 1)[1].split("\n### ", 1)[0]
    for field in cls.model_fields:
        assert f"| `{field}` |" in section, f"{model}.{field}"
