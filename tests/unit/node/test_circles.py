"""The circle service over fake links (no tor): replicas fed, persisted, sent, applied."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.circle.decisions import (
    AddMember,
    Decision,
    RankReport,
    RecordAnswer,
    RemoveMember,
    SetSpace,
    SpacePolicy,
    Tombstone,
    public_bytes,
)
from gateway.circle.pbft import Replica, Timing
from gateway.circle.ranks import NEUTRAL_RANK, NO_RANK, RANK_BUCKETS
from gateway.errors import CircleStateError, DatabaseError
from gateway.memory.spaces import Space
from gateway.node.circles import (
    CHANNEL,
    KIND_GENESIS,
    LINK_MEMBERS,
    REPORT_INTERVAL,
    REPORT_INTERVAL_ENV,
    CircleService,
    _report_interval_from_env,
    decision_json,
    parse_decision,
)
from gateway.node.circlestore import JOINED, PENDING, CircleStore

TIMING = Timing(
    request_timeout_ms=1_500,
    view_change_timeout_ms=1_500,
    retransmit_ms=500,
    sync_interval_ms=1_000,
    max_backoff=3,
)
STEP = 0.25  # seconds of fake time per network round
WORST = RANK_BUCKETS - 1


class Spaces:
    """A fake memory store: spaces and suppressed entries."""

    def __init__(self) -> None:
        self.spaces: dict[str, Space] = {}
        self.suppressed: dict[bytes, str] = {}

    def set_space(self, space: Space) -> None:
        self.spaces[space.name] = space

    def space(self, name: str) -> Space | None:
        return self.spaces.get(name)

    def suppress(self, entry_id: bytes, reason: str) -> None:
        self.suppressed[entry_id] = reason


class Net:
    """In-process links between services, FIFO, with members that can be down."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.services: dict[bytes, CircleService] = {}
        self.queue: list[tuple[bytes, bytes, bytes]] = []
        self.down: set[bytes] = set()
        self.sent = 0

    def clock(self) -> float:
        return self.now

    async def rounds(self, n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)  # let proposals queue (a step need not yield)
            self.now += STEP
            queue, self.queue = self.queue, []
            for src, dst, body in queue:
                if dst not in self.down and src not in self.down and dst in self.services:
                    self.services[dst].handler(src, body)
            for key, svc in list(self.services.items()):
                if key not in self.down:
                    await svc.step()

    async def until(self, predicate: Any, limit: int = 400) -> int:
        for i in range(limit):
            if predicate():
                return i
            await self.rounds(1)
        raise AssertionError("the circle did not get there")


class Links:
    def __init__(self, net: Net, me: bytes) -> None:
        self.net, self.me = net, me

    def online(self) -> list[bytes]:
        return [k for k in self.net.services if k != self.me and k not in self.net.down]

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool:
        assert channel == CHANNEL
        if contact in self.net.down or self.me in self.net.down:
            return False
        self.net.queue.append((self.me, contact, body))
        self.net.sent += 1
        return True


class Contacts:
    def __init__(self, keys: set[bytes]) -> None:
        self.keys = keys

    def is_contact(self, identity: bytes) -> bool:
        return identity in self.keys


class Member:
    def __init__(self, net: Net, folder: Path, key: Ed25519PrivateKey, everyone: set[bytes]):
        self.net, self.folder, self.key = net, folder, key
        self.id = public_bytes(key)
        self.everyone = everyone
        self.spaces = Spaces()
        self.faults: list[tuple[bytes, str]] = []
        self.equivocate: str | None = None
        self.svc = self.open()

    def open(self) -> CircleService:
        svc = CircleService(
            self.key,
            self.folder / "circles.db",
            Links(self.net, self.id),
            Contacts(self.everyone - {self.id}),
            self.spaces,
            timing=TIMING,
            on_fault=lambda m, k: self.faults.append((m, k)),
            clock=self.net.clock,
            equivocate_in=self.equivocate or "",
        )
        self.net.services[self.id] = svc
        return svc


async def make_circle(
    tmp_path: Path, n: int = 4, *, interval: int = 4, equivocator: bool = False
) -> tuple[Net, list[Member], bytes]:
    """``n`` members, sorted by key (the first is view 0's primary); the first creates
    the circle named ``c`` (the equivocator's switch names it), the others join."""
    net = Net()
    keys = sorted((Ed25519PrivateKey.generate() for _ in range(n)), key=public_bytes)
    everyone = {public_bytes(k) for k in keys}
    members = []
    for i, key in enumerate(keys):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        m = Member(net, folder, key, everyone)
        if equivocator and i == 0:
            m.svc.equivocate_in = "c"
        members.append(m)
    circle = await members[0].svc.create("c", [m.id for m in members[1:]], interval=interval)
    await net.until(lambda: all(circle in m.svc._circles for m in members))
    for m in members[1:]:
        assert m.svc.get(circle).status == PENDING
        await m.svc.join(circle, "c")
    return net, members, circle


