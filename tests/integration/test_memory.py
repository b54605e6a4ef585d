"""Memory sync between three nodes (and a rogue one) on the private Tor network.

A, B and C are contacts of each other. A and B also share the space ``ab``, which
C is not in. The tests run in order on the same nodes (module fixture).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.memory.entry import SIGN_CONTEXT, ZERO_HASH, Kind, public_bytes, sign_entry
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths
from gateway.testnet import TestNetwork
from tests.integration.memory_support import (
    count,
    has,
    ids,
    memory_node,
    pair_as,
    put,
    start,
    stats,
    verify,
)
from tests.integration.support import Node, api, gateway_cli, wait_for

CONVERGE_TIMEOUT = 240.0


@dataclass
class Trio:
    a: Path
    b: Path
    c: Path
    folder: Path
    testnet: TestNetwork
    running: dict[str, Node]
    started: list[Node]

    def restart(self, name: str) -> None:
        config = getattr(self, name)
        self.running[name] = start(config, self.started)


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory, testnet: TestNetwork) -> Iterator[Trio]:
    folder = tmp_path_factory.mktemp("memory")
    a = memory_node(folder, testnet, "a", {"default": "all", "ab": ["bob"]})
    b = memory_node(folder, testnet, "b", {"default": "all", "ab": ["alice"]})
    c = memory_node(folder, testnet, "c", {"default": "all", "ab": ["alice", "bob"]})
    started: list[Node] = []
    try:
        running = {n: start(cfg, started) for n, cfg in (("a", a), ("b", b), ("c", c))}
        pair_as(a, b, "bob", "alice")
        pair_as(a, c, "carol", "alice")
        pair_as(b, c, "carol", "bob")
        yield Trio(a, b, c, folder, testnet, running, started)
    finally:
        for node in started:
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()


def converged(configs: list[Path], space: str = "default") -> bool:
    sets = [ids(c, space) for c in configs]
    return all(s == sets[0] for s in sets) and bool(sets[0])


def test_concurrent_writes_on_three_nodes_converge(trio: Trio) -> None:
    written: dict[str, list[str]] = {}

    def writer(name: str) -> None:
        config = getattr(trio, name)
        written[name] = [
            put(config, f"note {i} from {name}", topic="trio", tags=[name])["id"] for i in range(25)
        ]

    threads = [threading.Thread(target=writer, args=(n,)) for n in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    every = {i for ids_ in written.values() for i in ids_}
    assert len(every) == 75
    configs = [trio.a, trio.b, trio.c]
    wait_for(lambda: all(ids(c) >= every for c in configs), CONVERGE_TIMEOUT, "75 entries on all")
    assert converged(configs)
    # a replicated entry is searchable where it arrived, and verifies everywhere
    hits = api(trio.c, "GET", "/api/v1/memory/search?q=note&mode=keyword&tag=a&limit=100")
    assert {e["id"] for e in hits["entries"]} == set(written["a"])
    for config in configs:
        report = verify(config)
        assert report["ok"] and report["entries"] >= 75, report


def test_contact_outside_a_space_never_receives_it(trio: Trio) -> None:
    secret = put(trio.a, "only for bob", space="ab")["id"]
    marker = put(trio.a, "for everyone after the secret")["id"]
    wait_for(lambda: has(trio.b, secret), CONVERGE_TIMEOUT, "b to receive the ab entry")
    wait_for(lambda: has(trio.c, marker), CONVERGE_TIMEOUT, "c to receive the default entry")
    api(trio.b, "POST", "/api/v1/memory/sync?timeout=60")  # b, also c's contact, syncs with c
    api(trio.c, "POST", "/api/v1/memory/sync?timeout=60")
    assert not has(trio.c, secret)
    assert count(trio.c, "ab") == 0
    # c offering entries in ab (which it may not share) is refused by a, not stored
    assert count(trio.a, "ab") == 1 and count(trio.b, "ab") == 1


def test_an_entry_written_on_a_is_found_on_c_by_meaning(trio: Trio) -> None:
    """A paraphrase that shares no word with the entry finds it on another node (which
    embedded the entry itself after sync: vectors never cross links)."""
    fact = put(trio.a, "Alice prefers tea over coffee in the morning", topic="habits")["id"]
    question = "what hot drink does she like at breakfast"
    wait_for(lambda: has(trio.c, fact), CONVERGE_TIMEOUT, "c to receive the entry")

    def search(mode: str) -> dict[str, Any]:
        found: dict[str, Any] = api(
            trio.c, "GET", f"/api/v1/memory/search?q={question.replace(' ', '+')}&mode={mode}"
        )
        return found

    def found_by_meaning() -> bool:
        return any(e["id"] == fact for e in search("semantic")["entries"])

    wait_for(found_by_meaning, 60, "c to embed the synced entry")  # embedded in the background
    semantic = search("semantic")
    assert semantic["mode"] == "semantic" and semantic["entries"][0]["id"] == fact
    assert semantic["entries"][0]["match"]["similarity"] > 0.3
    assert fact not in {e["id"] for e in search("keyword")["entries"]}  # no word in common
    hybrid = search("hybrid")
    assert hybrid["mode"] == "hybrid" and hybrid["entries"][0]["id"] == fact
    assert hybrid["entries"][0]["match"] == {
        "keyword_rank": None, "semantic_rank": 1,
        "similarity": semantic["entries"][0]["match"]["similarity"],
    }  # fmt: skip
    embedding = stats(trio.c)["embedding"]
    assert embedding["model"] == "all-MiniLM-L6-v2" and embedding["dim"] == 384
    assert embedding["vectors"] >= 1 and embedding["error"] is None
    printed = gateway_cli(trio.c, "memory", "search", "--mode", "semantic", *question.split())
    assert fact[:16] in printed and "tea over coffee" in printed


def test_offline_node_catches_up_on_1000_writes(trio: Trio) -> None:
    assert trio.running["c"].stop() == 0
    before = count(trio.a)
    for i in range(1000):
        put(trio.a, f"written while c was away #{i}", topic="catch-up")
    assert count(trio.a) == before + 1000
    started = time.monotonic()
    trio.restart("c")
    wait_for(lambda: count(trio.c) == count(trio.a), CONVERGE_TIMEOUT, "c to catch up 1000 entries")
    print(f"catch-up of 1000 entries took {time.monotonic() - started:.1f} s after restart")
    assert converged([trio.a, trio.b, trio.c])
    assert verify(trio.c)["ok"]


# --- a rogue peer --------------------------------------------------------------------


def _row(raw: bytes, *, author: bytes, seq: int, space: str = "default") -> tuple[object, ...]:
    entry_id = hashlib.sha256(raw[:-64]).digest()
    now = int(time.time() * 1000)
    return (entry_id, author, space, seq, ZERO_HASH, now, 1, ZERO_HASH, raw)


def _oversized(key: Ed25519PrivateKey, seq: int, prev: bytes) -> bytes:
    """A well-signed entry whose body is beyond the size limit (built by hand)."""
    body = b"x" * 70_000
    content = b"".join(
        [
            struct.pack(">B", 1), public_bytes(key.public_key()), struct.pack(">Q", seq), prev,
            struct.pack(">Q", int(time.time() * 1000)), struct.pack(">B", int(Kind.NOTE)),
            ZERO_HASH, struct.pack(">B", 7), b"default", struct.pack(">H", 0),
            struct.pack(">B", 0), struct.pack(">I", len(body)), body,
            struct.pack(">I", 2), b"{}",
        ]
    )  # fmt: skip
    return content + key.sign(SIGN_CONTEXT + content)


def poison(memory_db: Path, rogue: Ed25519PrivateKey, victim_entry: bytes) -> dict[str, bytes]:
    """Put bad entries straight into a stopped node's store (a schema without UNIQUE)."""
    now = int(time.time() * 1000)
    own = public_bytes(rogue.public_key())
    fork = sign_entry(rogue, seq=1, prev=ZERO_HASH, timestamp_ms=now, space="default", body="fork")
    mine = sign_entry(rogue, seq=5000, prev=os.urandom(32), timestamp_ms=now, space="default")
    forged = dataclasses.replace(mine, author=victim_entry[1:33])  # the victim's name, our sig
    content = bytearray(victim_entry[:-64])
    content[80] ^= 0x01  # the low byte of the timestamp
    bad = {
        "fork": fork.encode(),
        "forged": forged.content + mine.signature,
        "tampered": bytes(content) + victim_entry[-64:],
        "malformed": os.urandom(200),
        "oversized": _oversized(rogue, 99, os.urandom(32)),
    }
    db = sqlite3.connect(memory_db, isolation_level=None)
    try:
        db.executescript(
            "BEGIN; ALTER TABLE entries RENAME TO honest;"
            "CREATE TABLE entries (id BLOB PRIMARY KEY, author BLOB, space TEXT, seq INTEGER,"
            " prev BLOB, ts INTEGER, kind INTEGER, target BLOB, raw BLOB, log_index INTEGER);"
            "INSERT INTO entries (rowid, id, author, space, seq, prev, ts, kind, target, raw,"
            " log_index) SELECT rowid, * FROM honest; DROP TABLE honest; COMMIT;"
        )
        (top,) = db.execute("SELECT COALESCE(MAX(log_index), -1) FROM entries").fetchone()
        for k, raw in enumerate(bad.values()):
            row = _row(raw, author=own, seq=1000 + k)
            db.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?)", (*row, top + 1 + k))
    finally:
        db.close()
    return {name: hashlib.sha256(raw[:-64]).digest() for name, raw in bad.items()}


