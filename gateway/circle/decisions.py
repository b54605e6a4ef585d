"""What a circle orders: its decisions, its genesis and the replicated state they build.

Every member executes the same decisions in the same order on the same genesis, so every
member holds the same :class:`CircleState`; its :func:`state_digest` is what the members'
CHECKPOINT messages vouch for. Layouts are in docs/PROTOCOL-circles.md ("Decisions",
"Genesis", "State").
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.circle import ranks as rk
from gateway.circle.codec import Reader, blob32, str8, u8, u16, u32, u64
from gateway.errors import CircleError, CircleStateError

KEY_BYTES = 32
ID_BYTES = 32
SIG_BYTES = 64
GENESIS_VERSION = 1
STATE_VERSION = 1
GENESIS_CONTEXT = b"gateway/circle/genesis/v1\x00"
STATE_CONTEXT = b"gateway/circle/state/v1\x00"
#: most members a circle may have in the protocol (keeps VIEW-CHANGE and NEW-VIEW bounded;
#: a node carries at most gateway.node.circles.LINK_MEMBERS on its links)
MAX_MEMBERS = 128
MAX_SPACE_BYTES = 64
#: request timestamps remembered per proposer, to execute each request once
EXECUTED_WINDOW = 64
DEFAULT_CHECKPOINT_INTERVAL = 16
MAX_CHECKPOINT_INTERVAL = 256  # the window (2 intervals) fits MAX_CERTS
MAX_STATE_ITEMS = 1_000_000
MAX_STATE_BYTES = 64 * 1024 * 1024
_SPACE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


# --- decisions -------------------------------------------------------------------------


class DecisionKind(enum.IntEnum):
    """The first byte of an encoded decision."""

    ADD_MEMBER = 1
    REMOVE_MEMBER = 2
    SET_SPACE = 3
    TOMBSTONE = 4
    RECORD_ANSWER = 5
    RANK_REPORT = 6


class SpacePolicy(enum.IntEnum):
    """Who is in a space the circle governs."""

    OPEN = 1  # every member of the circle (the member list is empty)
    LISTED = 2  # the listed keys only
    REMOVED = 3  # the space is dissolved (the member list is empty)


@dataclass(frozen=True)
class AddMember:
    """Admit ``member``; takes effect at the next checkpoint boundary."""

    member: bytes


@dataclass(frozen=True)
class RemoveMember:
    """Remove ``member``; takes effect at the next checkpoint boundary."""

    member: bytes


@dataclass(frozen=True)
class SetSpace:
    """Set a space's policy and, for ``LISTED``, its members (sorted, unique)."""

    space: str
    policy: SpacePolicy
    members: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Tombstone:
    """A quorum tombstone of the memory entry ``entry_id``."""

    entry_id: bytes


@dataclass(frozen=True)
class RecordAnswer:
    """The canonical answer of council round ``round_id`` (first one recorded wins)."""

    round_id: bytes
    answer_digest: bytes


@dataclass(frozen=True)
class RankReport:
    """The proposer's rank (0 leads .. RANK_BUCKETS - 1) of every member of the list whose
    hash is ``members_hash``, in its sorted order (its own entry is ignored). It replaces
    the proposer's previous report if it is executed against that very member list."""

    members_hash: bytes
    ranks: tuple[int, ...]


Decision = AddMember | RemoveMember | SetSpace | Tombstone | RecordAnswer | RankReport


def encode_decision(decision: Decision) -> bytes:
    """The canonical bytes of ``decision``; ValueError if it breaks a rule."""
    check_decision(decision)
    if isinstance(decision, AddMember):
        return u8(DecisionKind.ADD_MEMBER) + decision.member
    if isinstance(decision, RemoveMember):
        return u8(DecisionKind.REMOVE_MEMBER) + decision.member
    if isinstance(decision, SetSpace):
        keys = b"".join(decision.members)
        return (
            u8(DecisionKind.SET_SPACE)
            + str8(decision.space)
            + u8(decision.policy)
            + u8(len(decision.members))
            + keys
        )
    if isinstance(decision, Tombstone):
        return u8(DecisionKind.TOMBSTONE) + decision.entry_id
    if isinstance(decision, RankReport):
        return (
            u8(DecisionKind.RANK_REPORT)
            + decision.members_hash
            + u8(len(decision.ranks))
            + bytes(decision.ranks)
        )
    return u8(DecisionKind.RECORD_ANSWER) + decision.round_id + decision.answer_digest


