"""A deterministic simulator of a circle: real Replicas on a seeded, hostile network.

One :class:`Sim` runs replicas on a simulated clock. Before the global stabilization time
(``gst``) the network delays, drops, duplicates and reorders messages, partitions
members, and crashes honest members (a crashed replica is dropped and later rebuilt
from its last :meth:`Replica.snapshot`, as the I/O layer would after a crash). From
``gst`` on every honest member is up and every message arrives within ``sync_delay``.

Byzantine identities (at most f): ``silent`` (sends nothing), ``garbage`` (also sends
random bytes), ``equivocator`` (its PRE-PREPAREs differ per recipient) and ``twins``
(two replicas share one key, each honest on its own, as in Twins, Bano et al. 2022).
Honest members may also send RANK-REPORTs (:meth:`Schedule.ranked`), which reorder the
primaries at checkpoint boundaries.

:meth:`Sim.run` checks **safety** after every step (no two honest members commit
different requests at one sequence number, nor stabilize different state digests; with
``check_primaries``, no two honest members hold PRE-PREPAREs of one (view, seq) from
different signers: they agree on the primary) and reports whether every honest member
executed every honest proposal (**liveness**).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.circle.decisions import (
    AddMember,
    Decision,
    Genesis,
    RankReport,
    RemoveMember,
    Tombstone,
    make_genesis,
    public_bytes,
)
from gateway.circle.messages import PrePrepare, decode, make_pre_prepare, make_request
from gateway.circle.outputs import (
    CheckpointStable,
    Committed,
    Fault,
    Output,
    Send,
    StateTransferred,
)
from gateway.circle.pbft import Replica, Timing
from gateway.circle.ranks import RANK_BUCKETS

SIM_TIMING = Timing(
    request_timeout_ms=300,
    view_change_timeout_ms=300,
    retransmit_ms=150,
    sync_interval_ms=400,
    max_backoff=3,
)
TICK_MS = 50
BYZANTINE = ("silent", "garbage", "equivocator", "twins")
_KEYS: dict[int, Ed25519PrivateKey] = {}


def sim_key(index: int) -> Ed25519PrivateKey:
    """A fixed identity key for simulated member ``index``."""
    if index not in _KEYS:
        seed = hashlib.sha256(f"gateway-circle-sim/{index}".encode()).digest()
        _KEYS[index] = Ed25519PrivateKey.from_private_bytes(seed)
    return _KEYS[index]


class SafetyViolation(AssertionError):
    pass


@dataclass
class Node:
    """One replica process; ``ident`` is its identity key (twins share one)."""

    index: int
    key: Ed25519PrivateKey
    role: str = "honest"  # honest, twin, silent, garbage, equivocator
    replica: Replica | None = None
    saved: bytes | None = None  # snapshot while crashed
    partition: int = 0

    @property
    def ident(self) -> bytes:
        return public_bytes(self.key)

    @property
    def honest(self) -> bool:
        return self.role == "honest"


@dataclass
class Schedule:
    """Everything random about one run, drawn from ``seed``."""

    seed: int
    n: int = 4
    checkpoint_interval: int = 2
    byzantine: str | None = None  # one of BYZANTINE, for member ``byz_index``
    byz_index: int = 0
    gst: int = 2_000
    drop: float = 0.1
    duplicate: float = 0.05
    max_delay: int = 120
    sync_delay: int = 20
    crashes: list[tuple[int, int, int]] = field(default_factory=list)  # (node, at, back)
    partitions: list[tuple[int, int, frozenset[int]]] = field(default_factory=list)
    proposals: list[tuple[int, int]] = field(default_factory=list)  # (at, node)
    down_forever: int | None = None  # an honest member that never comes back
    bound: int = 20_000  # liveness: everything executed by gst + bound
    joiners: int = 0  # members not in the genesis (indices n, n+1, ...)
    decisions: list[tuple[int, int, Decision]] = field(default_factory=list)  # (at, node, d)
    reports: list[tuple[int, int, int]] = field(default_factory=list)  # (at, node, ranks seed)

    @staticmethod
    def random(seed: int, *, n: int = 4) -> Schedule:
        rng = random.Random(seed)
        s = Schedule(seed, n=n, checkpoint_interval=rng.choice((1, 2, 3, 4)))
        f = (n - 1) // 3
        s.gst = rng.randrange(200, 2_500)
        s.drop = rng.choice((0.0, 0.05, 0.2, 0.4))
        s.duplicate = rng.choice((0.0, 0.05, 0.2))
        s.max_delay = rng.choice((10, 60, 250))
        if f and rng.random() < 0.7:
            s.byzantine = rng.choice(BYZANTINE)
            s.byz_index = rng.randrange(n)
        elif f and rng.random() < 0.3:
            s.down_forever = rng.randrange(n)
        honest = [
            i for i in range(n) if i not in (s.byz_index if s.byzantine else None, s.down_forever)
        ]
        for _ in range(rng.choice((0, 0, 1, 2))):
            node = rng.choice(honest)
            at = rng.randrange(0, s.gst)
            s.crashes.append((node, at, rng.randrange(at + 1, s.gst + 1)))
        for _ in range(rng.choice((0, 1, 2)) if n > 1 else 0):
            start = rng.randrange(0, s.gst)
            group = frozenset(rng.sample(range(n), rng.randrange(1, n)))
            s.partitions.append((start, rng.randrange(start, s.gst + 1), group))
        proposers = [i for i in honest if i != s.down_forever]
        for _ in range(rng.randrange(1, 5)):
            s.proposals.append((rng.randrange(0, s.gst + 500), rng.choice(proposers)))
        return s

    @staticmethod
    def reconfiguration(seed: int, *, n: int = 4) -> Schedule:
        """A random schedule (no Byzantine member) in which one new member is added and one
        genesis member removed while proposals keep coming."""
        s = Schedule.random(seed, n=n)
        rng = random.Random(seed + 10**6)
        s.byzantine, s.down_forever, s.joiners = None, None, 1
        s.crashes = [c for c in s.crashes if c[0] != 0]
        joiner = public_bytes(sim_key(n))
        removed = rng.randrange(1, n)
        s.decisions = [
            (rng.randrange(0, s.gst), 0, AddMember(joiner)),
            (rng.randrange(0, s.gst + 300), 0, RemoveMember(public_bytes(sim_key(removed)))),
        ]
        s.proposals = [(at, p) for at, p in s.proposals if p != removed]
        s.proposals.append((s.gst + 400, 0))
        return s

    @staticmethod
    def ranked(seed: int, *, n: int = 4, reconfigure: bool = False) -> Schedule:
        """A random (or reconfiguration) schedule in which honest members send RANK-REPORTs:
        the Byzantine member, if any, ranked worst, the others at random."""
        make = Schedule.reconfiguration if reconfigure else Schedule.random
        s = make(seed, n=n)
        rng = random.Random(seed + 2 * 10**6)
        honest = [
            i
            for i in range(n)
            if i != (s.byz_index if s.byzantine else None) and i != s.down_forever
        ]
        for _ in range(rng.randrange(2, 7)):
            at = rng.randrange(0, s.gst + 300)
            s.reports.append((at, rng.choice(honest), rng.randrange(1 << 30)))
        return s

    @staticmethod
    def left_behind(seed: int, *, n: int = 7) -> Schedule:
        """One honest member is cut off while the view-0 primary is down and the others
        change view and go on for several checkpoints (with RANK-REPORTs reordering the
        primaries); it comes back at ``gst`` and catches up by state transfer, past the
        base of the view the others are in."""
        rng = random.Random(seed + 3 * 10**6)
        s = Schedule(seed, n=n, checkpoint_interval=rng.choice((1, 2, 3)))
        s.gst = rng.randrange(3_000, 6_000)
        s.drop = rng.choice((0.0, 0.05))
        s.max_delay = rng.choice((10, 60))
        primary = min(range(n), key=lambda i: public_bytes(sim_key(i)))
        late = rng.choice([i for i in range(n) if i != primary])
        s.partitions = [(0, s.gst, frozenset({late}))]
        s.crashes = [(primary, rng.randrange(50, 400), s.gst)]
        others = [i for i in range(n) if i not in (primary, late)]
        for _ in range(rng.randrange(6, 14)):
            s.proposals.append((rng.randrange(0, s.gst), rng.choice(others)))
        for _ in range(rng.randrange(1, 4)):
            s.reports.append((rng.randrange(0, s.gst), rng.choice(others), rng.randrange(1 << 30)))
        s.proposals.append((s.gst + 200, late))
        return s


class Sim:
    """One run of a circle under a :class:`Schedule`."""

    def __init__(
        self,
        schedule: Schedule,
        *,
        genesis: Genesis | None = None,
        check_primaries: bool = False,
    ) -> None:
        self.s = schedule
        self.check_primaries = check_primaries
        #: (view, seq) -> the signer of the PRE-PREPARE honest members hold for it
        self.primaries: dict[tuple[int, int], bytes] = {}
        self.rng = random.Random(schedule.seed * 7919 + 1)
        self.now = 0
        keys = [sim_key(i) for i in range(schedule.n)]
        circle_id = hashlib.sha256(b"sim-circle").digest()
        self.genesis = genesis or make_genesis(
            keys[0],
            circle_id,
            [public_bytes(k) for k in keys],
            checkpoint_interval=schedule.checkpoint_interval,
        )
        self.nodes: list[Node] = []
        for i in range(schedule.n, schedule.n + schedule.joiners):
            self.nodes.append(Node(i, sim_key(i)))
        for i, key in enumerate(keys):
            role = "honest"
            if schedule.byzantine and i == schedule.byz_index:
                role = "twin" if schedule.byzantine == "twins" else schedule.byzantine
            self.nodes.append(Node(i, key, role))
            if role == "twin":
                self.nodes.append(Node(i, key, "twin"))
        for node in self.nodes:
            node.replica = Replica(node.key, self.genesis, timing=SIM_TIMING)
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        #: per honest identity: seq -> (proposer, decision) of its Committed events
        self.committed: dict[bytes, dict[int, tuple[bytes, Decision]]] = {}
        self.stable: dict[int, bytes] = {}  # seq -> digest any honest member stabilized
        self.by_seq: dict[int, tuple[bytes, Decision]] = {}
        self.faults: list[tuple[bytes, Fault]] = []
        self.proposed: list[bytes] = []  # tombstone ids proposed by honest members
        self.sent = 0

    # --- scheduling ------------------------------------------------------------------

    def at(self, when: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._counter), action))

    def honest_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.honest and n.index != self.s.down_forever]

    def run(self) -> bool:
        """Run until every honest member executed every proposal or the bound passed;
        True if it did (liveness). Raises SafetyViolation at the first unsafe step."""
        s = self.s
        for node, at, back in s.crashes:
            self.at(at, partial(self.crash, node))
            self.at(back, partial(self.recover, node))
        if s.down_forever is not None:
            self.at(0, partial(self.crash, s.down_forever))
        for start, end, group in s.partitions:
            self.at(start, partial(self.split, group))
            self.at(end, partial(self.split, frozenset()))
        self.at(s.gst, partial(self.split, frozenset()))
        for at, node in s.proposals:
            self.at(at, partial(self.propose, node))
        for at, node, decision in s.decisions:
            self.at(at, partial(self.propose, node, decision))
        for at, node, ranks_seed in s.reports:
            self.at(at, partial(self.report, node, ranks_seed))
        for t in range(0, s.gst + s.bound, TICK_MS):
            self.at(t, self.tick_all)
        deadline = s.gst + s.bound
        while self._queue:
            when, _, action = heapq.heappop(self._queue)
            if when > deadline:
                break
            self.now = when
            action()
            if when >= s.gst and when % 500 == 0 and self.done():
                return True
        return self.done()

    def run_until_joined(self, extra_ms: int = 6_000) -> bool:
        """After :meth:`run`: one more honest proposal, whose messages show every member the
        circle's view; True once every honest member is active in one view (none is left
        voting in no view, executing only by catch-up)."""
        start = self.now
        proposer = next(n for n in self.honest_nodes() if n.replica and n.replica.is_member)
        self.at(start + 1, partial(self.propose, proposer.index))
        for t in range(start - start % TICK_MS + TICK_MS, start + extra_ms, TICK_MS):
            self.at(t, self.tick_all)
        while self._queue:
            when, _, action = heapq.heappop(self._queue)
            if when > start + extra_ms:
                break
            self.now = when
            action()
            if self.joined():
                return True
        return self.joined()

    def joined(self) -> bool:
        """Every honest member is active in the highest view an honest member is active in,
        or (having timed out alone) waits in a higher one for others to follow."""
        members = [
            n.replica for n in self.honest_nodes() if n.replica is not None and n.replica.is_member
        ]
        top = max((r.view for r in members if r.active), default=-1)
        return top >= 0 and all(
            (r.view == top and r.active) or (r.view > top and not r.active) for r in members
        )

    def done(self) -> bool:
        last = max((at for at, _ in self.s.proposals), default=0)
        last = max([last, *(at for at, _, _ in self.s.decisions)])
        last = max([last, *(at for at, _, _ in self.s.reports)])
        if self.now < last:
            return False
        ahead = max(
            (n.replica.state for n in self.honest_nodes() if n.replica is not None),
            key=lambda state: state.seq,
        )
        for node in self.honest_nodes():
            if node.ident not in ahead.members:
                continue
            if node.replica is None or node.replica.members != ahead.members:
                return False
            tombs = node.replica.state.tombstones
            if any(t not in tombs for t in self.proposed):
                return False
        return True

    # --- faults of the environment ------------------------------------------------------

    def crash(self, index: int) -> None:
        for node in self.nodes:
            if node.index == index and node.replica is not None:
                node.saved = node.replica.snapshot()
                node.replica = None

    def recover(self, index: int) -> None:
        for node in self.nodes:
            if node.index == index and node.replica is None and node.saved is not None:
                node.replica = Replica.restore(
                    node.key, node.saved, now_ms=self.now, timing=SIM_TIMING
                )
                self.handle(node, node.replica.catch_up(self.now))

    def split(self, group: frozenset[int]) -> None:
        for node in self.nodes:
            node.partition = 1 if node.index in group else 0

    def propose(self, index: int, decision: Decision | None = None) -> None:
        node = next(n for n in self.nodes if n.index == index)
        if node.replica is None or not node.replica.is_member or not node.honest:
            return
        if decision is None:
            entry = hashlib.sha256(f"{self.s.seed}/{len(self.proposed)}".encode()).digest()
            self.proposed.append(entry)
            decision = Tombstone(entry)
        self.handle(node, node.replica.propose(decision, self.now))

    def report(self, index: int, ranks_seed: int) -> None:
        """An honest member's RANK-REPORT of the members it executed: the Byzantine one
        ranked worst, the others at random (but the same for one seed)."""
        node = next(n for n in self.nodes if n.index == index)
        if node.replica is None or not node.replica.is_member or not node.honest:
            return
        state = node.replica.state
        rng = random.Random(ranks_seed)
        bad = public_bytes(sim_key(self.s.byz_index)) if self.s.byzantine else None
        ranks = tuple(
            RANK_BUCKETS - 1 if m == bad else rng.randrange(RANK_BUCKETS - 1) for m in state.members
        )
        self.handle(node, node.replica.propose(RankReport(state.members_hash, ranks), self.now))

    def tick_all(self) -> None:
        for node in self.nodes:
            if node.replica is not None:
                self.handle(node, node.replica.tick(self.now))

    # --- the network -----------------------------------------------------------------

    def synchronous(self) -> bool:
        return self.now >= self.s.gst

    def delay(self) -> int:
        if self.synchronous():
            return self.rng.randint(1, self.s.sync_delay)
        return self.rng.randint(1, self.s.max_delay)

    def handle(self, node: Node, outputs: list[Output]) -> None:
        if self.check_primaries and node.honest and node.replica is not None:
            for pp in node.replica._pp.values():
                known = self.primaries.setdefault((pp.view, pp.seq), pp.signer)
                if known != pp.signer:
                    raise SafetyViolation(
                        f"seed {self.s.seed}: two primaries of view {pp.view} at seq {pp.seq}"
                    )
        for out in outputs:
            if isinstance(out, Send):
                self.send(node, out)
            else:
                self.observe(node, out)

    def send(self, node: Node, out: Send) -> None:
        if node.role == "silent":
            return
        targets = [
            t
            for t in self.nodes
            if t is not node and t.ident != node.ident and (out.to is None or t.ident == out.to)
        ]
        if node.role == "twin":  # a twin also talks to its other half
            targets += [t for t in self.nodes if t is not node and t.ident == node.ident]
        alt: bytes | None = None
        if node.role == "equivocator":
            alt = self.equivocate(node, out.data)
        for i, target in enumerate(targets):
            data = alt if alt is not None and i % 2 else out.data
            self.transmit(node, target, data)
        if node.role == "garbage" and self.rng.random() < 0.3:
            for target in targets:
                self.transmit(node, target, self.rng.randbytes(self.rng.randrange(0, 200)))

    def equivocate(self, node: Node, data: bytes) -> bytes | None:
        """A conflicting PRE-PREPARE for the same (view, seq), or None."""
        msg = decode(data, verify=False)
        if not isinstance(msg, PrePrepare):
            return None
        entry = hashlib.sha256(b"evil" + data).digest()
        req = make_request(node.key, msg.circle_id, msg.seq + 10**9, Tombstone(entry))
        return make_pre_prepare(node.key, msg.circle_id, msg.view, msg.seq, req).raw

    def transmit(self, src: Node, dst: Node, data: bytes) -> None:
        self.sent += 1
        if not self.synchronous():
            if src.partition != dst.partition or self.rng.random() < self.s.drop:
                return
            if self.rng.random() < self.s.duplicate:
                self.at(self.now + self.delay(), lambda: self.deliver(src, dst, data))
        self.at(self.now + self.delay(), lambda: self.deliver(src, dst, data))

    def deliver(self, src: Node, dst: Node, data: bytes) -> None:
        if dst.replica is None:
            return
        self.handle(dst, dst.replica.receive(data, src.ident, self.now))

    # --- checks ----------------------------------------------------------------------

    def observe(self, node: Node, event: Output) -> None:
        if isinstance(event, Fault):
            self.faults.append((node.ident, event))
        if not node.honest:
            return
        if isinstance(event, Committed):
            value = (event.proposer, event.decision)
            mine = self.committed.setdefault(node.ident, {})
            if event.seq in mine and mine[event.seq] != value:
                raise SafetyViolation(
                    f"seed {self.s.seed}: member {node.index} committed seq {event.seq} twice"
                )
            mine[event.seq] = value
            known = self.by_seq.setdefault(event.seq, value)
            if known != value:
                raise SafetyViolation(
                    f"seed {self.s.seed}: two decisions at seq {event.seq}: {known} / {value}"
                )
        elif isinstance(event, CheckpointStable | StateTransferred):
            known_digest = self.stable.setdefault(event.seq, event.digest)
            if known_digest != event.digest:
                raise SafetyViolation(f"seed {self.s.seed}: two stable states at seq {event.seq}")

    def check_converged(self) -> None:
        """Honest members that executed as far hold the same state."""
        by_seq: dict[int, bytes] = {}
        for node in self.honest_nodes():
            if node.replica is None:
                continue
            state = node.replica.state
            if by_seq.setdefault(state.seq, state.digest) != state.digest:
                raise SafetyViolation(f"seed {self.s.seed}: two states at seq {state.seq}")