def test_rogue_peer_entries_are_refused_and_honest_nodes_converge(
    trio: Trio, testnet: TestNetwork
) -> None:
    rogue_cfg = memory_node(trio.folder, testnet, "rogue")
    rogue = start(rogue_cfg, trio.started)
    pair_as(trio.b, rogue_cfg, "rogue", "bob")
    honest = put(rogue_cfg, "an honest note from the rogue")["id"]
    wait_for(lambda: has(trio.b, honest), CONVERGE_TIMEOUT, "b to get the rogue's honest entry")
    wait_for(lambda: has(trio.a, honest), CONVERGE_TIMEOUT, "a to get it relayed through b")
    victim_raw = _raw_entry(trio.a, ids(trio.a).pop())
    assert rogue.stop() == 0
    key = IdentityKeys.load(StatePaths(trio.folder / "rogue")).signing
    bad = poison(trio.folder / "rogue" / "memory.db", key, victim_raw)
    before = stats(trio.b)["rejections"]
    start(rogue_cfg, trio.started)
    wait_for(lambda: peer_online(trio.b), 180, "the rogue back online")
    gateway_cli(rogue_cfg, "memory", "sync", "--timeout", "90", timeout=120)

    def refused() -> dict[str, int]:
        now = stats(trio.b)["rejections"]
        return {k: now.get(k, 0) - before.get(k, 0) for k in now}

    wanted = ("bad_signature", "fork", "malformed", "oversized")

    def all_counted() -> dict[str, int] | None:
        counts = refused()
        return counts if all(counts.get(k) for k in wanted) else None

    got = wait_for(all_counted, 120, "b to count every kind of bad entry")
    assert got["bad_signature"] >= 2, got  # forged and tampered
    for entry_id in bad.values():
        assert not has(trio.b, entry_id.hex()) and not has(trio.a, entry_id.hex())
    # the honest nodes still converge and verify
    marker = put(trio.b, "after the rogue")["id"]
    wait_for(lambda: has(trio.a, marker) and has(trio.c, marker), CONVERGE_TIMEOUT, "marker")
    wait_for(lambda: converged([trio.a, trio.b, trio.c]), CONVERGE_TIMEOUT, "a, b, c converged")
    for config in (trio.a, trio.b, trio.c):
        assert verify(config)["ok"]


def peer_online(config: Path) -> bool:
    peers = api(config, "GET", "/api/v1/peers")["peers"]
    return any(p["nickname"] == "rogue" and p["online"] for p in peers)


def _raw_entry(config: Path, entry_id: str) -> bytes:
    """The wire form of a stored entry, read from the node's store file."""
    state = config.parent / config.stem
    db = sqlite3.connect(state / "memory.db")
    try:
        (raw,) = db.execute(
            "SELECT raw FROM entries WHERE id=?", (bytes.fromhex(entry_id),)
        ).fetchone()
    finally:
        db.close()
    assert isinstance(raw, bytes)
    return raw
