"""IMDSClient and AsyncIMDSClient expose the same methods with the same signatures."""

from __future__ import annotations

import inspect

from imdsclient import AsyncIMDSClient, IMDSClient

#: Names that differ by design: the async twins of close and the context-manager protocol.
RENAMED = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}


_DUNDERS = set(RENAMED) | set(RENAMED.values())


def public_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(cls).items()
        if callable(member) and (not name.startswith("_") or name in _DUNDERS)
    }


def test_same_public_methods() -> None:
    """Every sync method has an async twin and nothing extra."""
    sync = {RENAMED.get(name, name) for name in public_methods(IMDSClient)}
    assert sync == set(public_methods(AsyncIMDSClient))


def test_same_signatures_and_async_ones_are_awaitable() -> None:
    """Parameters and return annotations match; every async twin is a coroutine function."""
    async_methods = public_methods(AsyncIMDSClient)
    for name, method in public_methods(IMDSClient).items():
        twin = async_methods[RENAMED.get(name, name)]
        sync_sig, async_sig = inspect.signature(method), inspect.signature(twin)  # type: ignore[arg-type]
        assert list(sync_sig.parameters) == list(async_sig.parameters), name
        for p in sync_sig.parameters:
            assert sync_sig.parameters[p].annotation == async_sig.parameters[p].annotation, name
        if name not in ("__enter__",):
            assert sync_sig.return_annotation == async_sig.return_annotation, name
        assert inspect.iscoroutinefunction(twin), name


def test_same_constructor() -> None:
    """Both clients take the same configuration keywords."""
    assert inspect.signature(IMDSClient.__init__) == inspect.signature(AsyncIMDSClient.__init__)
