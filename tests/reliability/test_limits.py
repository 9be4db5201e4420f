"""Size limits, checked before anything becomes a URL, a header or a model: paths, listing
entries, the bytes a crawl may hold, JSON nesting and tokens.  Raw servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imdsclient import AsyncIMDSClient, IMDSClient, IMDSError
from imdsclient._api._model import MAX_JSON_DEPTH, load_json
from imdsclient._api.crawl import MAX_CRAWL_BYTES, MAX_CRAWL_DEPTH, MAX_CRAWL_ENTRIES
from imdsclient._protocol import (
    MAX_PATH_CHARS,
    MAX_TOKEN_CHARS,
    META_DATA,
    Response,
    token_ttl_from,
)
from imdsclient.testing import FakeClock, IMDSSimulator
from tests.reliability._hostile import TOKEN, deep_json, within
from tests.reliability._servers import Piece, RawServer, simple_answer

MiB = 1024 * 1024
Respond = Callable[[str, str], Any]


@pytest.fixture(params=["sync", "async"])
def shell(request: pytest.FixtureRequest) -> str:
    """Each test runs against both clients."""
    return str(request.param)


def call(shell: str, url: str, method: str, *args: Any) -> Any:
    """``method(*args)`` on a fresh client of ``shell``; exceptions propagate."""
    if shell == "sync":
        with IMDSClient(endpoint=url, clock=FakeClock()) as client:
            return getattr(client, method)(*args)

    async def run() -> Any:
        async with AsyncIMDSClient(endpoint=url, clock=FakeClock()) as client:
            return await getattr(client, method)(*args)

    return asyncio.run(run())


def imds(get: Callable[[str], list[bytes] | Iterator[Piece]]) -> Respond:
    """A responder: a token for the PUT, ``get(path)`` for everything else."""

    def respond(method: str, path: str) -> Any:
        if method == "PUT":
            return simple_answer(200, TOKEN, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
        return get(path)

    return respond


def test_a_path_over_the_limit_is_refused_before_anything_is_sent(shell: str) -> None:
    """A 70,000-character path is a ValueError naming its length; nothing reaches the wire."""
    with RawServer(imds(lambda path: simple_answer(200, b"x"))) as server:
        with pytest.raises(ValueError, match="70000 characters long"):
            call(shell, server.url, "get", "a" * 70_000)
        with pytest.raises(ValueError, match="characters long"):
            call(shell, server.url, "get", "/" + "a" * MAX_PATH_CHARS)
        assert call(shell, server.url, "get", "a" * (MAX_PATH_CHARS - len(META_DATA))) == "x"
        assert [method for _, method, _ in server.requests] == ["PUT", "GET"]


def test_the_deepest_crawl_with_the_longest_entries_stays_under_the_limit(shell: str) -> None:
    """The deepest tree a crawl accepts, every name 255 characters: dump() reads it all, so a
    path built from listing entries can never trip the path limit (or httpx's)."""
    name = "d" * 255

    def tree(path: str) -> list[bytes]:
        depth = path.count(name)
        if not path.endswith("/"):
            return simple_answer(200, b"leaf")
        if depth == MAX_CRAWL_DEPTH - 2:  # the root listing and the leaf's level count too
            return simple_answer(200, b"v")
        return simple_answer(200, name.encode() + b"/")

    with RawServer(imds(tree)) as server:
        dumped = call(shell, server.url, "dump")
        deepest = max(len(path) for _, _, path in server.requests)
    for _ in range(MAX_CRAWL_DEPTH - 2):
        dumped = dumped[name]
    assert dumped == {"v": "leaf"}
    assert 3500 < deepest <= MAX_PATH_CHARS


def _huge_entry(path: str) -> list[bytes]:
    if path.endswith("/"):
        return simple_answer(200, b"ok\n" + b"e" * 70_000)
    return simple_answer(200, b"value")


@pytest.mark.parametrize("method", ["dump", "tags", "block_device_mapping", "network_interfaces"])
def test_a_70000_character_listing_entry_is_an_imds_error(shell: str, method: str) -> None:
    """A listing entry too long to be a path segment is an IMDSError naming the folder, never
    httpx's InvalidURL; nothing is requested for it."""
    with RawServer(imds(_huge_entry)) as server:
        with pytest.raises(IMDSError, match="unusable entry") as info:
            call(shell, server.url, method)
        longest = max(len(path) for _, _, path in server.requests)
    assert info.value.path is not None
    assert info.value.path.endswith("/")
    assert longest < 200


class _BigTree:
    """1,500 leaves of 1 MiB - 1 each under meta-data/, streamed (never held by the server)."""

    def __init__(self) -> None:
        self.leaves = 0

    def __call__(self, path: str) -> Iterator[Piece]:
        if path.endswith("/"):
            names = "\n".join(f"leaf-{n:04d}" for n in range(1500)).encode()
            yield from simple_answer(200, names)
            return
        self.leaves += 1
        yield f"HTTP/1.1 200 OK\r\nContent-Length: {MiB - 1}\r\n\r\n".encode()
        for _ in range(15):
            yield b"x" * 65536
        yield b"x" * 65535


@pytest.mark.parametrize("method", ["dump", "block_device_mapping"])
def test_a_crawl_is_bounded_in_total_bytes(shell: str, method: str) -> None:
    """1,500 leaves of 1 MiB: an IMDSError naming the 4 MiB bound after about 4 MiB has been
    read (not 1.5 GiB), with memory to match."""
    tree = _BigTree()
    with RawServer(imds(tree)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(IMDSError, match="over 4 MiB") as info:
                within(60, lambda: call(shell, server.url, method))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.path is not None
    assert MAX_CRAWL_BYTES // MiB <= tree.leaves <= MAX_CRAWL_BYTES // MiB + 8 + 1
    assert peak < 32 * MiB


def test_json_nesting_over_the_limit_is_refused_and_at_the_limit_parses() -> None:
    """load_json: MAX_JSON_DEPTH nested arrays parse, one more is an IMDSError (no recursion)."""
    expected: object = []
    for _ in range(MAX_JSON_DEPTH - 1):
        expected = [expected]
    assert load_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, "doc", "/p") == expected
    with pytest.raises(IMDSError, match=f"nested more than {MAX_JSON_DEPTH} levels"):
        load_json(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "doc", "/p")
    with pytest.raises(IMDSError, match="nested more than"):
        load_json(b'{"a": ' * 900 + b"1" + b"}" * 900, "doc", "/p")


@pytest.mark.parametrize("depth", [33, 900])
def test_an_absurdly_nested_identity_document_is_an_imds_error(shell: str, depth: int) -> None:
    """A 900-deep extra field in the identity document is refused at parse time with an
    IMDSError, not accepted and then failing in model_dump with pydantic's ValueError."""
    path = "/latest/dynamic/instance-identity/document"
    with IMDSSimulator({path: deep_json(depth)}) as sim, pytest.raises(IMDSError) as info:
        call(shell, sim.url, "instance_identity")
    assert "nested more than" in str(info.value)
    assert not isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("body", "usable"),
    [
        (b"A" * MAX_TOKEN_CHARS, True),
        (b"  " + b"A" * MAX_TOKEN_CHARS + b"\n", True),
        (b"A" * (MAX_TOKEN_CHARS + 1), False),
        (b"A" * (1024 * 1024 - 1), False),
        ("AQAE-token".encode("utf-16"), False),
        ("AQAE-tökén".encode(), False),
        (b"AQAE token", False),
        (b"", False),
    ],
    ids=["max", "max-padded", "over", "1MiB", "utf-16", "non-ascii", "space", "empty"],
)
def test_only_tokens_that_fit_a_header_are_accepted(body: bytes, usable: bool) -> None:
    """A token must be 1..MAX_TOKEN_CHARS printable ASCII characters; anything else is an
    IMDSError (never a codec error or a megabyte header)."""
    answer = Response(200, {}, body)
    if usable:
        assert token_ttl_from(answer, 60) == (body.strip().decode(), 60)
    else:
        with pytest.raises(IMDSError, match="unusable token"):
            token_ttl_from(answer, 60)


