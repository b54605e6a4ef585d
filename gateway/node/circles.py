"""Circles on the links (asyncio): one PBFT :class:`~gateway.circle.pbft.Replica` per circle.

The ``circle`` channel carries ``u8 kind || payload``: kind 1 a circle message (the core's
signed bytes, routed by the circle id in its header), kind 2 a signed genesis (an
invitation: the receiver keeps it as *pending* until ``gateway circle join``).

Everything that touches a replica runs in :meth:`CircleService.step`, on the event loop:
the channel handler and the API only queue work. A step feeds the queued bytes, proposals
and due timers to the replicas, writes every changed snapshot (and the decisions and faults
it produced) to ``circles.db`` on the service's own thread, and only then sends the step's
messages and applies the executed decisions to the node: spaces (the memory store's
membership), tombstones (:meth:`MemoryStore.suppress`) and answers (kept in the log).
Each member also reports its own reputation of the other members as RANK-REPORT decisions
(at most every :data:`REPORT_INTERVAL`, only when its ranks changed): the circle orders its
primaries by the median of those reports. See docs/PROTOCOL-circles.md, "I/O".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.circle.decisions import (
    AddMember,
    Decision,
    Genesis,
    RankReport,
    RecordAnswer,
    RemoveMember,
    SetSpace,
    SpacePolicy,
    Tombstone,
    check_decision,
    decode_genesis,
    make_genesis,
    public_bytes,
)
from gateway.circle.messages import PrePrepare, decode, make_pre_prepare, make_request
from gateway.circle.outputs import (
    Committed,
    Fault,
    FaultKind,
    Output,
    Send,
    StateTransferred,
)
from gateway.circle.pbft import Replica, Timing
from gateway.circle.quorum import faults_tolerated, quorum
from gateway.circle.ranks import NEUTRAL_RANK, RANK_BUCKETS, reported
from gateway.errors import CircleError, CircleStateError, GatewayError
from gateway.memory.spaces import Space
from gateway.node.circlestore import (
    JOINED,
    PENDING,
    CircleRow,
    CircleStore,
    FaultRow,
    LogRow,
    Step,
)

log = logging.getLogger("gateway.circle")

CHANNEL = "circle"
KIND_MESSAGE = 1
KIND_GENESIS = 2
KIND_ECHO = 3  # u64 nonce: answered at once with KIND_ECHO_REPLY (the floor of bench/circle.py)
KIND_ECHO_REPLY = 4
#: most members of a circle this node creates: a larger circle's VIEW-CHANGE and NEW-VIEW
#: messages (quorum-many prepared certificates) would outgrow a link's records
LINK_MEMBERS = 32
#: seconds between timer ticks of the replicas
TICK = 0.25
#: seconds between genesis re-sends to members not heard from (restarted, newly added)
INVITE_INTERVAL = 10.0
#: most pending invitations kept
MAX_PENDING_INVITES = 64
#: most queued inputs (bytes from peers) before new ones are dropped
MAX_INBOX = 10_000
#: TEST ONLY: a node started with this variable set to a circle's local name equivocates
#: as that circle's primary (its PRE-PREPAREs differ between recipients). Never set it on
#: a real node; the integration tests use it to prove that equivocation is caught.
EQUIVOCATE_ENV = "GATEWAY_CIRCLE_TEST_EQUIVOCATE"
#: the faults passed to the ``on_fault`` hook (reputation)
HOOKED_FAULTS = {FaultKind.EQUIVOCATION, FaultKind.SILENT_PRIMARY}
#: seconds between two RANK-REPORTs of this node in one circle (sent only when its ranks of
#: the members changed), and between two looks at whether they changed
REPORT_INTERVAL = 600.0
REPORT_CHECK = 10.0
#: TEST ONLY: seconds to use instead of REPORT_INTERVAL (the integration tests set it to a
#: few seconds so that reputation reaches the primary order at once). Never set it on a
#: real node.
REPORT_INTERVAL_ENV = "GATEWAY_CIRCLE_TEST_REPORT_INTERVAL"

T = TypeVar("T")


class Links(Protocol):
    """What circles need of the link manager."""

    def online(self) -> list[bytes]: ...

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool: ...


class Contacts(Protocol):
    """What circles need of the contact book."""

    def is_contact(self, identity: bytes) -> bool: ...


class SpaceStore(Protocol):
    """What circles need of the memory store (``suppress`` is looked up when used)."""

    def set_space(self, space: Space) -> None: ...

    def space(self, name: str) -> Space | None: ...


@dataclass
class _Circle:
    circle_id: bytes
    name: str
    genesis: Genesis
    status: str
    inviter: bytes | None
    created: float
    replica: Replica | None = None
    equivocate: bool = False
    saved: bytes | None = None
    dirty: bool = False
    outbox: list[Send] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)
    faults: list[FaultRow] = field(default_factory=list)
    heard: set[bytes] = field(default_factory=set)
    last_invite: float = 0.0
    suppressed: set[bytes] = field(default_factory=set)
    sent: int = 0  # circle messages sent (one per recipient) since the process started
    last_report: float = float("-inf")  # when this node last proposed a RANK-REPORT
    report_check: float = float("-inf")  # when it last compared its ranks with its report


@dataclass
class _Proposal:
    circle_id: bytes
    decision: Decision
    done: asyncio.Future[dict[str, Any]]


class CircleService:
    """Owns the node's replicas, feeds them, persists them, sends their messages."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        db_path: Path,
        links: Links,
        contacts: Contacts,
        spaces: SpaceStore | None = None,
        *,
        timing: Timing | None = None,
        on_fault: Callable[[bytes, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        equivocate_in: str | None = None,
        rank: Callable[[bytes], int] | None = None,
        report_interval: float | None = None,
    ) -> None:
        self.key = key
        self.me = public_bytes(key)
        self.links = links
        self.contacts = contacts
        self.spaces = spaces
        self.timing = timing or Timing()
        self.on_fault = on_fault
        self.clock = clock
        self.equivocate_in = (
            equivocate_in if equivocate_in is not None else os.environ.get(EQUIVOCATE_ENV)
        )
        #: this node's rank of a member (0 leads): ReputationService.rank; None: no reports
        self.rank = rank
        self.report_interval = (
            report_interval if report_interval is not None else _report_interval_from_env()
        )
        self.counters: Counter[str] = Counter()
        self._exec = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="circles-db")
        self.store: CircleStore = self._exec.submit(CircleStore, db_path).result()
        self._circles: dict[bytes, _Circle] = {}
        self._inbox: list[tuple[bytes, bytes]] = []
        self._proposals: list[_Proposal] = []
        self._wake: asyncio.Event | None = None
        self._last_tick = 0.0
        self._applied_spaces: dict[str, Space] = {}
        self._warned_suppress = False
        self._echoes: dict[bytes, tuple[set[bytes], asyncio.Future[None]]] = {}
        for row in self._exec.submit(self.store.circles).result():
            self._load(row)

    # --- setup -------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _load(self, row: CircleRow) -> None:
        genesis = decode_genesis(row.genesis)
        c = _Circle(row.circle_id, row.name, genesis, row.status, row.inviter, row.created)
        c.equivocate = bool(self.equivocate_in) and self.equivocate_in == row.name
        if row.status == JOINED and row.snapshot is not None:
            try:
                c.replica = Replica.restore(
                    self.key, row.snapshot, now_ms=self._now_ms(), timing=self.timing
                )
            except GatewayError as exc:
                log.error("circle %s: its snapshot cannot be restored: %s", row.name, exc)
                c.status = "unreadable"
                self._circles[row.circle_id] = c
                return
            c.saved = row.snapshot
            c.outbox += [o for o in c.replica.catch_up(self._now_ms()) if isinstance(o, Send)]
            c.dirty = True
        self._circles[row.circle_id] = c

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._exec, fn, *args)

    def close_now(self) -> None:
        """Close the database without a running loop (a failed start)."""
        with contextlib.suppress(GatewayError):
            self._exec.submit(self.store.close).result()
        self._exec.shutdown(wait=True)

    async def close(self) -> None:
        for p in self._proposals:
            if not p.done.done():
                p.done.set_exception(CircleStateError("the node is stopping"))
        await self._db(self.store.close)
        self._exec.shutdown(wait=True)

    # --- inputs --------------------------------------------------------------------------

    def handler(self, contact: bytes, body: bytes) -> None:
        """The ``circle`` channel's handler: queue the bytes for the next step."""
        if len(self._inbox) >= MAX_INBOX:
            self.counters["dropped_inbox_full"] += 1
            return
        self._inbox.append((contact, body))
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def create(self, name: str, members: Iterable[bytes], *, interval: int = 16) -> bytes:
        """Create a circle of this node and ``members`` (contacts); its id. The genesis goes
        to the members at once (and again until each is heard from)."""
        name = _check_name(name)
        if any(c.name == name for c in self._circles.values()):
            raise CircleStateError(f"a circle is already named {name!r}")
        keys = set(members)
        if len(keys | {self.me}) > LINK_MEMBERS:
            raise CircleStateError(f"a circle has at most {LINK_MEMBERS} members here")
        for key in keys - {self.me}:
            if not self.contacts.is_contact(key):
                raise CircleStateError(f"member {key.hex()[:16]} is not a contact")
        circle_id = secrets.token_bytes(32)
        genesis = make_genesis(self.key, circle_id, keys | {self.me}, checkpoint_interval=interval)
        replica = Replica(self.key, genesis, now_ms=self._now_ms(), timing=self.timing)
        snap = replica.snapshot()
        row = CircleRow(circle_id, name, genesis.encode(), JOINED, None, self.clock(), snap)
        await self._db(self.store.add, row)
        c = _Circle(circle_id, name, genesis, JOINED, None, row.created, replica, saved=snap)
        c.equivocate = bool(self.equivocate_in) and self.equivocate_in == name
        self._circles[circle_id] = c
        self._poke()
        return circle_id

    async def join(self, circle_id: bytes, name: str | None = None) -> None:
        """Accept a pending invitation: start a replica and catch up from the members."""
        c = self.get(circle_id)
        if c.status == JOINED:
            raise CircleStateError(f"circle {circle_id.hex()[:16]} is already joined")
        if c.status != PENDING:  # unreadable: starting over would forget the votes it sent
            raise CircleStateError(f"circle {circle_id.hex()[:16]} is {c.status}, not pending")
        label = _check_name(name) if name else c.name
        if any(o.name == label and o is not c for o in self._circles.values()):
            raise CircleStateError(f"a circle is already named {label!r}")
        replica = Replica(self.key, c.genesis, now_ms=self._now_ms(), timing=self.timing)
        snap = replica.snapshot()
        await self._db(self.store.join, circle_id, label, snap)
        c.status, c.name, c.replica, c.saved = JOINED, label, replica, snap
        c.equivocate = bool(self.equivocate_in) and self.equivocate_in == label
        c.outbox += [o for o in replica.catch_up(self._now_ms()) if isinstance(o, Send)]
        c.dirty = True
        self._poke()

    async def invite(self, circle_id: bytes, contact: bytes) -> bool:
        """Send the circle's genesis to ``contact`` now; whether its link was up."""
        c = self.get(circle_id)
        if not self.contacts.is_contact(contact):
            raise CircleStateError(f"{contact.hex()[:16]} is not a contact")
        return self.links.send_now(contact, CHANNEL, bytes([KIND_GENESIS]) + c.genesis.encode())

    async def echo(self, circle_id: bytes, timeout: float = 30.0) -> dict[str, Any]:
        """One broadcast round trip to the circle's other members over the same links and
        channel as its messages (no replica, no database): the seconds until every member
        answered (None if one did not within ``timeout``)."""
        c = self.get(circle_id)
        if c.replica is None:
            raise CircleStateError(f"circle {circle_id.hex()[:16]} is not joined (circle join)")
        peers = set(c.replica.members) | set(c.replica.state.members)
        peers.discard(self.me)
        nonce = secrets.token_bytes(8)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = set(peers)
        self._echoes[nonce] = (waiting, done)
        started = time.monotonic()
        try:
            for peer in sorted(peers):
                self.links.send_now(peer, CHANNEL, bytes([KIND_ECHO]) + nonce)
            if not waiting:
                done.set_result(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), timeout)
        finally:
            self._echoes.pop(nonce, None)
        seconds = time.monotonic() - started
        return {
            "seconds": round(seconds, 4) if not waiting else None,
            "answered": sorted(p.hex() for p in peers - waiting),
            "missing": sorted(p.hex() for p in waiting),
        }

    async def propose(self, circle_id: bytes, decision: Decision) -> dict[str, Any]:
        """Propose ``decision``; returns once the request is durable and sent."""
        c = self.get(circle_id)
        if c.replica is None:
            raise CircleStateError(f"circle {circle_id.hex()[:16]} is not joined (circle join)")
        if isinstance(decision, AddMember) and not self.contacts.is_contact(decision.member):
            raise CircleStateError(f"member {decision.member.hex()[:16]} is not a contact")
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._proposals.append(_Proposal(circle_id, decision, done))
        self._poke()
        return await done

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Step on input and every :data:`TICK` seconds; until cancelled."""
        self._wake = asyncio.Event()
        self._apply_effects()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)
            self._wake.clear()
            try:
                await self.step()
            except GatewayError as exc:
                log.warning("circles: %s", exc)

    async def step(self) -> None:
        """Feed queued input, proposals and due timers; persist; send; apply."""
        now_ms = self._now_ms()
        inbox, self._inbox = self._inbox, []
        for sender, body in inbox:
            await self._on_body(sender, body, now_ms)
        proposals, self._proposals = self._proposals, []
        answered: list[tuple[_Proposal, dict[str, Any] | BaseException]] = []
        for p in proposals:
            c = self._circles.get(p.circle_id)
            if c is None or c.replica is None:
                answered.append((p, CircleStateError("the circle is not joined")))
                continue
            try:
                out = c.replica.propose(p.decision, now_ms)
            except CircleStateError as exc:
                answered.append((p, exc))
                continue
            self._absorb(c, out)
            answered.append(
                (p, {"circle": c.circle_id.hex(), "proposed": decision_json(p.decision)})
            )
        if now_ms - self._last_tick >= TICK * 1000 * 0.9:
            self._last_tick = now_ms
            for c in self._circles.values():
                if c.replica is not None:
                    self._absorb(c, c.replica.tick(now_ms))
            self._report_ranks(now_ms)
        self._invite_silent()
        ok = await self._persist()
        if ok:
            for c in self._circles.values():
                self._transmit(c)
        else:
            for c in self._circles.values():
                c.outbox.clear()
        self._apply_effects()
        for p, result in answered:
            if p.done.done():
                continue
            if isinstance(result, BaseException):
                p.done.set_exception(result)
            elif not ok:
                p.done.set_exception(CircleStateError("the circle state could not be saved"))
            else:
                p.done.set_result(result)

    async def _on_body(self, sender: bytes, body: bytes, now_ms: int) -> None:
        if not body:
            self.counters["malformed"] += 1
            return
        kind, payload = body[0], body[1:]
        if kind == KIND_GENESIS:
            await self._on_genesis(sender, payload)
            return
        if kind == KIND_ECHO and len(payload) == 8:
            self.links.send_now(sender, CHANNEL, bytes([KIND_ECHO_REPLY]) + payload)
            return
        if kind == KIND_ECHO_REPLY and len(payload) == 8:
            waiting = self._echoes.get(payload)
            if waiting is not None:
                waiting[0].discard(sender)
                if not waiting[0] and not waiting[1].done():
                    waiting[1].set_result(None)
            return
        if kind != KIND_MESSAGE or len(payload) < 34:
            self.counters["malformed"] += 1
            return
        c = self._circles.get(payload[2:34])
        if c is None or c.replica is None:
            self.counters["unknown_circle"] += 1
            return
        c.heard.add(sender)
        self.counters["received"] += 1
        self._absorb(c, c.replica.receive(payload, sender, now_ms))

    async def _on_genesis(self, sender: bytes, payload: bytes) -> None:
        try:
            genesis = decode_genesis(payload)
        except CircleError as exc:
            self.counters["bad_genesis"] += 1
            log.info("circles: a bad genesis from %s: %s", sender.hex()[:16], exc)
            return
        known = self._circles.get(genesis.circle_id)
        if known is not None:
            known.heard.add(sender)
            return
        pending = sum(1 for c in self._circles.values() if c.status == PENDING)
        if pending >= MAX_PENDING_INVITES:
            self.counters["invites_dropped"] += 1
            return
        name = "c-" + genesis.circle_id.hex()[:12]
        row = CircleRow(genesis.circle_id, name, payload, PENDING, sender, self.clock(), None)
        try:
            await self._db(self.store.add, row)
        except GatewayError as exc:  # known meanwhile, or the database failed: drop it
            log.info("circles: an invitation not kept: %s", exc)
            return
        self._circles[genesis.circle_id] = _Circle(
            genesis.circle_id, name, genesis, PENDING, sender, row.created
        )
        self.counters["invites_received"] += 1
        log.info("circles: invited to circle %s by %s", name, sender.hex()[:16])

    def _absorb(self, c: _Circle, outputs: list[Output]) -> None:
        c.dirty = True
        at = self.clock()
        for out in outputs:
            if isinstance(out, Send):
                c.outbox.append(out)
            elif isinstance(out, Committed):
                c.log.append(
                    LogRow(out.seq, _kind(out.decision), out.proposer, out.applied,
                           json.dumps(decision_json(out.decision), sort_keys=True), at)
                )  # fmt: skip
            elif isinstance(out, StateTransferred):
                detail = json.dumps({"digest": out.digest.hex()})
                c.log.append(LogRow(out.seq, "state_transfer", None, True, detail, at))
            elif isinstance(out, Fault):
                c.faults.append(FaultRow(out.member, out.kind.value, out.detail, out.evidence, at))
                self.counters[f"fault_{out.kind.value}"] += 1
                log.warning(
                    "circle %s: %s fault of %s: %s",
                    c.name, out.kind.value, out.member.hex()[:16], out.detail,
                )  # fmt: skip
                if (
                    out.kind in HOOKED_FAULTS
                    and self.on_fault is not None
                    and out.member != self.me
                    and self.contacts.is_contact(out.member)
                ):
                    try:
                        self.on_fault(out.member, out.kind.value)
                    except Exception:  # a hook never stops the circle
                        log.exception("circles: the fault hook failed")

    async def _persist(self) -> bool:
        steps: list[tuple[_Circle, Step]] = []
        for c in self._circles.values():
            if not c.dirty or c.replica is None:
                continue
            c.dirty = False
            snap = c.replica.snapshot()
            if snap == c.saved and not c.log and not c.faults:
                continue
            steps.append((c, Step(c.circle_id, snap, c.log, c.faults)))
            c.log, c.faults = [], []
        if not steps:
            return True
        try:
            await self._db(self.store.save, [s for _, s in steps])
        except GatewayError as exc:
            log.error("circles: could not save the replicas (nothing sent): %s", exc)
            return False
        for c, s in steps:
            c.saved = s.snapshot
        self.counters["saves"] += 1
        return True

    def _targets(self, c: _Circle, to: bytes | None) -> list[bytes]:
        assert c.replica is not None
        if to is not None:
            return [to] if to != self.me else []
        members = set(c.replica.members) | set(c.replica.state.members)
        return sorted(members - {self.me})

    def _transmit(self, c: _Circle) -> None:
        outbox, c.outbox = c.outbox, []
        if c.replica is None:
            return
        for send in outbox:
            targets = self._targets(c, send.to)
            alt = self._equivocation(c, send.data) if c.equivocate else None
            for i, peer in enumerate(targets):
                data = alt if alt is not None and i % 2 else send.data
                if self.links.send_now(peer, CHANNEL, bytes([KIND_MESSAGE]) + data):
                    self.counters["sent"] += 1
                    c.sent += 1
                else:
                    self.counters["not_sent_offline"] += 1

    def _equivocation(self, c: _Circle, data: bytes) -> bytes | None:
        """TEST ONLY (:data:`EQUIVOCATE_ENV`): a conflicting PRE-PREPARE for ``data``'s slot."""
        try:
            msg = decode(data, verify=False)
        except CircleError:
            return None
        if not isinstance(msg, PrePrepare) or msg.signer != self.me or msg.request is None:
            return None
        entry = hashlib.sha256(b"equivocation" + msg.digest).digest()
        req = make_request(self.key, msg.circle_id, msg.seq + 10**9, Tombstone(entry))
        self.counters["equivocations_sent"] += 1
        return make_pre_prepare(self.key, msg.circle_id, msg.view, msg.seq, req).raw

    def _report_ranks(self, now_ms: int) -> None:
        """Propose a RANK-REPORT in each circle where this node's ranks of the members
        differ from its report in the replicated state (at most every report_interval; never
        while one is still on its way)."""
        if self.rank is None:
            return
        now = now_ms / 1000
        for c in self._circles.values():
            r = c.replica
            if r is None or now - c.report_check < min(self.report_interval, REPORT_CHECK):
                continue
            c.report_check = now
            state = r.state
            if self.me not in state.members or self.me not in r.members:
                continue
            if now - c.last_report < self.report_interval:
                continue
            if any(isinstance(q.decision, RankReport) for q in r.own_requests):
                continue
            ranks = self._ranks(state.members)
            if ranks is None or ranks == reported(state.reports, state.members, self.me):
                continue
            c.last_report = now
            try:
                out = r.propose(RankReport(state.members_hash, ranks), now_ms)
            except CircleStateError as exc:
                log.warning("circle %s: no rank report: %s", c.name, exc)
                continue
            self.counters["rank_reports"] += 1
            self._absorb(c, out)

    def _ranks(self, members: tuple[bytes, ...]) -> tuple[int, ...] | None:
        """This node's rank of each member (of itself: neutral, which the circle ignores),
        or None if the hook failed."""
        assert self.rank is not None
        ranks = []
        for m in members:
            if m == self.me:
                ranks.append(NEUTRAL_RANK)
                continue
            try:
                value = int(self.rank(m))
            except Exception:  # a hook never stops the circle
                log.exception("circles: the rank hook failed")
                return None
            ranks.append(min(RANK_BUCKETS - 1, max(0, value)))
        return tuple(ranks)

    def _invite_silent(self) -> None:
        """Send the genesis to members not heard from (restarted, newly added, not joined)."""
        now = self.clock()
        online = set(self.links.online())
        for c in self._circles.values():
            if c.replica is None or now - c.last_invite < INVITE_INTERVAL:
                continue
            c.last_invite = now
            members = set(c.replica.members) | set(c.replica.state.members)
            body = bytes([KIND_GENESIS]) + c.genesis.encode()
            for peer in sorted((members & online) - c.heard - {self.me}):
                self.links.send_now(peer, CHANNEL, body)

    # --- effects on the node ---------------------------------------------------------------

    def governed_spaces(self) -> dict[str, Space]:
        """The memory spaces the joined circles govern, as the memory store should hold them.

        OPEN: every other circle member; LISTED: the listed keys that are circle members;
        REMOVED: nobody (the entries stay). A node that is no longer a member of the circle
        shares its spaces with nobody. Two circles governing one name: the later-created wins.
        """
        out: dict[str, Space] = {}
        for c in sorted(self._circles.values(), key=lambda c: c.created):
            if c.replica is None:
                continue
            state = c.replica.state
            member = self.me in state.members
            for sp in state.spaces:
                if not member:
                    keys: frozenset[bytes] = frozenset()
                elif sp.policy is SpacePolicy.OPEN:
                    keys = frozenset(state.members)
                else:
                    keys = frozenset(sp.members) & frozenset(state.members)
                out[sp.name] = Space(sp.name, False, keys - {self.me})
        for name in self._applied_spaces:  # dissolved (REMOVED) spaces: shared with nobody
            out.setdefault(name, Space(name, False))
        return out

    def _apply_effects(self) -> None:
        if self.spaces is None:
            return
        try:
            for name, space in self.governed_spaces().items():
                if self._applied_spaces.get(name) != space or self.spaces.space(name) != space:
                    self.spaces.set_space(space)
                    self._applied_spaces[name] = space
                    log.info("circles: space %s now shared with %d", name, len(space.members))
        except GatewayError as exc:
            log.warning("circles: could not apply a space: %s", exc)
        suppress = getattr(self.spaces, "suppress", None)
        for c in self._circles.values():
            if c.replica is None:
                continue
            todo = c.replica.state.tombstones - c.suppressed
            if not todo:
                continue
            if suppress is None:
                if not self._warned_suppress:
                    log.warning("circles: this memory store cannot suppress entries yet")
                    self._warned_suppress = True
                return
            for entry_id in sorted(todo):
                try:
                    suppress(entry_id, f"circle {c.name} tombstone")
                except GatewayError as exc:
                    log.warning("circles: could not suppress %s: %s", entry_id.hex()[:16], exc)
                    continue
                c.suppressed.add(entry_id)
                self.counters["suppressed"] += 1

    # --- views ---------------------------------------------------------------------------

    def get(self, circle_id: bytes) -> _Circle:
        c = self._circles.get(circle_id)
        if c is None:
            raise CircleStateError(f"no circle {circle_id.hex()[:16]}")
        return c

    def find(self, text: str) -> bytes:
        """The circle named ``text``, or whose id starts with hex ``text`` (8+ digits)."""
        text = text.strip()
        for c in self._circles.values():
            if c.name == text:
                return c.circle_id
        low = text.lower()
        if len(low) >= 8 and all(ch in "0123456789abcdef" for ch in low):
            found = [
                c.circle_id for c in self._circles.values() if c.circle_id.hex().startswith(low)
            ]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise CircleStateError(f"{len(found)} circles start with {low}: give more digits")
        raise CircleStateError(f"no circle named or starting with {text[:80]!r}")

    def list_json(self) -> list[dict[str, Any]]:
        return [self._summary(c) for c in self._circles.values()]

    def _summary(self, c: _Circle) -> dict[str, Any]:
        r = c.replica
        members = r.state.members if r is not None else c.genesis.members
        return {
            "id": c.circle_id.hex(),
            "name": c.name,
            "status": c.status,
            "members": [m.hex() for m in members],
            "last_executed": r.last_executed if r is not None else 0,
            "inviter": c.inviter.hex() if c.inviter is not None else None,
        }

    async def status_json(self, circle_id: bytes) -> dict[str, Any]:
        c = self.get(circle_id)
        out = self._summary(c)
        out["creator"] = c.genesis.creator.hex()
        out["checkpoint_interval"] = c.genesis.checkpoint_interval
        faults = await self._db(self.store.faults, circle_id)
        out["faults"] = [
            {"member": f.member.hex(), "kind": f.kind, "detail": f.detail,
             "evidence": f.evidence.hex(), "at": f.at}
            for f in faults
        ]  # fmt: skip
        r = c.replica
        if r is None:
            out["replica"] = None
            return out
        n = len(r.members)
        state = r.state
        out["replica"] = {
            "view": r.view,
            "active": r.active,
            "primary": r.primary.hex(),
            "is_member": self.me in state.members,
            "config": [m.hex() for m in r.members],
            "n": n,
            "f": faults_tolerated(n),
            "quorum": quorum(n),
            "last_executed": r.last_executed,
            "stable_seq": r.stable_seq,
            "state_digest": state.digest.hex(),
            "messages_sent": c.sent,
            "order": [m.hex() for m in r.order],
            "ranks": {m.hex(): x for m, x in zip(r.members, r.stable_state.ranks, strict=True)},
        }
        out["spaces"] = [
            {
                "name": s.name,
                "policy": s.policy.name.lower(),
                "members": [m.hex() for m in s.members],
            }
            for s in state.spaces
        ]
        out["tombstones"] = sorted(t.hex() for t in state.tombstones)
        out["answers"] = [{"round_id": a.hex(), "answer_digest": d.hex()} for a, d in state.answers]
        return out

    async def log_json(
        self, circle_id: bytes, *, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        self.get(circle_id)
        rows = await self._db(self.store.log, circle_id, after, limit)
        return [
            {"seq": r.seq, "kind": r.kind, "proposer": r.proposer.hex() if r.proposer else None,
             "applied": r.applied, "decision": json.loads(r.decision), "at": r.at}
            for r in rows
        ]  # fmt: skip


# --- decisions as JSON -----------------------------------------------------------------


def _kind(decision: Decision) -> str:
    return {
        AddMember: "add_member",
        RemoveMember: "remove_member",
        SetSpace: "set_space",
        Tombstone: "tombstone",
        RecordAnswer: "record_answer",
        RankReport: "rank_report",
    }[type(decision)]


def decision_json(decision: Decision) -> dict[str, Any]:
    """A decision as JSON (keys hex)."""
    out: dict[str, Any] = {"kind": _kind(decision)}
    if isinstance(decision, AddMember | RemoveMember):
        out["member"] = decision.member.hex()
    elif isinstance(decision, SetSpace):
        out |= {
            "space": decision.space,
            "policy": decision.policy.name.lower(),
            "members": [m.hex() for m in decision.members],
        }
    elif isinstance(decision, Tombstone):
        out["entry_id"] = decision.entry_id.hex()
    elif isinstance(decision, RankReport):
        out |= {"members_hash": decision.members_hash.hex(), "ranks": list(decision.ranks)}
    else:
        out |= {"round_id": decision.round_id.hex(), "answer_digest": decision.answer_digest.hex()}
    return out


def parse_decision(
    body: Mapping[str, Any],
    resolve_member: Callable[[str], bytes],
    resolve_entry: Callable[[str], bytes],
) -> Decision:
    """A decision from JSON ``{"kind": ..., ...}``; CircleStateError naming what is wrong.

    Kinds (``-`` or ``_``): add-member / remove-member ``member`` (contact name or key hex);
    set-space ``space``, ``policy`` (open, listed, removed), ``members`` (for listed);
    tombstone ``entry`` (an entry id or its 8+ first hex digits); record-answer ``round_id``
    (64 hex) and ``answer_digest`` (64 hex) or ``answer`` (text, hashed with SHA-256).
    """
    kind = str(body.get("kind", "")).replace("-", "_")
    allowed = {
        "add_member": {"member"},
        "remove_member": {"member"},
        "set_space": {"space", "policy", "members"},
        "tombstone": {"entry"},
        "record_answer": {"round_id", "answer_digest", "answer"},
    }
    if kind not in allowed:
        raise CircleStateError(
            "kind must be one of add-member, remove-member, set-space, tombstone, record-answer"
        )
    unknown = set(body) - allowed[kind] - {"kind"}
    if unknown:
        raise CircleStateError(f"{kind}: unknown fields {', '.join(sorted(unknown))}")

    def text(name: str) -> str:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise CircleStateError(f'{kind}: "{name}" is required (a string)')
        return value.strip()

    if kind in ("add_member", "remove_member"):
        key = resolve_member(text("member"))
        return AddMember(key) if kind == "add_member" else RemoveMember(key)
    if kind == "set_space":
        policy_name = text("policy").lower()
        try:
            policy = SpacePolicy[policy_name.upper()]
        except KeyError:
            raise CircleStateError("set_space: policy is open, listed or removed") from None
        raw = body.get("members", [])
        if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
            raise CircleStateError('set_space: "members" must be a list of names or keys')
        if policy is not SpacePolicy.LISTED and raw:
            raise CircleStateError(f"set_space: a {policy_name} space lists no members")
        keys = tuple(sorted({resolve_member(m) for m in raw}))
        decision: Decision = SetSpace(text("space"), policy, keys)
    elif kind == "tombstone":
        decision = Tombstone(resolve_entry(text("entry")))
    else:
        round_id = _hex32(text("round_id"), "round_id")
        if body.get("answer") is not None:
            digest = hashlib.sha256(text("answer").encode("utf-8")).digest()
        else:
            digest = _hex32(text("answer_digest"), "answer_digest")
        decision = RecordAnswer(round_id, digest)
    try:
        check_decision(decision)
    except ValueError as exc:
        raise CircleStateError(f"{kind}: {exc}") from exc
    return decision


def _report_interval_from_env() -> float:
    """REPORT_INTERVAL, or the TEST ONLY override of :data:`REPORT_INTERVAL_ENV`."""
    raw = os.environ.get(REPORT_INTERVAL_ENV)
    if not raw:
        return REPORT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= REPORT_INTERVAL:
        log.warning("circles: ignoring %s=%r (seconds, 0 < s <= %g)", REPORT_INTERVAL_ENV, raw,
                    REPORT_INTERVAL)  # fmt: skip
        return REPORT_INTERVAL
    log.warning("circles: TEST ONLY: rank reports every %g s (%s)", value, REPORT_INTERVAL_ENV)
    return value


def _hex32(text: str, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise CircleStateError(f"{what} must be 64 hex digits")
    return value


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64 or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise CircleStateError(
            f"a circle name is 1-64 of letters, digits, . _ -, not {name[:80]!r}"
        )
    return name
