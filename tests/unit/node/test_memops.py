"""MemoryService: writing, reading, searching, verifying our memory; entry JSON and ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.errors import EntryError, StoreError
from gateway.memory.author import append_entry
from gateway.memory.entry import Kind, decode_entry
from gateway.memory.spaces import Space
from gateway.node.memops import MAX_LIST, MemoryService, entry_json, parse_id

from .memnet import Net, Node, make_node, settle


class MsClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return make_node(Net(), tmp_path, 1, store=str(tmp_path / "memory.db"))


@pytest.fixture
def clock() -> MsClock:
    return MsClock()


@pytest.fixture
def svc(node: Node, clock: MsClock) -> MemoryService:
    return MemoryService(node.store, node.key, node.sync, clock)


def test_put_signs_stores_and_returns_the_entry(svc: MemoryService, clock: MsClock) -> None:
    entry = svc.put("buy milk", topic="errands", tags=["b", "a", "a"], metadata={"n": 1})
    assert svc.store.get(entry.id) == entry
    assert (entry.author, entry.seq, entry.kind) == (svc.author, 1, Kind.NOTE)
    assert entry.tags == ("a", "b") and entry.timestamp_ms == clock.now
    second = svc.put("and bread")
    assert (second.seq, second.prev) == (2, entry.id)


def test_put_in_an_unknown_space(svc: MemoryService) -> None:
    with pytest.raises(EntryError, match="no space named 'nowhere'") as err:
        svc.put("x", space="nowhere")
    assert err.value.reason == "wrong_space"
    assert svc.store.count() == 0


def test_put_refuses_bad_fields_without_storing(svc: MemoryService) -> None:
    with pytest.raises(EntryError):
        svc.put("x", tags=["has space"])
    with pytest.raises(EntryError):
        svc.put("x", metadata={"f": 1.5})
    with pytest.raises(EntryError) as err:
        svc.put("x" * 70_000)
    assert err.value.reason == "oversized"
    assert svc.store.count() == 0


def test_timestamps_never_go_back(svc: MemoryService, clock: MsClock) -> None:
    first = svc.put("one")
    clock.now -= 60_000  # the clock stepped back
    second = svc.put("two")
    assert second.timestamp_ms == first.timestamp_ms


def test_supersede_replaces_in_the_live_view(svc: MemoryService) -> None:
    old = svc.put("draft", space="default", topic="plan")
    new = svc.put("final", supersedes=old.id)
    assert (new.kind, new.target, new.space) == (Kind.SUPERSEDE, old.id, old.space)
    assert [e.id for e in svc.recent()] == [new.id]
    shown = svc.get(old.id)
    assert shown["replaced_by"] == new.id.hex() and shown["body"] == "draft"
    assert svc.get(new.id)["replaced_by"] is None


def test_delete_writes_a_tombstone(svc: MemoryService) -> None:
    keep, gone = svc.put("keep"), svc.put("gone")
    tomb = svc.delete(gone.id)
    assert (tomb.kind, tomb.target) == (Kind.TOMBSTONE, gone.id)
    assert [e.id for e in svc.recent()] == [keep.id]
    assert svc.search("gone") == []
    assert svc.get(gone.id)["replaced_by"] == tomb.id.hex()


def test_only_our_own_entries_can_be_replaced(svc: MemoryService) -> None:
    from tests.unit.memory.helpers import key_from

    theirs = append_entry(svc.store, key_from(77), timestamp_ms=5, body="not yours")
    with pytest.raises(EntryError, match="only the author"):
        svc.delete(theirs.id)
    with pytest.raises(EntryError, match="only the author"):
        svc.put("mine now", supersedes=theirs.id)
    assert svc.store.count() == 1


def test_unknown_entries(svc: MemoryService) -> None:
    missing = bytes(range(32))
    for action in (svc.get, svc.delete, lambda i: svc.put("x", supersedes=i)):
        with pytest.raises(StoreError, match=missing.hex()):
            action(missing)


def test_recent_and_search(svc: MemoryService, clock: MsClock) -> None:
    svc.store.set_space(Space("work", True))
    made = []
    for i in range(5):
        clock.now += 1000
        made.append(svc.put(f"note number {i}", space="work" if i % 2 else "default"))
    assert [e.id for e in svc.recent()] == [e.id for e in reversed(made)]
    assert [e.id for e in svc.recent(limit=2)] == [made[4].id, made[3].id]
    assert [e.id for e in svc.recent(space="work")] == [made[3].id, made[1].id]
    assert [e.id for e in svc.recent(before_ms=made[2].timestamp_ms)] == [made[1].id, made[0].id]
    assert {e.id for e in svc.search("number")} == {e.id for e in made}
    assert svc.search("number 3")[0].id == made[3].id  # BM25: the entry with both words first
    assert {e.id for e in svc.search("number", space="work")} == {made[1].id, made[3].id}
    assert len(svc.search("number", limit=2)) == 2


def test_limits_are_capped(svc: MemoryService, clock: MsClock) -> None:
    for i in range(3):
        clock.now += 1
        svc.put(f"n{i}")
    assert len(svc.recent(limit=MAX_LIST * 10)) == 3


def test_verify_and_stats(svc: MemoryService) -> None:
    svc.put("a")
    svc.put("b", tags=["x"])
    svc.store.count_rejection("malformed")
    report = asyncio.run(svc.verify())
    assert report["ok"] is True and report["entries"] == 2
    assert report["bad_signatures"] == report["broken_links"] == report["log_problems"] == []
    assert report["split_views"] == []
    stats = svc.stats()
    assert stats["entries"] == 2 and stats["log_size"] == 2 and stats["held"] == 0
    assert stats["spaces"] == {"default": {"entries": 2, "shared_with_all": True}}
    assert stats["rejections"] == {"malformed": 1}
    assert stats["sync"] == {} and stats["last_sync"] == {}


async def test_writes_are_synced_and_sync_now_reports(tmp_path: Path) -> None:
    net = Net()
    a, b = make_node(net, tmp_path, 1), make_node(net, tmp_path, 2)
    svc = MemoryService(a.store, a.key, a.sync)
    net.connect(a, b)
    entry = svc.put("to share")
    a.sync._tick()
    await settle(net)
    assert entry.id in b.ids()
    deleted = svc.delete(entry.id)
    [result] = await svc.sync_now(5.0)
    assert (result.peer, result.error) == (b.pub, None)
    assert deleted.id in b.ids()
    stats = svc.stats()
    assert stats["sync"]["sessions_completed"] >= 2
    assert set(stats["last_sync"]) == {b.pub.hex()}


def test_entry_json(svc: MemoryService) -> None:
    note = svc.put("hi", topic="t", tags=["z"], metadata={"k": [1, "v"]})
    tomb = svc.delete(note.id)
    data = entry_json(note)
    assert data == {
        "id": note.id.hex(),
        "author": svc.author.hex(),
        "seq": 1,
        "prev": "00" * 32,
        "timestamp_ms": note.timestamp_ms,
        "kind": "note",
        "target": None,
        "space": "default",
        "topic": "t",
        "tags": ["z"],
        "body": "hi",
        "metadata": {"k": [1, "v"]},
    }
    assert entry_json(tomb)["kind"] == "tombstone"
    assert entry_json(tomb)["target"] == note.id.hex()
    assert decode_entry(note.encode()) == note


@pytest.mark.parametrize(
    "text", ["", "zz" * 32, "ab" * 31, "ab" * 33, "ab" * 32 + " ", "ab " * 32, "0x" + "a" * 62]
)
def test_parse_id_refuses(text: str) -> None:
    with pytest.raises(EntryError, match="64 hex digits"):
        parse_id(text)


def test_parse_id_accepts_either_case() -> None:
    assert parse_id("AB" * 32) == parse_id("ab" * 32) == b"\xab" * 32


async def test_after_a_restore_writes_wait_for_a_sync(tmp_path: Path) -> None:
    net = Net()
    a, b = make_node(net, tmp_path, 1), make_node(net, tmp_path, 2)
    old = MemoryService(a.store, a.key, a.sync)
    net.connect(a, b)
    first = old.put("written before the backup")
    a.sync._tick()
    await settle(net)
    later = MemoryService(b.store, a.key, b.sync)  # a's key wrote on after the backup...
    lost = later.put("written after the backup")  # ...and b holds it; a's copy does not
    marker = tmp_path / "restored"
    marker.write_text("x")
    a.sync.restored_marker = marker
    with pytest.raises(StoreError, match="restored from a backup"):
        old.put("would be seq 2 again: a fork")
    with pytest.raises(StoreError, match="restored from a backup"):
        old.delete(first.id)
    [result] = await old.sync_now(5.0)
    assert result.error is None and not marker.exists()
    assert lost.id in a.ids()  # our own later entry came back
    assert old.put("now seq 3").seq == 3


def test_ids_resolve_from_the_short_form_memory_list_prints(svc: MemoryService) -> None:
    entry = svc.put("short ids", topic="t")
    full = entry.id.hex()
    assert svc.resolve(full) == entry.id
    assert svc.resolve(full[:16]) == entry.id  # what `memory list` and `converge` print
    assert svc.resolve(full[:8].upper()) == entry.id
    with pytest.raises(StoreError, match="no entry"):
        svc.resolve(("0" if full[0] != "0" else "1") + full[1:16])
    with pytest.raises(EntryError, match="8 to 64 hex digits"):
        svc.resolve(full[:7])


def test_an_ambiguous_prefix_names_the_candidates(
    svc: MemoryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = svc.put("one").id, svc.put("two").id
    seen: list[tuple[bytes, bytes]] = []

    def two(low: bytes, high: bytes, limit: int) -> list[bytes]:
        seen.append((low, high))
        return [a, b]  # as if both started with the digits asked for

    monkeypatch.setattr(svc.store, "ids_between", two)
    with pytest.raises(EntryError, match="2 entries start with abcdef12") as caught:
        svc.resolve("ABCDEF12")
    assert caught.value.code == "entry_ambiguous"
    assert a.hex()[:16] in str(caught.value) and b.hex()[:16] in str(caught.value)
    assert seen == [(bytes.fromhex("abcdef12" + "0" * 56), bytes.fromhex("abcdef12" + "f" * 56))]
