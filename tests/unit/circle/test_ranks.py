"""Rank reports: their encoding, the state they build, the agreed rank (a median that f
liars cannot move past the honest members) and the primary order it gives, which changes
only at checkpoint boundaries and survives snapshots and state transfer."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.circle.codec import u8, u32
from gateway.circle.decisions import (
    AddMember,
    CircleState,
    DecisionKind,
    RankReport,
    RemoveMember,
    SetSpace,
    SpacePolicy,
    Tombstone,
    decode_decision,
    decode_state,
    encode_decision,
    execute,
    public_bytes,
    sha256,
)
from gateway.circle.messages import decode, make_request
from gateway.circle.outputs import CheckpointStable, Committed, StateTransferred
from gateway.circle.pbft import Replica
from gateway.circle.quorum import faults_tolerated
from gateway.circle.ranks import (
    NEUTRAL_RANK,
    NO_RANK,
    RANK_BUCKETS,
    Reports,
    agreed_ranks,
    apply_report,
    primary_order,
)
from gateway.contacts import reputation as contact_reputation
from gateway.contacts.reputation import NEUTRAL, rank_bucket
from gateway.errors import CircleError
from tests.unit.circle.cluster import Cluster
from tests.unit.circle.sim import sim_key

CIRCLE = hashlib.sha256(b"rank-circle").digest()
IDS = tuple(sorted(public_bytes(sim_key(i)) for i in range(7)))
WORST = RANK_BUCKETS - 1


def members_hash(members: tuple[bytes, ...]) -> bytes:
    return sha256(b"".join(members))


def report_of(members: tuple[bytes, ...], ranks: dict[bytes, int]) -> RankReport:
    """A report of ``members`` (neutral for those not in ``ranks``)."""
    return RankReport(members_hash(members), tuple(ranks.get(m, NEUTRAL_RANK) for m in members))


def tomb(i: int) -> Tombstone:
    return Tombstone(hashlib.sha256(b"rank entry %d" % i).digest())


# --- encoding ------------------------------------------------------------------------------


def test_the_constants_are_the_reputation_buckets() -> None:
    assert contact_reputation.RANK_BUCKETS == RANK_BUCKETS
    assert rank_bucket(NEUTRAL, RANK_BUCKETS) == NEUTRAL_RANK
    assert rank_bucket(1.0, RANK_BUCKETS) == 0 and rank_bucket(0.0, RANK_BUCKETS) == WORST
    assert int(DecisionKind.RANK_REPORT) == 6


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=32, max_size=32), st.lists(st.integers(0, WORST), min_size=1, max_size=128)
)
def test_a_rank_report_round_trips(digest: bytes, ranks: list[int]) -> None:
    report = RankReport(digest, tuple(ranks))
    raw = encode_decision(report)
    assert raw == bytes([6]) + digest + bytes([len(ranks)]) + bytes(ranks)
    assert len(raw) <= 2048  # 162 bytes for 128 members
    assert decode_decision(raw) == report
    request = make_request(sim_key(0), CIRCLE, 5, report)
    assert decode(request.raw) == request


def test_malformed_rank_reports_are_refused() -> None:
    good = encode_decision(RankReport(bytes(32), (0, 1, 2, 3)))
    head = bytes([6]) + bytes(32)
    cases = {
        "malformed": [
            head + bytes([0]),  # no ranks
            head + bytes([2, 0, RANK_BUCKETS]),  # a rank out of range
            head + bytes([1, NO_RANK]),  # "no rank" is for the state only
        ],
        "oversized": [head + bytes([129]) + bytes(129)],
        "truncated": [good[:-1], bytes([6]) + bytes(31), head + bytes([3, 0])],
        "trailing": [good + b"\x00"],
    }
    for reason, items in cases.items():
        for raw in items:
            with pytest.raises(CircleError) as info:
                decode_decision(raw)
            assert info.value.reason == reason, raw.hex()
    for bad in (
        RankReport(bytes(31), (0,)),
        RankReport(bytes(32), ()),
        RankReport(bytes(32), (4,)),
    ):
        with pytest.raises(ValueError):
            encode_decision(bad)


# --- the state ---------------------------------------------------------------------------


def four() -> CircleState:
    return CircleState(CIRCLE, 0, IDS[:4])


def test_a_state_without_reports_keeps_its_encoding() -> None:
    state = four()
    state, _ = execute(state, 1, IDS[0], 1, tomb(1))
    # the body has exactly the four sections it always had
    assert state.body == u32(0) + u32(1) + tomb(1).entry_id + u32(0) + u32(1) + IDS[0] + (
        u8(1) + (1).to_bytes(8, "big")
    )
    assert state.order == IDS[:4] and state.ranks == (NEUTRAL_RANK,) * 4
    assert decode_state(state.encode()) == state
    # the digest computed before RANK-REPORT existed (checkpoints of existing circles hold)
    state, _ = execute(state, 2, IDS[1], 5, SetSpace("team", SpacePolicy.OPEN))
    assert state.digest.hex() == (
        "79ccb62d16c631b480b7d3e62aa40f2e062197e317bd0ee145f9998423f2a5f1"
    )


def test_reports_are_executed_stored_and_encoded() -> None:
    state = four()
    a, b, c, d = IDS[:4]
    state, applied = execute(state, 1, a, 1, report_of(IDS[:4], {b: 0, c: 2, d: WORST}))
    assert applied
    assert state.reports == ((a, (NO_RANK, 0, 2, WORST)),)  # its own entry: no rank
    assert decode_state(state.encode()) == state
    assert state.body.endswith(u32(1) + a + u8(4) + bytes([NO_RANK, 0, 2, WORST]))
    # the same report again: no change (its timestamp is recorded)
    same, applied = execute(state, 2, a, 2, report_of(IDS[:4], {b: 0, c: 2, d: WORST}))
    assert not applied and same.reports == state.reports
    # made for another member list: ignored
    stale = RankReport(members_hash(IDS[:3]), (0, 0, 0, 0))
    after, applied = execute(state, 3, b, 3, stale)
    assert not applied and after.reports == state.reports and 3 in dict(after.executed)[b]
    short = RankReport(members_hash(IDS[:4]), (0, 0, 0))
    assert not execute(state, 3, b, 3, short)[1]
    # from a non-member: nothing at all
    outsider, applied = execute(state, 4, IDS[5], 1, report_of(IDS[:4], {}))
    assert not applied and outsider.reports == state.reports
    # a second reporter, and a new report replacing the first
    state, _ = execute(state, 5, c, 1, report_of(IDS[:4], {a: 1, b: 1, d: WORST}))
    state, _ = execute(state, 6, a, 7, report_of(IDS[:4], {b: 1, c: 1, d: 2}))
    assert [p for p, _ in state.reports] == [a, c]
    assert dict(state.reports)[a] == (NO_RANK, 1, 1, 2)
    assert decode_state(state.encode()).digest == state.digest


def test_reports_follow_membership_changes_by_key() -> None:
    a, b, c, d = IDS[:4]
    state = four()
    state, _ = execute(state, 1, a, 1, report_of(IDS[:4], {b: 0, c: 2, d: WORST}))
    state, _ = execute(state, 2, d, 1, report_of(IDS[:4], {a: 0, b: 0, c: 0}))
    state, _ = execute(state, 3, b, 1, RemoveMember(d))
    # d's report is gone, and so is a's rank of d
    assert state.members == (a, b, c) and state.reports == ((a, (NO_RANK, 0, 2)),)
    newcomer = IDS[6]
    state, _ = execute(state, 4, b, 2, AddMember(newcomer))
    assert state.members == (a, b, c, newcomer)
    assert state.reports == ((a, (NO_RANK, 0, 2, NO_RANK)),)  # no rank of the newcomer yet
    assert decode_state(state.encode()) == state
    # a report made before the change no longer applies
    _, applied = execute(state, 5, c, 1, report_of((a, b, c), {}))
    assert not applied


def test_non_canonical_reports_are_refused() -> None:
    a, b = IDS[:2]
    base = four()

    def with_reports(section: bytes) -> bytes:
        body = base.body + section
        return base.encode()[: -len(base.body) - 4] + u32(len(body)) + body

    good = u32(1) + a + u8(4) + bytes([NO_RANK, 0, 1, 2])
    assert decode_state(with_reports(good)).reports == ((a, (NO_RANK, 0, 1, 2)),)
    second = b + u8(4) + bytes([0, NO_RANK, 1, 2])
    for section in [
        u32(0),  # an empty section must be left out
        u32(2) + b + u8(4) + bytes([0, NO_RANK, 1, 2]) + a + u8(4) + bytes([NO_RANK, 0, 1, 2]),
        u32(2) + second + second,  # repeated
        u32(1) + IDS[5] + u8(4) + bytes([0, 0, 0, 0]),  # not a member
        u32(1) + a + u8(3) + bytes([NO_RANK, 0, 1]),  # not one rank per member
        u32(1) + a + u8(4) + bytes([0, 0, 1, 2]),  # ranks its own proposer
        u32(1) + a + u8(4) + bytes([NO_RANK, 0, 1, RANK_BUCKETS]),  # out of range
    ]:
        with pytest.raises(CircleError) as info:
            decode_state(with_reports(section))
        assert info.value.reason in {"malformed", "truncated", "trailing"}


# --- the agreed rank -----------------------------------------------------------------------


def test_the_agreed_rank_is_the_lower_median_of_the_others() -> None:
    a, b, c, d = IDS[:4]
    members = IDS[:4]
    assert agreed_ranks(members, ()) == (NEUTRAL_RANK,) * 4
    assert agreed_ranks(IDS[:1], ()) == (NEUTRAL_RANK,)
    reports = apply_report(members, (), a, (3, 0, 3, 3))  # a ranks itself best: ignored
    assert agreed_ranks(members, reports)[0] == NEUTRAL_RANK
    # b's rank from a, c, d: 0 (a), neutral, neutral -> lower median is neutral
    assert agreed_ranks(members, reports)[1] == NEUTRAL_RANK
    reports = apply_report(members, reports, c, (0, 0, 0, 0))
    # b: [0, 0, 1] -> 0; d: [3, 0, 1] -> 1; a: [1, 0, 1] (b, c, d) -> 1
    assert agreed_ranks(members, reports) == (1, 0, 1, 1)
    # an even count takes the lower one: 5 members, b ranked [0, 3, 3, 0] -> 0
    five = IDS[:5]
    reports5: Reports = ()
    for p, r in zip((a, c, d, IDS[4]), (0, 3, 3, 0), strict=True):
        reports5 = apply_report(five, reports5, p, tuple(r for _ in five))
    assert agreed_ranks(five, reports5)[1] == 0
    assert primary_order(five, reports5)[0] == b


def liars_setup(n: int, liars: list[int]) -> tuple[tuple[bytes, ...], Reports]:
    """n members; every honest member ranks the liars worst and the honest ones neutral; every
    liar ranks the liars best and the honest ones worst."""
    members = IDS[:n]
    bad = {members[i] for i in liars}
    reports: Reports = ()
    for p in members:
        if p in bad:
            ranks = tuple(0 if m in bad else WORST for m in members)
        else:
            ranks = tuple(WORST if m in bad else NEUTRAL_RANK for m in members)
        reports = apply_report(members, reports, p, ranks)
    return members, reports


@pytest.mark.parametrize(
    ("n", "liars"), [(4, [0]), (4, [2]), (7, [0, 1]), (7, [0, 6]), (10, [0, 1, 2])]
)
def test_f_liars_cannot_lead_when_the_honest_rank_them_worst(n: int, liars: list[int]) -> None:
    assert len(liars) == faults_tolerated(n)
    members, reports = liars_setup(n, liars)
    ranks = agreed_ranks(members, reports)
    for i, rank in enumerate(ranks):
        assert rank == (WORST if i in liars else NEUTRAL_RANK)
    order = primary_order(members, reports)
    assert set(order[-len(liars) :]) == {members[i] for i in liars}  # all the liars last
    assert order[0] not in {members[i] for i in liars}  # even those with the lowest keys


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_agreed_rank_lies_between_honest_reports(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 7), "n")
    members = IDS[:n]
    f = faults_tolerated(n)
    liars = set(data.draw(st.lists(st.sampled_from(members), max_size=f, unique=True), "liars"))
    reports: Reports = ()
    for p in members:
        if data.draw(st.booleans(), "reports"):
            ranks = data.draw(st.lists(st.integers(0, WORST), min_size=n, max_size=n), "ranks")
            reports = apply_report(members, reports, p, ranks)
    agreed = agreed_ranks(members, reports)
    by = dict(reports)
    for i, m in enumerate(members):
        honest = [
            (by[j][i] if j in by else NEUTRAL_RANK) for j in members if j != m and j not in liars
        ]
        if honest:
            assert min(honest) <= agreed[i] <= max(honest), (i, honest, agreed)


# --- in the replicas ------------------------------------------------------------------------


def demote(c: Cluster, worst: int, honest: list[int]) -> None:
    """Each member of ``honest`` reports ``worst`` as rank 3 and the others as 0."""
    for i in honest:
        members = c.replicas[i].state.members
        ranks = {m: 0 for m in members} | {c.ids[worst]: WORST}
        c.propose(i, report_of(members, ranks))


def test_the_order_changes_only_at_a_checkpoint_boundary() -> None:
    c = Cluster(4, k=4)
    first = c.index(c.replicas[0].primary)  # the lowest key leads view 0
    assert c.replicas[0].order == tuple(sorted(c.ids))
    others = [i for i in range(4) if i != first]
    demote(c, first, others[:2])
    # two reports executed (seqs 1, 2): the executed state already puts `first` last, the
    # configuration in force does not, until the block is padded to seq 4 and 4 is stable
    for i in range(4):
        r = c.replicas[i]
        assert r.state.order[-1] == c.ids[first]
        assert r.stable_seq == 4 and r.last_executed == 4
        assert r.order[-1] == c.ids[first] and r.primary != c.ids[first]
    stable = [e.seq for e in c.of(0, CheckpointStable)]  # type: ignore[attr-defined]
    assert stable == [4]
    # decisions go on under the new primary, in view 0 still
    c.propose(first, tomb(1))
    for i in range(4):
        assert c.replicas[i].view == 0
        assert tomb(1).entry_id in c.replicas[i].state.tombstones
    assert len({r.state.digest for r in c.replicas.values()}) == 1


def test_a_report_is_not_counted_before_its_boundary_is_stable() -> None:
    c = Cluster(4, k=4)
    first = c.index(c.replicas[0].primary)
    others = [i for i in range(4) if i != first]
    # checkpoints are lost: the boundary executes but does not become stable
    c.tamper = lambda s, d, data: None if type(decode(data)).__name__ == "Checkpoint" else data
    demote(c, first, others[:2])
    r = c.replicas[others[0]]
    assert r.last_executed == 4 and r.stable_seq == 0
    assert r.order == tuple(sorted(c.ids)) and r.primary == c.ids[first]
    assert not r._may_act(5)  # no vote past a boundary that changes the order
    c.tamper = None
    c.advance(500)
    assert r.stable_seq == 4 and r.order[-1] == c.ids[first]


def test_a_member_restored_from_a_snapshot_computes_the_same_order() -> None:
    c = Cluster(4, k=2)
    first = c.index(c.replicas[0].primary)
    others = [i for i in range(4) if i != first]
    demote(c, first, others)
    c.propose(others[0], tomb(2))
    saved = {i: c.replicas[i].snapshot() for i in range(4)}
    for i in range(4):
        restored = Replica.restore(c.keys[i], saved[i], now_ms=c.now, timing=c.timing)
        assert restored.order == c.replicas[i].order
        assert restored.order[-1] == c.ids[first]
        assert restored.primary == c.replicas[i].primary
        assert restored.state.reports == c.replicas[i].state.reports
        assert restored.snapshot() == saved[i]


def test_a_member_catching_up_by_state_transfer_computes_the_same_order() -> None:
    c = Cluster(4, k=2)
    first = c.index(c.replicas[0].primary)
    others = [i for i in range(4) if i != first]
    late = others[2]
    c.down.add(late)
    demote(c, first, others[:2])
    for i in range(5):  # (the new order may make `late` the primary: a view change or two)
        c.propose(others[i % 2], tomb(10 + i))
        c.advance(600)
    ahead = c.replicas[others[0]]
    assert ahead.order[-1] == c.ids[first] and ahead.stable_seq >= 4
    assert all(tomb(10 + i).entry_id in ahead.state.tombstones for i in range(5))
    c.down.clear()
    c.advance(1_500)
    r = c.replicas[late]
    assert c.of(late, StateTransferred)
    assert r.stable_state.reports == ahead.stable_state.reports
    assert r.order == ahead.order
    # and it votes under that order: one more decision needs it (the demoted one is down)
    c.down = {first}
    c.propose(others[0], tomb(99))
    c.advance(2_000)
    assert tomb(99).entry_id in r.state.tombstones
    assert r.view == ahead.view and r.primary == ahead.primary
    committed = [e for e in c.of(late, Committed) if e.decision == tomb(99)]  # type: ignore[attr-defined]
    assert committed