def check_decision(decision: Decision) -> None:
    """Raise ValueError if ``decision`` cannot be encoded."""
    if isinstance(decision, AddMember | RemoveMember):
        _check_len(decision.member, KEY_BYTES, "member key")
    elif isinstance(decision, SetSpace):
        check_space_name(decision.space)
        if not isinstance(decision.policy, SpacePolicy):
            raise ValueError("unknown space policy")
        for key in decision.members:
            _check_len(key, KEY_BYTES, "space member key")
        if list(decision.members) != sorted(set(decision.members)):
            raise ValueError("space members must be sorted and unique")
        if len(decision.members) > MAX_MEMBERS:
            raise ValueError(f"more than {MAX_MEMBERS} space members")
        if decision.policy is not SpacePolicy.LISTED and decision.members:
            raise ValueError(f"a {decision.policy.name} space lists no members")
    elif isinstance(decision, Tombstone):
        _check_len(decision.entry_id, ID_BYTES, "entry id")
    elif isinstance(decision, RecordAnswer):
        _check_len(decision.round_id, ID_BYTES, "round id")
        _check_len(decision.answer_digest, ID_BYTES, "answer digest")
    elif isinstance(decision, RankReport):
        _check_len(decision.members_hash, ID_BYTES, "members hash")
        if not 1 <= len(decision.ranks) <= MAX_MEMBERS:
            raise ValueError(f"a rank report ranks 1 to {MAX_MEMBERS} members")
        if not all(isinstance(r, int) and rk.valid_rank(r) for r in decision.ranks):
            raise ValueError(f"ranks are 0 to {rk.RANK_BUCKETS - 1}")
    else:
        raise ValueError(f"not a decision: {decision!r}")


def check_space_name(name: str) -> None:
    raw = name.encode("utf-8")
    if not 1 <= len(raw) <= MAX_SPACE_BYTES or not _SPACE_NAME.match(name):
        raise ValueError(f"bad space name {name!r}")


