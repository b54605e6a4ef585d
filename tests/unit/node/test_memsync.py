"""MemorySync: when syncs run and with whom, over fake in-process links."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.config.schema import MemoryConfig, SpaceConfig
from gateway.errors import ContactError
from gateway.memory import merkle
from gateway.memory.author import append_entry
from gateway.memory.hub import FROM_INITIATOR, decode_envelope
from gateway.memory.spaces import Space
from gateway.memory.treeheads import SEEN
from gateway.node import memsync
from gateway.node.memsync import CHANNEL, MAX_SPLIT_VIEWS

from .memnet import Net, Node, make_node, settle


@pytest.fixture
def net() -> Net:
    return Net()


def nodes(net: Net, tmp_path: Path, count: int = 2) -> list[Node]:
    return [make_node(net, tmp_path, seed) for seed in range(1, count + 1)]


def write(node: Node, body: str, space: str = "default", ts: int = 1000) -> bytes:
    entry = append_entry(node.store, node.key, timestamp_ms=ts, body=body, space=space)
    node.sync.wrote(space)
    return entry.id


async def test_write_syncs_to_online_contacts(net: Net, tmp_path: Path) -> None:
    a, b, c = nodes(net, tmp_path, 3)
    net.connect(a, b)  # c is offline
    entry = write(a, "hello")
    a.sync._tick()
    await settle(net)
    assert entry in b.ids() and entry not in c.ids()
    assert a.sync.counters["sessions_started"] == 1
    assert a.sync.counters["sessions_completed"] == 1
    assert b.sync.counters["sessions_completed"] == 1  # its responder side
    assert b.sync.counters["entries_received"] == 1
    assert set(a.sync.last_sync) == {b.pub}
    assert all(channel == CHANNEL for _, channel, _ in a.links.sent)


async def test_write_only_reaches_peers_sharing_the_space(net: Net, tmp_path: Path) -> None:
    a, b, c = nodes(net, tmp_path, 3)
    net.connect(a, b)  # (a link coming up applies the configured spaces: none here)
    net.connect(a, c)
    a.store.set_space(Space("work", False, frozenset({b.pub})))
    b.store.set_space(Space("work", False, frozenset({a.pub})))
    entry = write(a, "plan", space="work")
    a.sync._tick()
    await settle(net)
    assert entry in b.ids()
    assert a.sync.counters["sessions_started"] == 1
    assert {peer for peer, _, _ in a.links.sent} == {b.pub}


async def test_link_we_dialed_starts_a_sync(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    entry = write(b, "from b")
    net.connect(a, b, dialer=a)
    b.sync._tick()  # b did not dial: its write found no one online then, nothing now
    assert b.sync.counters["sessions_started"] == 0
    a.sync._tick()
    await settle(net)
    assert a.sync.counters["sessions_started"] == 1
    assert entry in a.ids()


async def test_link_closed_ends_the_running_session(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    append_entry(a.store, a.key, timestamp_ms=5, body="x")  # so b's side does not end at once
    net.connect(a, b, dialer=a)
    a.sync._tick()
    assert a.sync.hub.initiating(b.pub)
    await asyncio.sleep(0)  # b received the opening; its answer is on the way
    net.disconnect(a, b)
    await settle(net)
    assert not a.sync.hub.initiating(b.pub)
    assert a.sync.counters["sessions_failed"] == 1
    assert b.sync.counters["sessions_failed"] == 1
    assert a.sync.last_sync == {}


async def test_sync_all_reports_each_online_contact(net: Net, tmp_path: Path) -> None:
    a, b, c, d = nodes(net, tmp_path, 4)
    for n, count in ((b, 3), (c, 2)):
        for i in range(count):
            append_entry(n.store, n.key, timestamp_ms=100 + i, body=f"{i}")
    net.connect(a, b)
    net.connect(a, c)
    results = await a.sync.sync_all(5.0)
    assert {r.peer: (r.stored, r.error) for r in results} == {b.pub: (3, None), c.pub: (2, None)}
    assert a.ids() == b.ids() | c.ids()
    assert d.pub not in {r.peer for r in results}


async def test_sync_all_with_nobody_online(net: Net, tmp_path: Path) -> None:
    a, _ = nodes(net, tmp_path)
    assert await a.sync.sync_all(1.0) == []


async def test_sync_all_when_no_space_is_shared(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    cfg_without_default = MemoryConfig()
    a.sync.cfg = cfg_without_default
    # apply_spaces would share default again: this node's config keeps it private
    a.sync._apply_spaces = lambda: False  # type: ignore[method-assign]
    a.store.set_space(Space("default", False))
    [result] = await a.sync.sync_all(1.0)
    assert (result.peer, result.error, result.stored) == (b.pub, None, 0)
    assert a.sync.counters["sessions_started"] == 0


async def test_sync_all_when_the_send_fails(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    a.links.refuse_sends = True
    [result] = await a.sync.sync_all(1.0)
    assert result.peer == b.pub and result.error == "link closed"
    assert not a.sync.hub.initiating(b.pub)


async def test_sync_all_times_out(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    b.sync.handler = lambda _contact, _body: []  # type: ignore[method-assign]
    [result] = await a.sync.sync_all(0.05)
    assert result.peer == b.pub and result.error == "timed out"


async def test_waiter_of_a_peer_that_went_offline(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    b.sync.handler = lambda _contact, _body: []  # type: ignore[method-assign]
    a.sync.wrote("default")
    a.sync._tick()  # a session is running: sync_all has to wait for the next one
    waiting = asyncio.create_task(a.sync.sync_all(5.0))
    await asyncio.sleep(0)
    net.disconnect(a, b)  # the running session fails; the rerun finds b offline
    a.sync._tick()
    [result] = await asyncio.wait_for(waiting, 1.0)
    assert (result.peer, result.error) == (b.pub, "offline")


async def test_write_during_a_session_runs_it_again(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    first = write(a, "one", ts=1000)
    a.sync._tick()
    second = write(a, "two", ts=2000)
    a.sync._tick()  # still running: queued to run again
    assert a.sync.counters["sessions_started"] == 1
    await settle(net)
    assert a.sync.counters["sessions_completed"] == 1
    a.sync._tick()
    await settle(net)
    assert a.sync.counters["sessions_started"] == 2
    assert a.sync.counters["sessions_completed"] == 2
    assert {first, second} <= b.ids()
    a.sync._tick()
    assert a.sync.counters["sessions_started"] == 2  # nothing left to do


async def test_entries_from_one_contact_spread_to_others(net: Net, tmp_path: Path) -> None:
    a, b, c = nodes(net, tmp_path, 3)
    net.connect(a, b)
    net.connect(b, c)
    entry = write(a, "gossip")
    a.sync._tick()
    await settle(net)
    assert entry in b.ids() and entry not in c.ids()
    b.sync._tick()  # b got it from a: c shares default, so b syncs with c (not back to a)
    await settle(net)
    assert entry in c.ids()
    opened_by_b = {p for p, _, env in b.links.sent if decode_envelope(env)[0] == FROM_INITIATOR}
    assert opened_by_b == {c.pub}
    assert b.sync.counters["sessions_started"] == 1


async def test_periodic_round(net: Net, tmp_path: Path) -> None:
    cfg = MemoryConfig(sync_interval=30.0)
    a = make_node(net, tmp_path, 1, cfg)
    b = make_node(net, tmp_path, 2)
    net.connect(a, b)
    a.sync._tick()
    assert a.sync.counters["sessions_started"] == 0
    a.clock.now += 30.0
    a.sync._tick()
    await settle(net)
    assert a.sync.counters["sessions_completed"] == 1
    a.clock.now += 10.0
    a.sync._tick()
    assert a.sync.counters["sessions_started"] == 1


async def test_run_loop_ticks_until_cancelled(
    net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memsync, "TICK", 0.001)
    a, b = nodes(net, tmp_path)
    net.connect(a, b, dialer=a)
    task = asyncio.create_task(a.sync.run())
    entry = write(b, "later")
    for _ in range(500):
        await asyncio.sleep(0.002)
        if entry in a.ids():
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert entry in a.ids()


async def test_split_views_are_counted_and_kept(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    fake = merkle.sign_tree_head(a.key, 99, bytes(32), 1)
    b.store.record_tree_head(a.pub, SEEN, fake)
    await a.sync.sync_all(5.0)
    assert b.sync.counters["split_views"] == 1
    [report] = b.sync.split_views
    assert report["peer"] == a.pub.hex() and report["reason"] == "log shrank"


async def test_split_view_reports_are_bounded(net: Net, tmp_path: Path) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    for _ in range(MAX_SPLIT_VIEWS + 3):
        b.store.record_tree_head(a.pub, SEEN, merkle.sign_tree_head(a.key, 99, bytes(32), 1))
        await a.sync.sync_all(5.0)
    assert b.sync.counters["split_views"] == MAX_SPLIT_VIEWS + 3
    assert len(b.sync.split_views) == MAX_SPLIT_VIEWS


async def test_a_contact_coming_online_gets_the_spaces_that_name_it(
    net: Net, tmp_path: Path
) -> None:
    a, b = nodes(net, tmp_path)
    a.sync.cfg = MemoryConfig(spaces=(SpaceConfig("work", ("bob",)),))
    a.sync._apply_spaces()
    assert a.store.space("work") == Space("work", False)  # no contact called bob yet

    class Book:  # bob has just been added
        def find(self, name: str) -> SimpleNamespace:
            if name != "bob":
                raise ContactError(name)
            return SimpleNamespace(identity=b.pub)

    a.sync.book = Book()  # type: ignore[assignment]
    net.connect(a, b)
    assert a.store.space("work") == Space("work", False, frozenset({b.pub}))


async def test_a_sync_whose_link_closes_is_run_once_more_on_the_next_link(
    net: Net, tmp_path: Path
) -> None:
    a, b = nodes(net, tmp_path)
    net.connect(a, b)
    entry = write(a, "across a link change", space="default")
    answer = b.sync.handler
    b.sync.handler = lambda _contact, _body: []  # type: ignore[method-assign]  # link is dying
    waiting = asyncio.ensure_future(a.sync.sync_all(5.0))
    await settle(net)
    assert a.sync.hub.initiating(b.pub)
    a.sync.on_link(b.pub, False, True)  # replaced by a newer link (or dropped)
    assert not waiting.done()  # the caller waits for the retry, not for "link closed"
    b.sync.handler = answer  # type: ignore[method-assign]
    a.sync._tick()  # the retry starts on the next tick
    await settle(net)
    [result] = await waiting
    assert (result.peer, result.error) == (b.pub, None)
    assert entry in b.ids()
    assert a.sync.counters["sessions_started"] == 2
