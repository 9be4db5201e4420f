"""The SSH key pairs: ``public-keys/`` lists ``index=name``, each key under ``index/``."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from imdsclient._api._common import KEY_ENTRY, fetch_or_none, text
from imdsclient._api._model import IMDSModel, bad_answer, decode
from imdsclient._api.crawl import MAX_CRAWL_ENTRIES, ByteBudget, read_counted
from imdsclient._flow import Flow, gather, operation
from imdsclient._protocol import META_DATA
from imdsclient._session import Session

__all__ = ["PUBLIC_KEYS_PATH", "PublicKey", "parse_public_keys_listing", "public_keys"]

PUBLIC_KEYS_PATH = META_DATA + "public-keys/"


class PublicKey(IMDSModel):
    """One SSH key pair from ``public-keys/``: the listing gives ``index=name``."""

    index: int = Field(ge=0)
    name: str
    openssh_key: Optional[str] = None


def parse_public_keys_listing(
    body: bytes, *, path: str = PUBLIC_KEYS_PATH
) -> list[tuple[int, str]]:
    """Parse the ``public-keys/`` listing, ``0=name`` per line, into ``(index, name)`` pairs."""
    what = "public key listing"
    keys: list[tuple[int, str]] = []
    for line in decode(body, what, path).split("\n"):
        entry = line.strip().rstrip("/")
        if not entry:
            continue
        match = KEY_ENTRY.fullmatch(entry)
        if match is None:
            raise bad_answer(what, f"entry #{len(keys)} is not in the form index=name", path)
        keys.append((int(match.group(1)), match.group(2)))
        if len(keys) > MAX_CRAWL_ENTRIES:
            raise bad_answer(what, f"it lists over {MAX_CRAWL_ENTRIES} keys", path)
    return keys


@operation()
def public_keys(session: Session) -> Flow[list[PublicKey]]:
    """The SSH key pairs (with their OpenSSH public key); ``[]`` when the instance has none.

    Bounded like a crawl: at most ``MAX_CRAWL_ENTRIES`` keys and ``MAX_CRAWL_BYTES`` in all."""
    folder = META_DATA + "public-keys/"
    body = yield from fetch_or_none(session, folder)
    if body is None:
        return []
    keys = parse_public_keys_listing(body, path=folder)
    budget = ByteBudget(folder)
    budget.spend(body)
    bodies = yield from gather(
        [read_counted(session, f"{folder}{index}/openssh-key", budget) for index, _ in keys]
    )
    return [
        PublicKey(
            index=index,
            name=name,
            openssh_key=None if key is None else text(key, f"{folder}{index}/openssh-key").strip(),
        )
        for (index, name), key in zip(keys, bodies)
    ]
