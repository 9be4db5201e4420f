"""Watching the instance's lifecycle: the stream of :class:`InstanceEvent` (docs/watch.md).

The watcher itself, one flow for both clients, is :mod:`imdsclient._watch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from imdsclient import _watch
from imdsclient._flow import Flow, operation
from imdsclient._session import Session
from imdsclient._watch import DEFAULT_BLIND_AFTER, DEFAULT_INTERVAL, InstanceEvent, WatchStatus

__all__ = ["InstanceEvent", "WatchStatus", "watch"]


@operation(emits="InstanceEvent")
def watch(
    session: Session,
    *,
    interval: float = DEFAULT_INTERVAL,
    kinds: Iterable[str] | None = None,
    blind_after: float = DEFAULT_BLIND_AFTER,
    max_polls: int | None = None,
    on_poll: Callable[[WatchStatus], object] | None = None,
) -> Flow[None]:
    """Each new or changed event about the instance's future, as it appears (docs/watch.md).

    Every ``interval`` seconds one poll reads the Spot notice, the rebalance recommendation,
    the scheduled maintenance events and the Auto Scaling target lifecycle state (``kinds``
    limits which): one GET each once the token is warm.  What is pending at the first poll
    is yielded by it; after that an event is yielded again only when it changes.  A source
    that cannot be read is logged and read again at the next poll; one unread for longer
    than ``blind_after`` seconds is logged as a WARNING and listed in the ``WatchStatus``
    passed to ``on_poll`` after each poll.  Only a first poll that can read nothing raises
    (off EC2, IMDS disabled).  Runs until the caller stops iterating, or for ``max_polls``.
    """
    return _watch.watch(
        session,
        interval=interval,
        kinds=kinds,
        blind_after=blind_after,
        max_polls=max_polls,
        on_poll=on_poll,
    )