def _check_len(value: bytes, n: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != n:
        raise ValueError(f"{what} must be {n} bytes")


def decode_decision(data: bytes) -> Decision:
    """Parse canonical decision bytes; CircleError(malformed, ...) names what is wrong."""
    r = Reader(data, "decision")
    kind = r.u8("decision kind")
    decision: Decision
    if kind == DecisionKind.ADD_MEMBER:
        decision = AddMember(r.take(KEY_BYTES, "member key"))
    elif kind == DecisionKind.REMOVE_MEMBER:
        decision = RemoveMember(r.take(KEY_BYTES, "member key"))
    elif kind == DecisionKind.SET_SPACE:
        space = r.str8("space name")
        policy_byte = r.u8("space policy")
        n = r.count("space members", 1, MAX_MEMBERS)
        keys = tuple(r.take(KEY_BYTES, "space member key") for _ in range(n))
        try:
            policy = SpacePolicy(policy_byte)
        except ValueError as exc:
            raise CircleError("malformed", f"unknown space policy {policy_byte}") from exc
        decision = SetSpace(space, policy, keys)
    elif kind == DecisionKind.TOMBSTONE:
        decision = Tombstone(r.take(ID_BYTES, "entry id"))
    elif kind == DecisionKind.RECORD_ANSWER:
        decision = RecordAnswer(r.take(ID_BYTES, "round id"), r.take(ID_BYTES, "answer digest"))
    elif kind == DecisionKind.RANK_REPORT:
        members_hash = r.take(ID_BYTES, "members hash")
        n = r.count("ranks", 1, MAX_MEMBERS)
        decision = RankReport(members_hash, tuple(r.take(n, "ranks")))
    else:
        raise CircleError("malformed", f"unknown decision kind {kind}")
    r.end()
    try:
        check_decision(decision)
    except ValueError as exc:
        raise CircleError("malformed", f"decision: {exc}") from exc
    return decision


# --- genesis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Genesis:
    """The signed birth certificate of a circle: its id, first members and parameters."""

    circle_id: bytes
    members: tuple[bytes, ...]
    checkpoint_interval: int
    creator: bytes
    signature: bytes

    @cached_property
    def content(self) -> bytes:
        return (
            u8(GENESIS_VERSION)
            + self.circle_id
            + u16(self.checkpoint_interval)
            + u8(len(self.members))
            + b"".join(self.members)
            + self.creator
        )

    def encode(self) -> bytes:
        return self.content + self.signature


def _check_members(members: Iterable[bytes], what: str) -> tuple[bytes, ...]:
    keys = tuple(members)
    if not keys or len(keys) > MAX_MEMBERS:
        raise ValueError(f"{what}: 1 to {MAX_MEMBERS} members")
    for key in keys:
        _check_len(key, KEY_BYTES, "member key")
    if list(keys) != sorted(set(keys)):
        raise ValueError(f"{what}: members must be sorted and unique")
    return keys


def make_genesis(
    creator: Ed25519PrivateKey,
    circle_id: bytes,
    members: Iterable[bytes],
    *,
    checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL,
) -> Genesis:
    """A genesis signed by ``creator`` (who must be one of ``members``)."""
    keys = tuple(sorted(set(members)))
    try:
        _check_members(keys, "genesis")
        _check_len(circle_id, ID_BYTES, "circle id")
    except ValueError as exc:
        raise CircleStateError(str(exc)) from exc
    if not 1 <= checkpoint_interval <= MAX_CHECKPOINT_INTERVAL:
        raise CircleStateError(f"checkpoint interval must be 1..{MAX_CHECKPOINT_INTERVAL}")
    me = public_bytes(creator)
    if me not in keys:
        raise CircleStateError("the creator must be a member of the circle")
    unsigned = Genesis(circle_id, keys, checkpoint_interval, me, b"")
    sig = creator.sign(GENESIS_CONTEXT + unsigned.content)
    return replace(unsigned, signature=sig)


def decode_genesis(data: bytes) -> Genesis:
    """Parse and verify a genesis; CircleError names what is wrong."""
    r = Reader(data, "genesis")
    version = r.u8("version")
    if version != GENESIS_VERSION:
        raise CircleError("version", f"genesis version {version}")
    circle_id = r.take(ID_BYTES, "circle id")
    interval = r.u16("checkpoint interval")
    n = r.count("members", 1, MAX_MEMBERS)
    members = tuple(r.take(KEY_BYTES, "member key") for _ in range(n))
    creator = r.take(KEY_BYTES, "creator")
    sig = r.take(SIG_BYTES, "signature")
    r.end()
    try:
        _check_members(members, "genesis")
    except ValueError as exc:
        raise CircleError("malformed", str(exc)) from exc
    if not 1 <= interval <= MAX_CHECKPOINT_INTERVAL:
        raise CircleError("malformed", f"checkpoint interval {interval}")
    if creator not in members:
        raise CircleError("malformed", "the creator is not a member")
    genesis = Genesis(circle_id, members, interval, creator, sig)
    try:
        Ed25519PublicKey.from_public_bytes(creator).verify(sig, GENESIS_CONTEXT + genesis.content)
    except (InvalidSignature, ValueError) as exc:
        raise CircleError("bad_signature", "genesis signature") from exc
    return genesis


# --- replicated state ------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    name: str
    policy: SpacePolicy
    members: tuple[bytes, ...]


@dataclass(frozen=True)
class CircleState:
    """The replicated state after executing every sequence number up to ``seq``."""

    circle_id: bytes
    seq: int
    members: tuple[bytes, ...]  # sorted
    spaces: tuple[Space, ...] = ()  # sorted by name
    tombstones: frozenset[bytes] = frozenset()
    answers: tuple[tuple[bytes, bytes], ...] = ()  # (round id, answer digest), sorted
    executed: tuple[tuple[bytes, tuple[int, ...]], ...] = ()  # proposer -> recent timestamps
    #: proposer -> its last rank report, one rank per member (NO_RANK: none); see ranks.py
    reports: rk.Reports = ()

    @cached_property
    def members_hash(self) -> bytes:
        return sha256(b"".join(self.members))

    @cached_property
    def ranks(self) -> tuple[int, ...]:
        """The agreed rank of each member (aligned with ``members``)."""
        return rk.agreed_ranks(self.members, self.reports)

    @cached_property
    def order(self) -> tuple[bytes, ...]:
        """The primary order of the configuration this state starts (at a checkpoint
        boundary): the members by (agreed rank, key)."""
        return rk.primary_order(self.members, self.reports)

    @cached_property
    def body(self) -> bytes:
        """Everything but the id, seq and members, canonically encoded."""
        out = [u32(len(self.spaces))]
        for space in self.spaces:
            out += [str8(space.name), u8(space.policy), u8(len(space.members)), *space.members]
        out.append(u32(len(self.tombstones)))
        out += sorted(self.tombstones)
        out.append(u32(len(self.answers)))
        for round_id, answer in self.answers:
            out += [round_id, answer]
        out.append(u32(len(self.executed)))
        for proposer, stamps in self.executed:
            out += [proposer, u8(len(stamps)), *(u64(t) for t in stamps)]
        if self.reports:  # omitted when empty: states without reports keep their digests
            out.append(u32(len(self.reports)))
            for proposer, ranks in self.reports:
                out += [proposer, u8(len(ranks)), bytes(ranks)]
        return b"".join(out)

    @cached_property
    def body_hash(self) -> bytes:
        return sha256(self.body)

    @cached_property
    def digest(self) -> bytes:
        return state_digest(self.circle_id, self.seq, self.members_hash, self.body_hash)

    def encode(self) -> bytes:
        return (
            u8(STATE_VERSION)
            + self.circle_id
            + u64(self.seq)
            + u8(len(self.members))
            + b"".join(self.members)
            + blob32(self.body)
        )

    def space(self, name: str) -> Space | None:
        for space in self.spaces:
            if space.name == name:
                return space
        return None

    def answer(self, round_id: bytes) -> bytes | None:
        return dict(self.answers).get(round_id)


def state_digest(circle_id: bytes, seq: int, members_hash: bytes, body_hash: bytes) -> bytes:
    """SHA-256(context || circle id || seq || H(members) || H(body))."""
    return sha256(STATE_CONTEXT, circle_id, u64(seq), members_hash, body_hash)


def genesis_state(genesis: Genesis) -> CircleState:
    return CircleState(genesis.circle_id, 0, genesis.members)


def decode_state(data: bytes) -> CircleState:
    """Parse an encoded state; CircleError names what is wrong."""
    r = Reader(data, "state")
    version = r.u8("version")
    if version != STATE_VERSION:
        raise CircleError("version", f"state version {version}")
    circle_id = r.take(ID_BYTES, "circle id")
    seq = r.u64("seq")
    n = r.count("members", 1, MAX_MEMBERS)
    members = tuple(r.take(KEY_BYTES, "member key") for _ in range(n))
    body = r.blob32("body", MAX_STATE_BYTES)
    r.end()
    try:
        _check_members(members, "state")
    except ValueError as exc:
        raise CircleError("malformed", str(exc)) from exc
    b = Reader(body, "state body")
    spaces = []
    for _ in range(b.count("spaces", 4, MAX_STATE_ITEMS)):
        name = b.str8("space name")
        policy_byte = b.u8("space policy")
        k = b.count("space members", 1, MAX_MEMBERS)
        keys = tuple(b.take(KEY_BYTES, "space member") for _ in range(k))
        try:
            space = SetSpace(name, SpacePolicy(policy_byte), keys)
            check_decision(space)
        except ValueError as exc:
            raise CircleError("malformed", f"state space: {exc}") from exc
        spaces.append(Space(name, space.policy, keys))
    tombstones = [
        b.take(ID_BYTES, "tombstone") for _ in range(b.count("tombstones", 4, MAX_STATE_ITEMS))
    ]
    answers = [
        (b.take(ID_BYTES, "round id"), b.take(ID_BYTES, "answer digest"))
        for _ in range(b.count("answers", 4, MAX_STATE_ITEMS))
    ]
    executed = []
    for _ in range(b.count("proposers", 4, MAX_STATE_ITEMS)):
        proposer = b.take(KEY_BYTES, "proposer")
        stamps = tuple(b.u64("timestamp") for _ in range(b.count("timestamps", 1, EXECUTED_WINDOW)))
        executed.append((proposer, stamps))
    reports = []
    if b.remaining:  # the optional reports section (never empty when present)
        for _ in range(b.count("reports", 4, MAX_MEMBERS)):
            proposer = b.take(KEY_BYTES, "reporter")
            k = b.count("ranks", 1, MAX_MEMBERS)
            reports.append((proposer, tuple(b.take(k, "ranks"))))
        if not reports:
            raise CircleError("malformed", "an empty reports section (omitted when empty)")
    b.end()
    state = CircleState(
        circle_id,
        seq,
        members,
        tuple(spaces),
        frozenset(tombstones),
        tuple(answers),
        tuple(executed),
        tuple(reports),
    )
    if state.body != body or not (
        _ascending([sp.name.encode() for sp in state.spaces])
        and _ascending([a for a, _ in state.answers])
        and _ascending([p for p, _ in state.executed])
        and all(_ascending([u64(t) for t in ts]) and ts for _, ts in state.executed)
    ):
        raise CircleError("malformed", "state body is not canonical (order, duplicates)")
    problem = rk.check_reports(members, state.reports)
    if problem is not None:
        raise CircleError("malformed", f"state reports: {problem}")
    return state


def _ascending(items: list[bytes]) -> bool:
    return all(a < b for a, b in itertools.pairwise(items))


# --- execution -------------------------------------------------------------------------


def already_executed(state: CircleState, proposer: bytes, timestamp: int) -> bool:
    """Whether the request (proposer, timestamp) was executed (or is too old to run)."""
    stamps = dict(state.executed).get(proposer, ())
    if timestamp in stamps:
        return True
    return len(stamps) >= EXECUTED_WINDOW and timestamp < stamps[0]


def execute(
    state: CircleState, seq: int, proposer: bytes, timestamp: int, decision: Decision | None
) -> tuple[CircleState, bool]:
    """The state after sequence number ``seq``; whether the decision changed anything.

    ``decision`` None is the null request a view change fills gaps with. A request from a
    non-member, a repeated request, or a decision that does not apply (adding a member
    twice, removing the last one, recording a second answer for a round, a rank report made
    for another member list) leaves the state as it was but for ``seq`` and the
    executed-request record.
    """
    if decision is None or proposer not in state.members:
        return replace(state, seq=seq), False
    if already_executed(state, proposer, timestamp):
        return replace(state, seq=seq), False
    executed = dict(state.executed)
    stamps = sorted({*executed.get(proposer, ()), timestamp})[-EXECUTED_WINDOW:]
    executed[proposer] = tuple(stamps)
    base = replace(state, seq=seq, executed=tuple(sorted(executed.items())))
    changed = _apply(base, decision, proposer)
    if changed is None:
        return base, False
    return changed, True


def _apply(state: CircleState, decision: Decision, proposer: bytes) -> CircleState | None:
    if isinstance(decision, AddMember):
        if decision.member in state.members or len(state.members) >= MAX_MEMBERS:
            return None
        return _with_members(state, tuple(sorted((*state.members, decision.member))))
    if isinstance(decision, RemoveMember):
        if decision.member not in state.members or len(state.members) <= 1:
            return None
        return _with_members(state, tuple(k for k in state.members if k != decision.member))
    if isinstance(decision, RankReport):
        if decision.members_hash != state.members_hash or len(decision.ranks) != len(state.members):
            return None  # made for another member list: stale
        reports = rk.apply_report(state.members, state.reports, proposer, decision.ranks)
        if reports == state.reports:
            return None
        return replace(state, reports=reports)
    if isinstance(decision, SetSpace):
        others = [s for s in state.spaces if s.name != decision.space]
        if decision.policy is SpacePolicy.REMOVED:
            if len(others) == len(state.spaces):
                return None
            return replace(state, spaces=tuple(others))
        space = Space(decision.space, decision.policy, decision.members)
        if state.space(decision.space) == space:
            return None
        return replace(state, spaces=tuple(sorted([*others, space], key=lambda s: s.name)))
    if isinstance(decision, Tombstone):
        if decision.entry_id in state.tombstones:
            return None
        return replace(state, tombstones=state.tombstones | {decision.entry_id})
    if state.answer(decision.round_id) is not None:
        return None
    answers = sorted((*state.answers, (decision.round_id, decision.answer_digest)))
    return replace(state, answers=tuple(answers))


def _with_members(state: CircleState, members: tuple[bytes, ...]) -> CircleState:
    """``state`` with a new member list; the rank reports follow it (ranks.remap)."""
    return replace(state, members=members, reports=rk.remap(state.members, members, state.reports))
