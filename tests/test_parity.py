"""IMDSClient and AsyncIMDSClient expose the same methods with the same signatures."""

from __future__ import annotations

import inspect

from imdsclient import AsyncIMDSClient, IMDSClient

#: Names that differ by design: the async twins of close and the context-manager protocol.
RENAMED = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}


_DUNDERS = set(RENAMED) | set(RENAMED.values())

#: Methods that return a stream: ``Iterator[X]`` on IMDSClient, ``AsyncIterator[X]`` (a plain
#: method returning an async generator, for ``async for``) on AsyncIMDSClient.
STREAMS = {"watch"}


def public_methods(cls: type) -> dict[str, object]:
    """Public methods defined by the class or the imdsclient classes it inherits from."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("imdsclient"):
            members.update(vars(klass))
    return {
        name: member
        for name, member in members.items()
        if callable(member) and (not name.startswith("_") or name in _DUNDERS)
    }


def test_the_comparison_sees_every_method() -> None:
    """The generated operations count: get, dump, the new placement methods, close, watch."""
    names = set(public_methods(IMDSClient))
    assert {"get", "dump", "placement_group_name", "close", "__enter__", "watch"} <= names


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
        if name in STREAMS:
            assert async_sig.return_annotation == "Async" + sync_sig.return_annotation, name
            assert sync_sig.return_annotation.startswith("Iterator["), name
            assert not inspect.iscoroutinefunction(twin), name
            continue
        if name not in ("__enter__",):
            assert sync_sig.return_annotation == async_sig.return_annotation, name
        assert inspect.iscoroutinefunction(twin), name


def test_same_constructor() -> None:
    """Both clients take the same configuration keywords."""
    assert inspect.signature(IMDSClient.__init__) == inspect.signature(AsyncIMDSClient.__init__)