def rep(m: Member, circle: bytes) -> Replica:
    r = m.svc.get(circle).replica
    assert r is not None
    return r


async def propose(net: Net, member: Member, circle: bytes, decision: Decision) -> None:
    task = asyncio.ensure_future(member.svc.propose(circle, decision))
    while not task.done():
        await net.rounds(1)
    task.result()


def answer(i: int) -> RecordAnswer:
    return RecordAnswer(hashlib.sha256(b"round %d" % i).digest(), hashlib.sha256(b"a").digest())


async def logs(members: list[Member], circle: bytes) -> list[list[tuple[int, str, Any]]]:
    out = []
    for m in members:
        rows = await m.svc.log_json(circle)
        out.append([(r["seq"], r["kind"], r["decision"]) for r in rows])
    return out


def executed(members: list[Member], circle: bytes) -> set[int]:
    return {rep(m, circle).last_executed for m in members}


async def close_all(members: list[Member]) -> None:
    for m in members:
        await m.svc.close()


async def test_four_members_order_decisions_and_apply_them(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path)
    entry = hashlib.sha256(b"entry").digest()
    team = SetSpace("team", SpacePolicy.OPEN)
    for i, decision in enumerate([answer(1), team, Tombstone(entry), answer(2)]):
        await propose(net, members[i], circle, decision)
    await net.until(
        lambda: all(len(rep(m, circle).state.answers) == 2 and m.spaces.suppressed for m in members)
    )
    await net.rounds(4)
    every = await logs(members, circle)
    assert all(log == every[0] for log in every)
    assert [kind for _, kind, _ in every[0]] == [
        "record_answer",
        "set_space",
        "tombstone",
        "record_answer",
    ]
    for m in members:
        # the OPEN space is shared with the other members, never with oneself
        others = frozenset(x.id for x in members) - {m.id}
        assert m.spaces.spaces["team"] == Space("team", False, others)
        assert list(m.spaces.suppressed) == [entry]
        assert m.svc.governed_spaces()["team"] == m.spaces.spaces["team"]
    status = await members[2].svc.status_json(circle)
    assert status["status"] == JOINED and status["replica"]["n"] == 4
    assert status["replica"]["quorum"] == 3 and status["tombstones"] == [entry.hex()]
    assert len(status["answers"]) == 2 and status["faults"] == []
    assert all(not m.faults for m in members)
    await close_all(members)


async def test_a_member_restarted_from_its_database_catches_up(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path)
    for i in range(6):
        await propose(net, members[i % 4], circle, answer(i))
    victim = members[3]
    net.down.add(victim.id)  # "SIGKILL": no close, whatever it had in flight is lost
    victim.svc._exec.shutdown(wait=True)
    del net.services[victim.id]
    for i in range(6, 30):  # a quorum of three goes on, across several checkpoints
        await propose(net, members[i % 3], circle, answer(i))
    live = members[:3]
    await net.until(lambda: executed(live, circle) == {max(executed(live, circle))})
    net.down.discard(victim.id)
    victim.svc = victim.open()  # restored from circles.db, catches up by state transfer
    assert rep(victim, circle).last_executed > 0
    target = max(executed(live, circle))
    await net.until(lambda: len(executed(members, circle)) == 1)
    assert executed(members, circle).pop() >= target
    states = {rep(m, circle).state.digest for m in members}
    assert len(states) == 1
    assert len(rep(members[0], circle).state.answers) == 30
    # the victim's log: what it executed itself, then the jump, then the same decisions
    mine, other = await logs([victim, members[0]], circle)
    theirs = {seq: (kind, d) for seq, kind, d in other}
    assert any(kind == "state_transfer" for _, kind, _ in mine)
    for seq, kind, d in mine:
        if kind != "state_transfer":
            assert theirs[seq] == (kind, d)
    await close_all(members)


async def test_nothing_is_sent_unless_the_snapshot_was_saved(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path)
    await net.rounds(2)
    m = members[1]

    def broken(steps: object) -> None:
        raise DatabaseError("disk full")

    m.svc.store.save = broken  # type: ignore[method-assign]
    before = net.sent
    queued = len(net.queue)
    task = asyncio.ensure_future(m.svc.propose(circle, answer(1)))
    await asyncio.sleep(0)
    await m.svc.step()
    with pytest.raises(CircleStateError, match="could not be saved"):
        await task
    assert net.sent == before and len(net.queue) == queued  # the REQUEST never left
    await close_all(members)


