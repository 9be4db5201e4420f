"""``IMDSClient``: the synchronous shell.  It carries out the effects of the flows and holds
the I/O (the connection pool, the token lock); every decision is in the core."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

from imdsclient._base import ClientBase
from imdsclient._flow import Effect, Emit, Flow, Gather, Hook, Locked, Run, Send, Sleep, drive
from imdsclient._methods import SyncMethods
from imdsclient._transport import SyncPool, send_sync, sync_client

__all__ = ["IMDSClient"]

T = TypeVar("T")


class IMDSClient(SyncMethods, ClientBase):
    """A thread-safe IMDS client: one token per lifetime, retries, and clear errors.

    Settings come from keyword arguments, then ``config``, then the environment and
    ``~/.aws/config``; see ``__init__`` for each keyword.
    """

    def _open(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._http: SyncPool | None = sync_client(
            self.config.base_url, self.config.timeout, self._transport
        )

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        http, self._http = self._http, None
        # A forked child leaves the parent's pool alone: its lock may be held by a thread that
        # does not exist here, and its sockets are the parent's.
        if http is not None and self._pid == os.getpid():
            http.close()

    def __enter__(self) -> IMDSClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the effect interpreter ------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
        """One public call.  A call made after ``close()`` is a usage error (RuntimeError); a
        call in flight when another thread closes the client ends with an IMDSError."""
        if self._client() is None:
            raise RuntimeError("This IMDSClient is closed; create a new one.")
        return self._drive(flow)

    def _drive(self, flow: Flow[T]) -> T:
        """Drive a flow: carry out each effect and hand back its result (or its error)."""
        return drive(flow, self._carry_out)

    def _stream(self, flow: Flow[None]) -> Iterator[Any]:
        """Drive a flow like ``_run``, handing the value of each ``Emit`` to the caller."""
        if self._client() is None:  # as for ``_run``: a stream started after close()
            flow.close()
            raise RuntimeError("This IMDSClient is closed; create a new one.")
        run = Run(flow)
        try:
            while (effect := run.effect()) is not None:
                if isinstance(effect, Emit):
                    run.answer(None)
                    yield effect.value
                    continue
                try:
                    run.answer(self._carry_out(effect))
                except Exception as exc:  # handed to the flow, which may handle it
                    run.fail(exc)
        finally:
            flow.close()  # the caller stopped iterating: end the flow where it is

    def _carry_out(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return send_sync(self._client(), effect.request)
        if isinstance(effect, Sleep):
            return self._session.clock.sleep(effect.seconds)
        if isinstance(effect, Hook):
            return effect.function(effect.value)
        if isinstance(effect, Locked):
            self._client()  # after a fork, replace the lock before waiting on it
            with self._lock:
                return self._drive(effect.flow)
        if isinstance(effect, Gather):
            return [self._drive(flow) for flow in effect.flows]
        raise TypeError(f"not an effect: {effect!r}")

    def _client(self) -> SyncPool | None:
        """The connection pool (``None`` once closed), rebuilt in a forked child."""
        if self._http is not None and self._pid != os.getpid():
            # Forked: never share the parent's connections, nor its lock, which may have been
            # held by a thread that does not exist here.
            self._pid, self._lock = os.getpid(), threading.Lock()
            self._http = sync_client(self.config.base_url, self.config.timeout, self._transport)
        return self._http
