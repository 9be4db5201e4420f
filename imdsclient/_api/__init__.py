"""Every public operation of the clients, one module per operation or small family.

Each module holds everything about its operations: the IMDS path, the parser, the model and
the flow, marked with :func:`imdsclient._flow.operation`.  The clients' methods are generated
from these marks (``tools/generate_methods.py`` writes ``imdsclient/_methods.py``; a test
fails when it is stale), so a new typed operation is one module here, its tests and a line in
``docs/api.md``.  Modules with a model import pydantic; the others stay light.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["operations"]


def operations() -> list[tuple[str, str, Callable[..., Any]]]:
    """(module name, method name, flow) of every marked operation, modules in name order.

    Imports every operation module (and so pydantic): for the generator and the tests, never
    for the clients at run time.
    """
    import importlib  # here: the clients import this package at every start-up
    import inspect
    import pkgutil

    from imdsclient._flow import METHOD_NAME

    found: list[tuple[str, str, Callable[..., Any]]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        flows = [
            value
            for value in vars(module).values()
            if inspect.isfunction(value)
            and value.__module__ == module.__name__
            and hasattr(value, METHOD_NAME)
        ]
        flows.sort(key=lambda f: f.__code__.co_firstlineno)
        found += [(info.name, getattr(f, METHOD_NAME), f) for f in flows]
    return found
