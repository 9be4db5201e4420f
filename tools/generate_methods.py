"""Write ``imdsclient/_methods.py``: the clients' public methods, one per marked operation.

Every flow marked with ``imdsclient._flow.operation`` in a module of ``imdsclient._api``
becomes a one-line method of ``SyncMethods`` (returning the value) and of ``AsyncMethods``
(awaitable), with the flow's parameters (less ``session``), return type and docstring.
``IMDSClient`` and ``AsyncIMDSClient`` inherit them, so an operation is written once.

    python tools/generate_methods.py          # rewrite the file
    python tools/generate_methods.py --check  # exit 1 if it is stale (the test suite runs this)
"""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "imdsclient" / "_methods.py"
#: Modules imported when the clients are: the hot path (``get``) must not import on each call.
EAGER = {"values"}

HEADER = '''"""The clients' public methods, generated from the operations in ``imdsclient._api``.

Do not edit: run ``python tools/generate_methods.py`` after changing an operation.
"""

from __future__ import annotations

import builtins
{abc}from typing import TYPE_CHECKING, Any, TypeVar

{eager}
if TYPE_CHECKING:
{lazy}
__all__ = ["AsyncMethods", "SyncMethods"]

T = TypeVar("T")
'''


def _operations() -> list[tuple[str, str, Callable[..., Any]]]:
    sys.path.insert(0, str(ROOT))
    from imdsclient._api import operations

    return operations()


def _qualified(module: str, flow: Callable[..., Any], annotation: str) -> str:
    """An annotation as the generated file must spell it: names the operation's module defines
    or exports become ``_module.Name``, and ``list[``/``dict[`` are builtin (the clients have a
    method called ``list``)."""
    owner = sys.modules[flow.__module__]
    exported = set(getattr(owner, "__all__", ()))

    def qualify(name: re.Match[str]) -> str:
        word = name.group(0)
        value = getattr(owner, word, None)
        defined_here = inspect.isclass(value) and value.__module__ == owner.__name__
        return f"_{module}.{word}" if defined_here or word in exported else word

    text = re.sub(r"\b[A-Za-z_]\w*\b", qualify, annotation)
    return re.sub(r"\b(list|dict)\[", r"builtins.\1[", text)


def _return_type(module: str, flow: Callable[..., Any]) -> str:
    """``Flow[X]`` → ``X``, qualified."""
    match = re.fullmatch(r"Flow\[(.*)\]", flow.__annotations__["return"])
    if match is None:
        raise SystemExit(f"{flow.__qualname__}: return annotation must be Flow[...]")
    return _qualified(module, flow, match.group(1))


def _method(module: str, name: str, flow: Callable[..., Any], *, is_async: bool) -> str:
    signature = inspect.signature(flow)
    params = list(signature.parameters.values())
    if not params or params[0].name != "session":
        raise SystemExit(f"{flow.__qualname__}: the first parameter must be session")
    declared, passed = ["self"], ["self._session"]
    star = False
    for param in params[1:]:
        if param.kind is param.KEYWORD_ONLY and not star:
            declared.append("*")
            star = True
        text = f"{param.name}: {_qualified(module, flow, str(param.annotation))}"
        if param.default is not param.empty:
            text += f" = {param.default!r}"
        declared.append(text)
        passed.append(f"{param.name}={param.name}" if star else param.name)
    doc = inspect.getdoc(flow) or ""
    doc_lines = doc.splitlines()
    body_doc = '"""' + "\n        ".join(doc_lines) + '"""' if doc_lines else '""""""'
    body_doc = body_doc.replace("\n        \n", "\n\n")
    call = f"_{module}.{flow.__name__}({', '.join(passed)})"
    emits = getattr(flow, "__imds_emits__", None)
    if emits is None:
        returns = _return_type(module, flow)
        body = f"return {'await ' if is_async else ''}self._run({call})"
    else:  # a stream: an iterator of what the flow emits (async iterator on the async client)
        returns = (
            f"{'AsyncIterator' if is_async else 'Iterator'}[{_qualified(module, flow, emits)}]"
        )
        body = f"return self._stream({call})"
    async_def = "async def" if is_async and emits is None else "def"
    lines = [
        f"    {async_def} {name}({', '.join(declared)}) -> {returns}:",
        f"        {body_doc}",
    ]
    if module not in EAGER:
        lines.append(f"        from imdsclient._api import {module} as _{module}")
        lines.append("")
    lines.append(f"        {body}")
    return "\n".join(lines)


def render() -> str:
    operations = _operations()
    modules = sorted({module for module, _, _ in operations})
    eager = "\n".join(f"from imdsclient._api import {m} as _{m}" for m in modules if m in EAGER)
    methods = [
        _method(module, name, flow, is_async=is_async)
        for is_async in (False, True)
        for module, name, flow in operations
    ]
    typed = {
        m for m in modules if m not in EAGER and any(f"_{m}." in t.splitlines()[0] for t in methods)
    }
    lazy_imports = [f"from imdsclient._api import {m} as _{m}" for m in sorted(typed)]
    lazy_imports += ["from imdsclient._flow import Flow", "from imdsclient._session import Session"]
    lazy = "".join(f"    {line}\n" for line in sorted(lazy_imports))
    names = ("AsyncIterator", "Callable", "Iterable", "Iterator")
    used = [n for n in names if any(f"{n}[" in m for m in methods) or n.endswith("Iterator")]
    abc = f"from collections.abc import {', '.join(used)}\n" if used else ""
    parts = [HEADER.format(abc=abc, eager=eager + "\n" if eager else "", lazy=lazy)]
    for is_async in (False, True):
        cls = "AsyncMethods" if is_async else "SyncMethods"
        kind = "awaitable " if is_async else ""
        parts.append(
            f"\n\nclass {cls}:\n"
            f'    """Every public operation as a {kind}method; the shell provides ``_run``."""\n\n'
            "    _session: Session\n\n"
            f"    {'async ' if is_async else ''}def _run(self, flow: Flow[T]) -> T:\n"
            "        raise NotImplementedError\n\n"
            "    def _stream(self, flow: Flow[None]) -> "
            f"{'AsyncIterator' if is_async else 'Iterator'}[Any]:\n"
            "        raise NotImplementedError\n"
        )
        per_class = len(operations)
        chosen = methods[per_class:] if is_async else methods[:per_class]
        parts += ["\n" + method + "\n" for method in chosen]
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = _formatted(render())
    if args.check:
        current = TARGET.read_text("utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python tools/generate_methods.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, "utf-8")
    return 0


def _formatted(text: str) -> str:
    """The code as ``ruff format`` leaves it (the project's formatter, a dev dependency)."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


if __name__ == "__main__":
    raise SystemExit(main())
