"""Effects and the driver that runs flows: the only vocabulary between the core and the shells.

A *flow* is a generator that makes every decision and yields an *effect* whenever it needs the
outside world: send one request, sleep, run a flow under the token lock, run flows side by side,
call the caller's hook.
A flow that produces a stream of values (``watch``) also yields :class:`Emit`, which the shells'
``_stream`` drivers hand to their caller.  The sync and async clients carry effects out and
nothing else, so the logic exists once and a test can drive any flow with scripted answers
(``tests/unit``).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar, Union

from imdsclient._protocol import Request

__all__ = [
    "Abandoned",
    "Effect",
    "Emit",
    "Fanout",
    "Flow",
    "Gather",
    "Hook",
    "Locked",
    "Run",
    "Send",
    "Sleep",
    "drive",
    "gather",
    "interruptible",
    "locked",
    "operation",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`operation` sets: the name of the client method generated for a flow.
METHOD_NAME = "__imds_method__"
#: The attribute :func:`operation` sets for a streaming flow: the type of what it emits.
EMITS = "__imds_emits__"


def operation(name: str | None = None, *, emits: str | None = None) -> Callable[[F], F]:
    """Mark a flow ``f(session, ...)`` as a public client operation named ``name`` (default:
    the function's own name); ``tools/generate_methods.py`` turns each mark into a method of
    both clients, with the flow's signature (less ``session``) and docstring.  A flow that
    yields :class:`Emit` values names their type in ``emits``: its methods return an iterator
    (an async one on the async client) of them."""

    def mark(flow: F) -> F:
        setattr(flow, METHOD_NAME, name or flow.__name__)
        setattr(flow, EMITS, emits)
        return flow

    return mark


@dataclass(frozen=True)
class Send:
    """Send this request once; the :data:`~imdsclient._protocol.Result` comes back."""

    request: Request


@dataclass(frozen=True)
class Sleep:
    """Wait this many seconds (the client's clock: a ``FakeClock`` in tests)."""

    seconds: float


@dataclass(frozen=True)
class Locked:
    """Run this flow holding the client's token lock (single flight), and return its result."""

    flow: Flow[Any]


@dataclass(frozen=True)
class Gather:
    """Run these flows (concurrently where the shell can) and return their results in order."""

    flows: Sequence[Flow[Any]]


@dataclass(frozen=True)
class Hook:
    """Call the caller's hook (``on_retry``) with this value, where the caller's code runs: the
    calling thread, or the event loop of an async client (even for a flow run on one of its
    gathering threads); ``None`` comes back, and what the hook raises is raised in the flow."""

    function: Callable[[Any], None]
    value: Any


@dataclass(frozen=True)
class Emit:
    """Hand this value to whoever iterates the stream (``watch``); ``None`` comes back.

    Only a flow run by a shell's ``_stream`` driver may yield it, and only at its top level.
    """

    value: Any


Effect = Union[Send, Sleep, Locked, Gather, Hook, Emit]
Flow = Generator[Effect, Any, T]


def gather(flows: Sequence[Flow[T]]) -> Flow[list[T]]:
    """Typed wrapper around :class:`Gather`: the flows' results, in order."""
    results: list[T] = yield Gather(flows)
    return results


def locked(flow: Flow[T]) -> Flow[T]:
    """Typed wrapper around :class:`Locked`."""
    result: T = yield Locked(flow)
    return result


class Run(Generic[T]):
    """Steps one flow: ``effect()`` gives the next effect (``None`` once done, see ``result``);
    ``answer()`` or ``fail()`` hands back what carrying it out gave.

    The shells' interpreters are a loop over this, so the stepping logic exists once.
    """

    __slots__ = ("_error", "_flow", "_value", "result")

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self._value: Any = None
        self._error: BaseException | None = None
        self.result: T

    def effect(self) -> Effect | None:
        """The next effect to carry out, or ``None`` when the flow has returned."""
        error, self._error = self._error, None
        try:
            return self._flow.throw(error) if error is not None else self._flow.send(self._value)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def answer(self, value: Any) -> None:
        """The effect's result, sent into the flow at the next :meth:`effect`."""
        self._value = value

    def fail(self, error: BaseException) -> None:
        """The effect failed: raised inside the flow at the next :meth:`effect`."""
        self._value, self._error = None, error


def drive(flow: Flow[T], carry_out: Callable[[Effect], Any]) -> T:
    """Run ``flow`` to its end on this thread: each effect carried out by ``carry_out``, its
    result (or its error, which the flow may handle) handed back."""
    run = Run(flow)
    while (effect := run.effect()) is not None:
        try:
            run.answer(carry_out(effect))
        except Exception as exc:  # handed to the flow, which may handle it
            run.fail(exc)
    return run.result


class Fanout:
    """The flows of one ``Gather``, shared by the workers (tasks or threads) that run them.

    Each worker takes the next flow in turn; after a failure none starts another, the flows in
    flight stop at their next effect (a request already sent finishes), and the first failure
    is what the ``Gather`` raises.
    """

    def __init__(self, flows: Sequence[Flow[Any]]) -> None:
        self.results: list[Any] = [None] * len(flows)
        self.failed: list[BaseException] = []
        self._todo = iter(enumerate(flows))
        self._take = threading.Lock()  # workers on threads take flows at the same time

    def take(self) -> tuple[int, Flow[Any]] | None:
        """The next flow to run, and where its result goes; ``None`` when none is to start."""
        with self._take:
            item = None if self.failed else next(self._todo, None)
        if item is None:
            return None
        index, flow = item
        return index, interruptible(flow, self.stopped)

    def stopped(self) -> bool:
        return bool(self.failed)

    def work(self, run: Callable[[Flow[Any]], Any]) -> None:
        """A worker on a thread: ``run`` each flow it takes to its end, until none is left."""
        while (taken := self.take()) is not None:
            index, flow = taken
            try:
                self.results[index] = run(flow)
            except Abandoned:
                return
            except BaseException as exc:  # raised by the Gather, if it still waits
                self.failed.append(exc)
                return

    def outcome(self) -> list[Any]:
        """The results in order, or the first failure raised."""
        if self.failed:
            raise self.failed[0]
        return self.results


class Abandoned(Exception):
    """Raised inside a flow that :func:`interruptible` stops; it never leaves the shell."""


def interruptible(flow: Flow[T], stopped: Callable[[], bool]) -> Flow[T]:
    """``flow``, abandoned at its next effect once ``stopped()`` says so: a request already
    sent finishes, no new one starts (cancelling one mid-connect leaks its socket on 3.9)."""
    run = Run(flow)
    while (effect := run.effect()) is not None:
        if stopped():
            flow.close()
            raise Abandoned("a sibling flow failed")
        try:
            run.answer((yield effect))
        except Exception as exc:  # handed to the flow, as the shells do
            run.fail(exc)
    return run.result
