"""The simulator's misbehaviour: throttling, forced throttles, injected faults and the fault dice.

Kept apart from the decision in ``_state.py`` so that what IMDS *does* and how the simulator
*breaks* it can be read separately. :class:`FaultInjector` is not thread-safe on its own:
``SimulatorState`` owns it and calls it under its lock, as it does the credential rotator.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from typing import Literal

from imdsclient.testing import _tree
from imdsclient.testing._wire import (
    CREDENTIALS_PREFIX,
    Reply,
    SimulatorClock,
    error_reply,
    normalise_pattern,
    ok_reply,
    path_matches,
)

__all__ = ["FAULT_KINDS", "TRANSPORT_FAULTS", "Fault", "FaultInjector", "FaultKind"]

FaultKind = Literal["error", "reset", "hang", "empty", "bad_json", "credentials_error"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "error",
    "reset",
    "hang",
    "empty",
    "bad_json",
    "credentials_error",
)
TRANSPORT_FAULTS = frozenset({"error", "reset", "hang", "empty"})
"""Faults that replace the answer; the others spoil the body of a 200."""

_RANDOM_CODE = "AssumeRoleUnauthorizedAccess"


class Fault:
    """One pending fault: ``kind`` for the next ``remaining`` requests matching ``path``."""

    __slots__ = ("code", "kind", "path", "remaining", "status")

    def __init__(
        self, kind: FaultKind, remaining: int, path: str | None, status: int, code: str
    ) -> None:
        self.kind = kind
        self.remaining = remaining
        self.path = path
        self.status = status
        self.code = code

    def transport_reply(self) -> Reply:
        """The answer a transport fault puts in place of the real one."""
        if self.kind == "reset":
            return Reply(0, action="reset")
        if self.kind == "hang":
            return Reply(0, action="hang")
        if self.kind == "empty":
            return ok_reply(b"")
        return error_reply(self.status)


def _throttled(status: int, retry_after: int | None) -> Reply:
    if retry_after is None:
        return error_reply(status)
    return error_reply(status, ("Retry-After", str(retry_after)))


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; choose from {FAULT_KINDS}")


class FaultInjector:
    """Pending faults and throttles, and the state of the throttle window and the fault dice.

    The public ``SimulatorState`` methods (``throttle_next``, ``inject``, ``fault_rate``,
    ``clear_faults``) validate through here and document the behaviour.
    """

    def __init__(self, clock: SimulatorClock) -> None:
        self._clock = clock
        self._faults: list[Fault] = []
        self._rate = 0.0
        self._kinds: tuple[FaultKind, ...] = ()
        self._rate_path: str | None = None
        self._rng = random.Random()  # noqa: S311 -- fault dice, not cryptography
        self._forced_throttle: list[tuple[int, int, int | None]] = []  # [remaining, status, retry]
        self._window: deque[float] = deque()

    # ---------------------------------------------------------------- configuring

    def throttle_next(self, count: int, status: int, retry_after: int | None) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self._forced_throttle.append((count, status, retry_after))

    def inject(self, kind: FaultKind, count: int, path: str | None, status: int, code: str) -> None:
        _check_kind(kind)
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(Fault(kind, count, normalise_pattern(path), status, code))

    def set_rate(
        self, rate: float, kinds: Iterable[FaultKind], seed: int | None, path: str | None
    ) -> None:
        kinds = tuple(kinds)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {rate!r}")
        if rate and not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            _check_kind(kind)
        self._rate = rate
        self._kinds = kinds
        self._rate_path = normalise_pattern(path)
        self._rng = random.Random(seed)  # noqa: S311 -- fault dice, not cryptography

    def clear(self) -> None:
        """Drop pending faults, forced throttling and the fault rate (the seed stays)."""
        self._faults.clear()
        self._forced_throttle.clear()
        self._rate = 0.0

    def reset_window(self) -> None:
        """Forget the requests counted in the current throttle window."""
        self._window.clear()

    # ---------------------------------------------------------------- deciding

    def throttle(
        self, now: float, limit: int | None, status: int, retry_after: int | None
    ) -> Reply | None:
        """The throttled answer if this request is over a limit, else None (and it is counted).

        Forced throttles come first; then at most ``limit`` requests per one-second window.
        """
        if self._forced_throttle:
            remaining, forced_status, forced_retry = self._forced_throttle[0]
            if remaining <= 1:
                self._forced_throttle.pop(0)
            else:
                self._forced_throttle[0] = (remaining - 1, forced_status, forced_retry)
            return _throttled(forced_status, forced_retry)
        if limit is None:
            return None
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return _throttled(status, retry_after)
        window.append(now)
        return None

    def draw(self, path: str) -> Fault | None:
        """The fault for this request: a pending transport fault, else a roll of the dice.

        A rolled fault may be a body fault (``bad_json``, ``credentials_error``); pass it on to
        :meth:`spoil_body`.
        """
        fault = self._take(path, TRANSPORT_FAULTS)
        if fault is None and self._rate and path_matches(path, self._rate_path):  # noqa: SIM102
            # Two steps on purpose: the dice are only rolled for requests the rate applies to.
            if self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
                fault = Fault(kind, 1, None, 500, _RANDOM_CODE)
        return fault

    def spoil_body(self, path: str, reply: Reply, fault: Fault | None) -> Reply:
        """Apply a body fault to a 200 GET answer: the rolled one, else a pending one that fits."""
        is_json = reply.body.lstrip()[:1] in (b"{", b"[")
        is_creds = is_json and path.startswith(CREDENTIALS_PREFIX) and path != CREDENTIALS_PREFIX
        if fault is None and self._faults:
            kinds = {"bad_json"} if is_json else set()
            if is_creds:
                kinds.add("credentials_error")
            fault = self._take(path, frozenset(kinds)) if kinds else None
        if fault is None:
            return reply
        if fault.kind == "bad_json" and is_json:
            return ok_reply(reply.body.rstrip()[: len(reply.body.rstrip()) // 2])
        if fault.kind == "credentials_error" and is_creds:
            document = {
                "Code": fault.code,
                "Message": f"EC2 cannot retrieve credentials for the role ({fault.code}).",
                "LastUpdated": _tree.format_iso(self._clock.time()),
            }
            return ok_reply(_tree.pretty_json(document))
        return reply

    def _take(self, path: str, kinds: frozenset[str]) -> Fault | None:
        for fault in self._faults:
            if fault.kind in kinds and path_matches(path, fault.path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None