def _many_keys(count: int, key_bytes: int) -> Callable[[str], Iterator[Piece]]:
    """A public-keys/ listing of ``count`` keys, each ``key_bytes`` long (streamed)."""

    def get(path: str) -> Iterator[Piece]:
        if path.endswith("public-keys/"):
            yield from simple_answer(200, "\n".join(f"{n}=key-{n}" for n in range(count)).encode())
            return
        yield f"HTTP/1.1 200 OK\r\nContent-Length: {key_bytes}\r\n\r\n".encode()
        for start in range(0, key_bytes, 65536):
            yield b"x" * min(65536, key_bytes - start)

    return get


def test_public_keys_are_bounded_in_total_bytes(shell: str) -> None:
    """1,500 keys of 1 MiB: an IMDSError naming the 4 MiB bound after about 4 MiB was read."""
    with RawServer(imds(_many_keys(1500, MiB - 1))) as server:
        with pytest.raises(IMDSError, match="over 4 MiB"):
            within(60, lambda: call(shell, server.url, "public_keys"))
        keys_read = sum(1 for _, _, path in server.requests if path.endswith("openssh-key"))
    assert MAX_CRAWL_BYTES // MiB <= keys_read <= MAX_CRAWL_BYTES // MiB + 8 + 1


def test_a_public_keys_listing_of_too_many_keys_is_refused_before_reading_them(shell: str) -> None:
    """A listing of more keys than any instance has: an IMDSError, and no key is requested."""
    with RawServer(imds(_many_keys(MAX_CRAWL_ENTRIES + 1, 10))) as server:
        with pytest.raises(IMDSError, match=f"over {MAX_CRAWL_ENTRIES} keys"):
            call(shell, server.url, "public_keys")
        keys_read = sum(1 for _, _, path in server.requests if path.endswith("openssh-key"))
    assert keys_read == 0
