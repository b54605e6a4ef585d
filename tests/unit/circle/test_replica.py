"""The replica on a small synchronous circle: normal case, checkpoints and garbage
collection, view changes, equivocation, reconfiguration, state transfer, restore."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.circle.decisions import AddMember, RemoveMember, Tombstone
from gateway.circle.messages import (
    Commit,
    PrePrepare,
    check_equivocation,
    decode,
    make_pre_prepare,
    make_request,
)
from gateway.circle.outputs import (
    CheckpointStable,
    Committed,
    Fault,
    FaultKind,
    MembershipChanged,
    StateTransferred,
    ViewChanged,
)
from gateway.circle.pbft import Replica
from gateway.circle.quorum import quorum
from gateway.circle.ranks import NO_RANK, primary_order
from gateway.errors import CircleStateError
from tests.unit.circle.cluster import Cluster


def tomb(i: int) -> Tombstone:
    return Tombstone(hashlib.sha256(b"entry%d" % i).digest())


def digests(c: Cluster, members: list[int]) -> set[bytes]:
    return {c.replicas[i].state.digest for i in members}


def test_quorum_sizes() -> None:
    assert [quorum(n) for n in range(1, 11)] == [1, 2, 2, 3, 4, 4, 5, 6, 6, 7]
    for n in range(1, 40):
        f = (n - 1) // 3
        assert 2 * quorum(n) - n >= f + 1  # two quorums share an honest member
        assert quorum(n) <= n - f  # the honest members alone form a quorum


def test_primary_order_is_deterministic_and_takes_the_agreed_rank() -> None:
    keys = tuple(sorted(bytes([i]) * 32 for i in (3, 1, 2)))
    assert primary_order(keys, ()) == keys  # nobody reported: by key
    # every member ranks the others: keys[0] worst, keys[1] best, keys[2] in the middle
    given = {keys[0]: 3, keys[1]: 0, keys[2]: 2}
    reports = tuple((p, tuple(NO_RANK if k == p else given[k] for k in keys)) for p in keys)
    assert primary_order(keys, reports) == (keys[1], keys[2], keys[0])


def test_every_member_commits_the_same_decisions_in_order() -> None:
    c = Cluster(4, k=2)
    for i in range(5):
        c.propose(i % 4, tomb(i))
    for i in range(4):
        seqs = [e.seq for e in c.of(i, Committed)]  # type: ignore[attr-defined]
        assert seqs == [1, 2, 3, 4, 5]
    assert len(digests(c, [0, 1, 2, 3])) == 1
    assert c.replicas[0].state.tombstones == {tomb(i).entry_id for i in range(5)}


def test_a_single_member_circle_orders_alone() -> None:
    c = Cluster(1, k=1)
    c.propose(0, tomb(1))
    assert [e.seq for e in c.of(0, Committed)] == [1]  # type: ignore[attr-defined]
    assert c.replicas[0].stable_seq == 1


def test_checkpoints_become_stable_and_the_log_is_collected() -> None:
    c = Cluster(4, k=2)
    for i in range(7):
        c.propose(i % 4, tomb(i))
    r = c.replicas[1]
    stable = [e.seq for e in c.of(1, CheckpointStable)]  # type: ignore[attr-defined]
    assert stable == [2, 4, 6]
    assert r.stable_seq == 6 and r.last_executed == 7
    assert all(n > 6 for n in r._pp)
    assert all(n > 6 for n in r._commits)
    assert all(n > 6 for n in r._certs)
    assert all(k[1] > 6 for k in r._prepares)
    assert all(n > 6 for n in r._checkpoints)
    assert set(r._snapshots) == set()
    # the watermarks moved to (6, 10]; past 8 only once 8 is executed (its membership known)
    assert r._in_window(10) and not r._in_window(11) and not r._in_window(6)
    assert r._may_act(8) and not r._may_act(9)


def test_the_primary_stops_at_the_high_watermark_until_a_checkpoint_is_stable() -> None:
    c = Cluster(4, k=2)
    # CHECKPOINT messages are lost: the window (2k = 4) fills and stays full
    c.tamper = lambda s, d, data: None if decode(data).__class__.__name__ == "Checkpoint" else data
    for i in range(6):
        c.propose(1, tomb(i))
    assert c.replicas[0].last_executed == 4 and c.replicas[0].stable_seq == 0
    c.tamper = None
    c.advance(500)  # retransmitted checkpoints make 2 and 4 stable; the rest is ordered
    assert c.replicas[0].stable_seq == 6 and c.replicas[0].last_executed == 6


def test_a_silent_primary_is_replaced() -> None:
    c = Cluster(4, k=2)
    primary = c.index(c.replicas[0].primary)
    c.down.add(primary)
    backup = (primary + 1) % 4
    c.propose(backup, tomb(1))
    assert c.replicas[backup].last_executed == 0
    c.advance(1_000)
    others = [i for i in range(4) if i != primary]
    for i in others:
        assert c.replicas[i].view == 1 and c.replicas[i].active
        assert [e.view for e in c.of(i, ViewChanged)] == [1]  # type: ignore[attr-defined]
        assert c.replicas[i].last_executed == 1
        faults = [e for e in c.of(i, Fault) if e.kind is FaultKind.SILENT_PRIMARY]  # type: ignore[attr-defined]
        assert faults and faults[0].member == c.ids[primary]  # type: ignore[attr-defined]
    # the old primary comes back: it catches up, and follows view 1 at the next request
    c.down.clear()
    c.advance(1_000)
    assert c.replicas[primary].last_executed == 1
    c.propose(backup, tomb(2))
    c.advance(500)
    assert c.replicas[primary].view == 1 and c.replicas[primary].last_executed == 2
    assert len(digests(c, list(range(4)))) == 1


def test_a_view_change_keeps_what_was_prepared() -> None:
    c = Cluster(4, k=4)
    primary = c.index(c.replicas[0].primary)

    # COMMITs of view 0 are lost: seq 1 is prepared everywhere but committed nowhere
    def no_commits_in_view_0(src: int, dst: int, data: bytes) -> bytes | None:
        msg = decode(data, verify=False)
        return None if isinstance(msg, Commit) and msg.view == 0 else data

    c.tamper = no_commits_in_view_0
    c.propose((primary + 1) % 4, tomb(1))
    assert all(r.last_executed == 0 for r in c.replicas.values())
    c.down.add(primary)
    c.advance(1_500)
    others = [i for i in range(4) if i != primary]
    for i in others:
        assert c.replicas[i].view >= 1
        committed = c.of(i, Committed)
        assert [(e.seq, e.decision) for e in committed] == [(1, tomb(1))]  # type: ignore[attr-defined]


def test_an_equivocating_primary_is_caught_with_evidence() -> None:
    c = Cluster(4, k=2)
    primary = c.index(c.replicas[0].primary)
    key = c.keys[primary]
    victim = (primary + 1) % 4

    def equivocate(src: int, dst: int, data: bytes) -> bytes | None:
        msg = decode(data, verify=False)
        if src == primary and dst == victim and isinstance(msg, PrePrepare):
            evil = make_request(key, msg.circle_id, 99, tomb(666))
            return make_pre_prepare(key, msg.circle_id, msg.view, msg.seq, evil).raw
        return data

    c.tamper = equivocate
    c.propose(victim, tomb(1))
    faults = [e for e in c.of(victim, Fault) if e.kind is FaultKind.EQUIVOCATION]  # type: ignore[attr-defined]
    assert faults, "the victim sees PREPAREs quoting the primary's other signature"
    fault = faults[0]
    assert fault.member == c.ids[primary]  # type: ignore[attr-defined]
    circle, who, view, seq = check_equivocation(fault.evidence)  # type: ignore[attr-defined]
    assert (circle, who, view, seq) == (c.genesis.circle_id, c.ids[primary], 0, 1)
    c.tamper = None
    c.advance(2_000)
    values = {tuple(e.decision for e in c.of(i, Committed)) for i in range(4)}  # type: ignore[attr-defined]
    assert len(values) == 1  # every member committed the same sequence
    assert len(digests(c, list(range(4)))) == 1


def test_a_member_left_behind_catches_up_by_state_transfer() -> None:
    c = Cluster(4, k=2)
    c.down.add(3)
    for i in range(9):
        c.propose(i % 3, tomb(i))
    assert c.replicas[0].stable_seq == 8 and c.replicas[3].last_executed == 0
    c.down.clear()
    c.advance(1_000)
    late = c.replicas[3]
    transferred = c.of(3, StateTransferred)
    assert [e.seq for e in transferred] == [8]  # type: ignore[attr-defined]
    assert late.last_executed == 9 and late.stable_seq == 8
    assert [e.seq for e in c.of(3, Committed)] == [9]  # type: ignore[attr-defined]
    assert len(digests(c, list(range(4)))) == 1


def test_a_crashed_member_restores_from_its_snapshot_and_catches_up() -> None:
    c = Cluster(4, k=2)
    for i in range(3):
        c.propose(i % 4, tomb(i))
    saved = c.replicas[2].snapshot()
    c.down.add(2)
    for i in range(3, 8):
        c.propose(i % 2, tomb(i))
    restored = Replica.restore(c.keys[2], saved, now_ms=c.now, timing=c.timing)
    assert restored.last_executed == 3 and restored.state == c.replicas[2].state
    assert restored.snapshot() == saved
    c.replicas[2] = restored
    c.down.clear()
    c.handle(2, restored.catch_up(c.now))
    c.flush()
    c.advance(500)
    assert restored.last_executed == 8
    assert len(digests(c, list(range(4)))) == 1


def test_a_bad_snapshot_is_refused() -> None:
    c = Cluster(4)
    saved = c.replicas[0].snapshot()
    with pytest.raises(CircleStateError):
        Replica.restore(c.keys[0], b"nonsense", now_ms=0)
    with pytest.raises(CircleStateError):
        Replica.restore(c.keys[0], saved[:-3], now_ms=0)


def test_membership_changes_at_the_next_checkpoint_boundary() -> None:
    c = Cluster(4, k=4, extra=1)
    joiner = 4
    c.down.add(joiner)
    c.propose(0, AddMember(c.ids[joiner]))
    r = c.replicas[1]
    # executed at seq 1; seqs 2..4 (null requests the primary padded the block with) are
    # still ordered by the four genesis members; the five order from seq 5 on
    kinds = [(type(e).__name__, getattr(e, "seq", None)) for e in c.events[1]]
    assert kinds == [
        ("Committed", 1),
        ("CheckpointStable", 4),
        ("MembershipChanged", 4),
    ]
    changed = c.of(1, MembershipChanged)
    assert [(e.seq, len(e.members)) for e in changed] == [(4, 5)]  # type: ignore[attr-defined]
    assert r.stable_seq == 4 and r.members == tuple(sorted(c.ids))
    assert [link.seq for link in r._links] == [4]
    # the new member joins: state transfer, then it votes (one of the others is down:
    # without the joiner's vote there is no quorum of five)
    c.down = {3}
    c.advance(1_000)
    assert c.replicas[joiner].is_member and c.replicas[joiner].stable_seq == 4
    c.propose(1, tomb(1))
    c.advance(200)
    for i in (0, 1, 2, joiner):
        assert tomb(1).entry_id in c.replicas[i].state.tombstones


def test_a_removed_member_no_longer_counts() -> None:
    c = Cluster(4, k=2)
    gone = 3
    c.propose(0, RemoveMember(c.ids[gone]))
    assert c.replicas[0].members == tuple(sorted(c.ids[:3]))
    assert not c.replicas[gone].is_member
    with pytest.raises(CircleStateError):
        c.replicas[gone].propose(tomb(1), c.now)
    c.down = {2}  # 2 of 3 remaining members are a quorum of 3
    c.propose(1, tomb(2))
    assert tomb(2).entry_id in c.replicas[0].state.tombstones


def test_messages_from_a_non_member_or_impersonator_are_refused() -> None:
    c = Cluster(4)
    r = c.replicas[0]
    req = make_request(c.keys[1], c.genesis.circle_id, 1, tomb(1))
    out = r.receive(req.raw, c.ids[2], 0)  # a relayed REQUEST is fine
    assert not [o for o in out if isinstance(o, Fault)]
    pp = make_pre_prepare(c.keys[1], c.genesis.circle_id, 0, 1, req)
    out = r.receive(pp.raw, c.ids[2], 0)
    assert [o.kind for o in out if isinstance(o, Fault)] == [FaultKind.IMPERSONATION]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_a_replica_takes_any_bytes_without_raising(data: bytes) -> None:
    c = Cluster(4)
    out = c.replicas[0].receive(data, c.ids[1], 0)
    assert all(isinstance(o, Fault) for o in out)


def test_a_member_that_jumped_past_the_new_view_base_joins_that_view() -> None:
    """A member that state-transferred past a NEW-VIEW's base does not know the primary
    order there, so cannot check who sent it; when the NEW-VIEW changes nothing above its
    stable checkpoint, it still joins the view (PROTOCOL-circles §6) and votes in it."""
    c = Cluster(4, k=2)
    late = 3
    old_primary = c.index(c.replicas[0].primary)
    assert old_primary != late
    c.down.add(late)
    for i in range(2):
        c.propose(i % 3, tomb(i))
    assert c.replicas[0].stable_seq == 2

    # the primary's PRE-PREPAREs are lost: the others replace it, with base 2
    def drop_pre_prepares(s: int, d: int, data: bytes) -> bytes | None:
        return None if s == old_primary and isinstance(decode(data), PrePrepare) else data

    c.tamper = drop_pre_prepares
    up = [i for i in range(4) if i != late]
    c.propose(next(i for i in up if i != old_primary), tomb(2))
    c.advance(1_000)
    view = c.replicas[up[0]].view
    assert view >= 1 and all(c.replicas[i].view == view and c.replicas[i].active for i in up)
    c.tamper = None
    for i in range(3, 7):
        c.propose(up[i % 3], tomb(i))
    assert c.replicas[up[0]].stable_seq >= 6
    # the late member comes back: it jumps to the stable checkpoint by state transfer
    c.down.clear()
    c.handle(late, c.replicas[late].catch_up(c.now))
    c.flush()
    c.advance(600)
    r = c.replicas[late]
    transferred = [e.seq for e in c.of(late, StateTransferred)]  # type: ignore[attr-defined]
    assert transferred and transferred[0] > 2  # past the base of the new view
    c.propose(up[0], tomb(7))  # messages of the new view reach it: it follows
    c.advance(600)
    assert r.view == view and r.active
    # and its vote counts: with another member down, the circle still orders
    other = next(i for i in up if c.ids[i] != r.primary)
    c.down.add(other)
    before = r.last_executed
    c.propose(late, tomb(9))
    c.advance(200)
    assert r.last_executed > before and r.view == view