async def test_an_equivocating_primary_is_reported_and_the_others_agree(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path, equivocator=True)
    primary, honest = members[0], members[1:]
    for i in range(5):
        await propose(net, honest[i % 3], circle, answer(i))
    await net.until(lambda: all(len(rep(m, circle).state.answers) == 5 for m in honest))
    assert primary.svc.counters["equivocations_sent"] > 0
    every = await logs(honest, circle)
    assert all(log == every[0] for log in every)
    assert all(kind == "record_answer" for _, kind, _ in every[0])  # the forged one never ran
    reported = [m for m in honest if (primary.id, "equivocation") in m.faults]
    assert reported, [m.faults for m in honest]
    status = await reported[0].svc.status_json(circle)
    evidence = [f for f in status["faults"] if f["kind"] == "equivocation"]
    assert evidence and evidence[0]["member"] == primary.id.hex() and evidence[0]["evidence"]
    assert {rep(m, circle).view for m in honest} != {0}
    await close_all(members)


async def test_members_report_ranks_and_the_circle_reorders_its_primaries(
    tmp_path: Path,
) -> None:
    net, members, circle = await make_circle(tmp_path)
    worst = members[0]  # the lowest key: view 0's primary until the reports count
    assert rep(members[1], circle).primary == worst.id
    for m in members:
        m.svc.rank = lambda key, w=worst.id: WORST if key == w else 0
        m.svc.report_interval = 2.0
    # every member reports once; the primary pads the block; from the boundary on the
    # worst-ranked member is last in everyone's order
    await net.until(lambda: all(rep(m, circle).order[-1] == worst.id for m in members))
    assert [m.svc.counters["rank_reports"] for m in members] == [1, 1, 1, 1]
    status = await members[2].svc.status_json(circle)
    assert status["replica"]["order"][-1] == worst.id.hex()
    assert status["replica"]["primary"] != worst.id.hex()
    assert status["replica"]["ranks"] == {m.id.hex(): WORST if m is worst else 0 for m in members}
    kinds = [kind for _, kind, _ in (await logs(members[1:2], circle))[0]]
    assert kinds.count("rank_report") == 4
    # unchanged ranks are not reported again
    await net.rounds(40)  # 10 s
    assert [m.svc.counters["rank_reports"] for m in members] == [1, 1, 1, 1]
    # a changed rank is, once the interval has passed; decisions go on meanwhile
    members[1].svc.rank = lambda key: 0
    await propose(net, members[3], circle, answer(1))
    await net.until(lambda: members[1].svc.counters["rank_reports"] == 2)

    def reported_again(m: Member) -> bool:
        return set(dict(rep(m, circle).state.reports)[members[1].id]) == {NO_RANK, 0}

    await net.until(lambda: all(reported_again(m) for m in members))
    await net.until(lambda: all(len(rep(m, circle).state.answers) == 1 for m in members))
    assert [m.svc.counters["rank_reports"] for m in members] == [1, 2, 1, 1]
    await close_all(members)


async def test_a_member_with_nothing_to_say_does_not_report(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path)
    for m in members:
        m.svc.rank = lambda key: NEUTRAL_RANK  # what a contact without any data ranks
        m.svc.report_interval = 1.0
    await net.rounds(20)
    assert all(m.svc.counters["rank_reports"] == 0 for m in members)
    assert rep(members[0], circle).state.reports == ()
    await close_all(members)


def test_the_report_interval_has_a_test_only_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REPORT_INTERVAL_ENV, raising=False)
    assert _report_interval_from_env() == REPORT_INTERVAL == 600.0
    monkeypatch.setenv(REPORT_INTERVAL_ENV, "2.5")
    assert _report_interval_from_env() == 2.5
    for bad in ("0", "-1", "soon", "601"):
        monkeypatch.setenv(REPORT_INTERVAL_ENV, bad)
        assert _report_interval_from_env() == REPORT_INTERVAL
    report = RankReport(b"h" * 32, (0, 3))
    assert decision_json(report) == {
        "kind": "rank_report", "members_hash": (b"h" * 32).hex(), "ranks": [0, 3],
    }  # fmt: skip


async def test_a_removed_member_leaves_the_circles_spaces(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path, interval=2)
    await propose(net, members[0], circle, SetSpace("team", SpacePolicy.OPEN))
    gone = members[3]
    await net.until(lambda: all("team" in m.spaces.spaces for m in members))
    assert gone.id in members[0].spaces.spaces["team"].members
    await propose(net, members[1], circle, RemoveMember(gone.id))
    await net.until(
        lambda: all(gone.id not in m.spaces.spaces["team"].members for m in members[:3])
    )
    three = tuple(sorted(x.id for x in members[:3]))
    await net.until(lambda: all(rep(m, circle).members == three for m in members[:3]))
    # the removed node shares the space with nobody now
    await net.until(lambda: gone.spaces.spaces["team"].members == frozenset())
    # the circle goes on without it
    await propose(net, members[2], circle, answer(9))
    await net.until(lambda: all(len(rep(m, circle).state.answers) == 1 for m in members[:3]))
    await close_all(members)


async def test_a_non_contact_cannot_be_added_and_bad_genesis_is_dropped(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path, n=1)
    stranger = public_bytes(Ed25519PrivateKey.generate())
    with pytest.raises(CircleStateError, match="not a contact"):
        await members[0].svc.propose(circle, AddMember(stranger))
    with pytest.raises(CircleStateError, match="not a contact"):
        await members[0].svc.create("d", [stranger])
    with pytest.raises(CircleStateError, match="already named"):
        await members[0].svc.create("c", [])
    crowd = [public_bytes(Ed25519PrivateKey.generate()) for _ in range(LINK_MEMBERS)]
    with pytest.raises(CircleStateError, match=f"at most {LINK_MEMBERS} members"):
        await members[0].svc.create("big", crowd)  # 33 with this node: checked before contacts
    members[0].svc.handler(stranger, bytes([KIND_GENESIS]) + b"junk")
    members[0].svc.handler(stranger, b"")
    await members[0].svc.step()
    assert members[0].svc.counters["bad_genesis"] == 1
    assert members[0].svc.counters["malformed"] == 1
    # a circle of one orders alone
    await propose(net, members[0], circle, answer(1))
    assert (await members[0].svc.log_json(circle))[0]["kind"] == "record_answer"
    await close_all(members)


async def test_echo_is_one_round_trip_to_every_other_member(tmp_path: Path) -> None:
    net, members, circle = await make_circle(tmp_path)
    net.down.add(members[3].id)
    task = asyncio.ensure_future(members[0].svc.echo(circle, timeout=0.5))
    while not task.done():
        await net.rounds(1)
    missed = task.result()
    assert missed["seconds"] is None and missed["missing"] == [members[3].id.hex()]
    assert sorted(missed["answered"]) == sorted(m.id.hex() for m in members[1:3])
    net.down.clear()
    task = asyncio.ensure_future(members[0].svc.echo(circle))
    while not task.done():
        await net.rounds(1)
    assert task.result()["seconds"] is not None and task.result()["missing"] == []
    await close_all(members)


def test_the_store_keeps_circles_log_and_faults(tmp_path: Path) -> None:
    store = CircleStore(tmp_path / "circles.db")
    assert store.circles() == []
    store.close()


def test_decisions_parse_with_named_errors() -> None:
    key = b"\x05" * 32

    def member(text: str) -> bytes:
        if text == "bob":
            return key
        raise CircleStateError(f"{text!r} is neither a contact nor an identity key")

    def entry(text: str) -> bytes:
        return bytes.fromhex(text)

    assert parse_decision({"kind": "add-member", "member": "bob"}, member, entry) == AddMember(key)
    listed = parse_decision(
        {"kind": "set_space", "space": "team", "policy": "listed", "members": ["bob"]},
        member,
        entry,
    )
    assert listed == SetSpace("team", SpacePolicy.LISTED, (key,))
    assert decision_json(listed)["policy"] == "listed"
    rec = parse_decision(
        {"kind": "record-answer", "round_id": "ab" * 32, "answer": "yes"}, member, entry
    )
    assert isinstance(rec, RecordAnswer) and rec.answer_digest == hashlib.sha256(b"yes").digest()
    bad = [
        ({"kind": "vote"}, "kind must be one of"),
        ({"kind": "tombstone", "entry": "00" * 32, "x": 1}, "unknown fields x"),
        ({"kind": "set-space", "space": "team", "policy": "secret"}, "policy is open"),
        ({"kind": "set-space", "space": "Team!", "policy": "open"}, "bad space name"),
        ({"kind": "set-space", "space": "t", "policy": "open", "members": ["bob"]}, "lists no"),
        ({"kind": "remove-member", "member": "carol"}, "neither a contact"),
        ({"kind": "record-answer", "round_id": "12", "answer_digest": "00"}, "64 hex digits"),
        ({"kind": "add-member"}, '"member" is required'),
    ]
    for body, message in bad:
        with pytest.raises(CircleStateError, match=message):
            parse_decision(body, member, entry)
