"""The sans-I/O PBFT replica of one circle member (Castro and Liskov, OSDI 1999).

A :class:`Replica` takes bytes from authenticated peers, proposals and clock ticks, and
returns what to send and what happened (:mod:`gateway.circle.outputs`). It never
blocks, reads a clock or touches a socket. The protocol, including how membership
changes take effect at checkpoint boundaries, is specified in docs/PROTOCOL-circles.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.circle import snapshot as snap
from gateway.circle.decisions import (
    CircleState,
    Decision,
    Genesis,
    already_executed,
    check_decision,
    execute,
    genesis_state,
    public_bytes,
)
from gateway.circle.messages import (
    NULL_DIGEST,
    Checkpoint,
    Commit,
    CommitCert,
    ConfigLink,
    Message,
    NewView,
    Prepare,
    PreparedCert,
    PrePrepare,
    Request,
    StateReply,
    StateRequest,
    ViewChange,
    decode,
    equivocation_evidence,
    make_checkpoint,
    make_commit,
    make_new_view,
    make_pre_prepare,
    make_prepare,
    make_request,
    make_state_reply,
    make_state_request,
    make_view_change,
    pre_prepare_signed,
)
from gateway.circle.outputs import (
    CheckpointStable,
    Committed,
    Fault,
    FaultKind,
    MembershipChanged,
    Output,
    Send,
    StateTransferred,
    ViewChanged,
)
from gateway.circle.quorum import faults_tolerated, has_quorum, quorum
from gateway.errors import CircleError, CircleStateError

#: most requests waiting to be ordered, in all and per proposer
MAX_PENDING = 1024
MAX_PENDING_PER_MEMBER = 64
#: COMMITs kept per (sequence number, member): the latest views
MAX_COMMIT_VIEWS = 4
#: primary orders remembered of checkpoints below the stable one (to judge a late NEW-VIEW)
MAX_PAST_ORDERS = 64
_NEVER = -(1 << 62)


@dataclass(frozen=True)
class Timing:
    """Timers of a replica, in milliseconds; the timeouts double with every view change
    that brings no progress (up to ``2 ** max_backoff``)."""

    request_timeout_ms: int = 4_000
    view_change_timeout_ms: int = 4_000
    retransmit_ms: int = 1_000
    sync_interval_ms: int = 2_000
    max_backoff: int = 5


_Status = str  # "ok", "bad" or "unknown" (this replica must catch up to judge)


class Replica:
    """One member's replica of a circle's ordered log of decisions."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        genesis: Genesis,
        *,
        now_ms: int = 0,
        timing: Timing | None = None,
    ) -> None:
        self._key = key
        self.me = public_bytes(key)
        self.genesis = genesis
        self.circle_id = genesis.circle_id
        self.K = genesis.checkpoint_interval
        self.L = 2 * self.K
        self._timing = timing or Timing()
        state = genesis_state(genesis)
        self._state = state
        self._stable_state = state
        self._stable_proof: tuple[Checkpoint, ...] = ()
        self._links: list[ConfigLink] = []
        #: (boundary, primary order from there on; None: not known) below the stable one
        self._past_orders: list[tuple[int, tuple[bytes, ...] | None]] = [(0, state.order)]
        self._snapshots: dict[int, CircleState] = {}
        self._view = 0
        self._active = True
        self._backoff = 0
        self._last_ts = 0
        self._pp: dict[int, PrePrepare] = {}
        self._prepares: dict[tuple[int, int], dict[bytes, Prepare]] = {}
        self._commits: dict[int, dict[tuple[int, bytes], Commit]] = {}
        self._prepared: dict[int, PreparedCert] = {}
        self._certs: dict[int, CommitCert] = {}
        self._bodies: dict[bytes, Request] = {}
        self._checkpoints: dict[int, dict[bytes, Checkpoint]] = {}
        self._vcs: dict[int, dict[bytes, ViewChange]] = {}
        self._new_view: NewView | None = None
        self._pending: dict[bytes, Request] = {}
        self._own: dict[bytes, Request] = {}
        self._sent_prepare: set[tuple[int, int]] = set()
        self._sent_commit: set[tuple[int, int]] = set()
        self._seen_view: dict[bytes, int] = {}
        self._now = now_ms
        self._req_timer: int | None = None
        self._vc_timer: int | None = None
        self._last_retransmit = now_ms
        self._last_sync = now_ms
        self._last_state_request = _NEVER
        self._replied: dict[bytes, int] = {}
        self._nv_sent: dict[bytes, int] = {}
        self._fault_keys: set[tuple[object, ...]] = set()
        self._out: list[Output] = []
        self._changes = 0
        self._executing = False

    # --- read-only view ------------------------------------------------------------------

    @property
    def view(self) -> int:
        return self._view

    @property
    def active(self) -> bool:
        """False while a view change is under way."""
        return self._active

    @property
    def members(self) -> tuple[bytes, ...]:
        """The configuration in force: the members at the last stable checkpoint."""
        return self._stable_state.members

    @property
    def order(self) -> tuple[bytes, ...]:
        """The primary order in force: the members at the last stable checkpoint sorted by
        their agreed rank there (gateway.circle.ranks), then by key."""
        return self._stable_state.order

    @property
    def primary(self) -> bytes:
        return self._primary_of(self._view, self.order)

    @property
    def own_requests(self) -> tuple[Request, ...]:
        """This member's proposals that were not executed yet."""
        return tuple(self._own.values())

    @property
    def last_executed(self) -> int:
        return self._state.seq

    @property
    def stable_seq(self) -> int:
        return self._stable_state.seq

    @property
    def state(self) -> CircleState:
        """The state after the last executed sequence number."""
        return self._state

    @property
    def stable_state(self) -> CircleState:
        return self._stable_state

    @property
    def is_member(self) -> bool:
        return self.me in self.members

    # --- inputs ----------------------------------------------------------------------------

    def receive(self, data: bytes, sender: bytes, now_ms: int) -> list[Output]:
        """Handle ``data`` from the authenticated peer ``sender``."""
        self._begin(now_ms)
        try:
            msg = decode(data)
        except CircleError as exc:
            kind = FaultKind.BAD_SIGNATURE if exc.reason == "bad_signature" else FaultKind.MALFORMED
            self._fault(sender, kind, detail=str(exc), key=(sender, kind, exc.reason))
            return self._finish()
        if msg.circle_id != self.circle_id:
            self._fault(sender, FaultKind.MALFORMED, detail="a message of another circle")
        elif not isinstance(msg, Request | NewView) and msg.signer != sender:
            self._fault(sender, FaultKind.IMPERSONATION, detail="signed by another member")
        else:
            self._dispatch(msg)
        return self._finish()

    def propose(self, decision: Decision, now_ms: int) -> list[Output]:
        """Sign ``decision`` as a REQUEST and send it to every member."""
        self._begin(now_ms)
        if self.me not in self.members and self.me not in self._state.members:
            raise CircleStateError("only a member of the circle can propose")
        try:
            check_decision(decision)
        except ValueError as exc:
            raise CircleStateError(f"bad decision: {exc}") from exc
        self._last_ts = max(now_ms, self._last_ts + 1)
        request = make_request(self._key, self.circle_id, self._last_ts, decision)
        self._own[request.digest] = request
        self._send(None, request.raw)
        self._on_request(request)
        return self._finish()

    def tick(self, now_ms: int) -> list[Output]:
        """Fire the timers that are due at ``now_ms``."""
        self._begin(now_ms)
        t = self._timing
        factor = 1 << min(self._backoff, t.max_backoff)
        if (
            self._active
            and self._req_timer is not None
            and now_ms - self._req_timer >= t.request_timeout_ms * factor
        ):
            if self.primary != self.me:
                detail = f"no progress in view {self._view}"
                self._fault(self.primary, FaultKind.SILENT_PRIMARY, detail=detail)
            self._start_view_change(self._view + 1)
        elif (
            not self._active
            and self._vc_timer is not None
            and now_ms - self._vc_timer >= t.view_change_timeout_ms * factor
        ):
            self._start_view_change(self._view + 1)
        if now_ms - self._last_retransmit >= t.retransmit_ms:
            self._retransmit()
        if now_ms - self._last_sync >= t.sync_interval_ms:
            self._last_sync = now_ms
            self._request_state(force=True)
        return self._finish()

    def catch_up(self, now_ms: int) -> list[Output]:
        """Ask the members for what this replica missed (after a restore, or to join)."""
        self._begin(now_ms)
        self._request_state(force=True)
        return self._finish()

    # --- durable state ---------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything needed to resume after a crash (persist it before sending outputs)."""
        return snap.encode(
            snap.Snapshot(
                genesis=self.genesis,
                view=self._view,
                active=self._active,
                backoff=self._backoff,
                last_ts=self._last_ts,
                stable_state=self._stable_state,
                stable_proof=self._stable_proof,
                links=tuple(self._links),
                state=self._state,
                snapshots=tuple(self._snapshots[s] for s in sorted(self._snapshots)),
                pre_prepares=tuple(self._pp[n] for n in sorted(self._pp)),
                prepares=tuple(p for slot in self._prepares.values() for p in slot.values()),
                commits=tuple(c for slot in self._commits.values() for c in slot.values()),
                prepared=tuple(self._prepared[n] for n in sorted(self._prepared)),
                certs=tuple(self._certs[n] for n in sorted(self._certs)),
                checkpoints=tuple(c for s in self._checkpoints.values() for c in s.values()),
                view_changes=tuple(v for s in self._vcs.values() for v in s.values()),
                new_view=self._new_view,
                pending=tuple(self._pending.values()),
                own=tuple(self._own.values()),
                sent_prepare=tuple(sorted(self._sent_prepare)),
                sent_commit=tuple(sorted(self._sent_commit)),
            )
        )

    @classmethod
    def restore(
        cls,
        key: Ed25519PrivateKey,
        data: bytes,
        *,
        now_ms: int,
        timing: Timing | None = None,
    ) -> Replica:
        """A replica resumed from :meth:`snapshot`; call :meth:`catch_up` next."""
        s = snap.decode(data)
        r = cls(key, s.genesis, now_ms=now_ms, timing=timing)
        if s.state.circle_id != r.circle_id or s.stable_state.circle_id != r.circle_id:
            raise CircleStateError("the snapshot is of another circle")
        r._view, r._active, r._backoff, r._last_ts = s.view, s.active, s.backoff, s.last_ts
        r._stable_state, r._stable_proof, r._links = s.stable_state, s.stable_proof, list(s.links)
        r._past_orders = [(s.stable_state.seq, s.stable_state.order)]
        r._state = s.state
        r._snapshots = {x.seq: x for x in s.snapshots}
        r._pp = {pp.seq: pp for pp in s.pre_prepares}
        for p in s.prepares:
            r._prepares.setdefault((p.view, p.seq), {})[p.signer] = p
        for c in s.commits:
            r._commits.setdefault(c.seq, {})[(c.view, c.signer)] = c
        r._prepared = {c.pre_prepare.seq: c for c in s.prepared}
        r._certs = {c.seq: c for c in s.certs}
        for cp in s.checkpoints:
            r._checkpoints.setdefault(cp.seq, {})[cp.signer] = cp
        for vc in s.view_changes:
            r._vcs.setdefault(vc.new_view, {})[vc.signer] = vc
        r._new_view = s.new_view
        r._pending = {q.digest: q for q in s.pending}
        r._own = {q.digest: q for q in s.own}
        for req in (*s.pending, *s.own):
            r._bodies[req.digest] = req
        for pp in (*s.pre_prepares, *(c.pre_prepare for c in s.prepared)):
            if pp.request is not None:
                r._bodies[pp.digest] = pp.request
        for cert in s.certs:
            if cert.request is not None:
                r._bodies[cert.digest] = cert.request
        r._sent_prepare, r._sent_commit = set(s.sent_prepare), set(s.sent_commit)
        if r._pending:
            r._req_timer = now_ms
        return r

    # --- plumbing --------------------------------------------------------------------------

    def _begin(self, now_ms: int) -> None:
        self._now = max(self._now, now_ms)
        self._out = []

    def _finish(self) -> list[Output]:
        self._settle()
        out, self._out = self._out, []
        return out

    def _send(self, to: bytes | None, data: bytes) -> None:
        self._out.append(Send(to, data))

    def _fault(
        self,
        member: bytes,
        kind: FaultKind,
        evidence: bytes = b"",
        detail: str = "",
        key: tuple[object, ...] | None = None,
    ) -> None:
        fault_key = key if key is not None else (member, kind, self._view)
        if fault_key in self._fault_keys:
            return
        if len(self._fault_keys) > 4096:
            self._fault_keys.clear()
        self._fault_keys.add(fault_key)
        self._out.append(Fault(member, kind, evidence, detail))

    @staticmethod
    def _primary_of(view: int, order: tuple[bytes, ...]) -> bytes:
        return order[view % len(order)]

    def _members_at(self, x: int) -> tuple[bytes, ...] | None:
        """The members after checkpoint boundary ``x``, if this replica knows them."""
        h = self.stable_seq
        if x == h:
            return self._stable_state.members
        if x > h:
            known = self._snapshots.get(x)
            return known.members if known is not None else None
        members = self.genesis.members
        for link in self._links:
            if link.seq > x:
                break
            members = link.members
        return members

    def _order_at(self, x: int) -> tuple[bytes, ...] | None:
        """The primary order after checkpoint boundary ``x``, if this replica knows it: from
        the state there (its stable state or a checkpoint it executed), or, below the stable
        checkpoint, as it was when this replica went past ``x``."""
        h = self.stable_seq
        if x == h:
            return self._stable_state.order
        if x > h:
            known = self._snapshots.get(x)
            return known.order if known is not None else None
        if not self._past_orders or self._past_orders[0][0] > x:
            return None
        order: tuple[bytes, ...] | None = None
        for seq, past in self._past_orders:
            if seq > x:
                break
            order = past
        members = self._members_at(x)
        if order is None or members is None or tuple(sorted(order)) != members:
            return None
        return order

    def _config_for(self, n: int) -> tuple[bytes, ...] | None:
        """The members that order sequence number ``n``."""
        return self._members_at(((n - 1) // self.K) * self.K)

    def _order_for(self, n: int) -> tuple[bytes, ...] | None:
        """The primary order of the configuration that orders sequence number ``n``."""
        return self._order_at(((n - 1) // self.K) * self.K)

    def _in_window(self, n: int) -> bool:
        return self.stable_seq < n <= self.stable_seq + self.L

    def _may_act(self, n: int) -> bool:
        """Whether this replica may vote on ``n``: inside the watermarks, and ordered by the
        configuration in force, members and primary order (never past a boundary that
        changes it before it is stable)."""
        return self._in_window(n) and self._order_for(n) == self.order

    def _known(self, member: bytes) -> bool:
        return member in self.members or member in self._state.members

    # --- dispatch ------------------------------------------------------------------------

    def _dispatch(self, msg: Message) -> None:
        if isinstance(msg, Request):
            self._on_request(msg)
        elif isinstance(msg, PrePrepare):
            self._on_pre_prepare(msg)
        elif isinstance(msg, Prepare):
            self._on_prepare(msg)
        elif isinstance(msg, Commit):
            self._on_commit(msg)
        elif isinstance(msg, Checkpoint):
            self._on_checkpoint(msg)
        elif isinstance(msg, ViewChange):
            self._on_view_change(msg)
        elif isinstance(msg, NewView):
            self._on_new_view(msg)
        elif isinstance(msg, StateRequest):
            self._on_state_request(msg)
        else:
            self._on_state_reply(msg)

    def _settle(self) -> None:
        """Vote, execute and assign until nothing changes any more."""
        while True:
            before = self._changes
            for n in sorted(self._pp):
                self._progress(n)
            self._execute_ready()
            self._assign()
            if self._changes == before:
                return

    # --- normal case -----------------------------------------------------------------------

    def _on_request(self, req: Request) -> None:
        if not self._known(req.signer):
            self._fault(req.signer, FaultKind.NOT_MEMBER, detail="a request from a non-member")
            return
        if req.digest in self._pending or already_executed(self._state, req.signer, req.timestamp):
            return
        mine = sum(1 for r in self._pending.values() if r.signer == req.signer)
        if len(self._pending) >= MAX_PENDING or mine >= MAX_PENDING_PER_MEMBER:
            return
        self._pending[req.digest] = req
        self._bodies[req.digest] = req
        if self._req_timer is None and self.is_member:
            self._req_timer = self._now
        self._changes += 1

    def _assign(self) -> None:
        """As the primary, give pending requests the next sequence numbers."""
        if not (self._active and self.is_member and self.primary == self.me):
            return
        assigned = {pp.digest for pp in self._pp.values()}
        for digest, req in list(self._pending.items()):
            if digest in assigned:
                continue
            n = max(self.stable_seq, self.last_executed, *self._pp) + 1
            if not self._may_act(n):
                return
            pp = make_pre_prepare(self._key, self.circle_id, self._view, n, req)
            self._pp[n] = pp
            assigned.add(digest)
            self._send(None, pp.raw)
            self._changes += 1
        # a membership change (or a new primary order) waits for the next checkpoint
        # boundary: reach it with null requests rather than waiting for traffic
        last = max(self.stable_seq, self.last_executed, *self._pp)
        if last % self.K and self._state.order != self._order_for(last):
            for n in range(last + 1, (last // self.K + 1) * self.K + 1):
                if not self._may_act(n):
                    return
                pp = make_pre_prepare(self._key, self.circle_id, self._view, n, None)
                self._pp[n] = pp
                self._send(None, pp.raw)
                self._changes += 1

    def _on_pre_prepare(self, pp: PrePrepare) -> None:
        if pp.request is not None and self._in_window(pp.seq):
            self._bodies.setdefault(pp.digest, pp.request)
        if pp.view == self._view and self._active and self._in_window(pp.seq):
            self._accept_pre_prepare(pp)
        self._saw(pp.signer, pp.view)

    def _accept_pre_prepare(self, pp: PrePrepare) -> None:
        order = self._order_for(pp.seq)
        if order is None:
            return
        primary = self._primary_of(pp.view, order)
        if pp.signer != primary:
            self._fault(pp.signer, FaultKind.NOT_PRIMARY, detail=f"PRE-PREPARE for {pp.seq}")
            return
        known = self._pp.get(pp.seq)
        if known is not None:
            if known.digest != pp.digest:
                self._equivocation(pp, (known.digest, known.sig), (pp.digest, pp.sig))
            return
        self._pp[pp.seq] = pp
        self._changes += 1
        for p in list(self._prepares.get((pp.view, pp.seq), {}).values()):
            if p.digest != pp.digest:
                self._prepare_conflict(p, pp)

    def _on_prepare(self, p: Prepare) -> None:
        if p.view == self._view and self._in_window(p.seq):
            self._store_prepare(p)
        self._saw(p.signer, p.view)

    def _store_prepare(self, p: Prepare) -> None:
        cfg = self._config_for(p.seq)
        if cfg is None:
            return
        if p.signer not in cfg:
            self._fault(p.signer, FaultKind.NOT_MEMBER, detail="a PREPARE from a non-member")
            return
        slot = self._prepares.setdefault((p.view, p.seq), {})
        known = slot.get(p.signer)
        if known is not None:
            if known.digest != p.digest and p.signer != self.me:
                detail = f"two PREPAREs for view {p.view} seq {p.seq}"
                key = (p.signer, FaultKind.EQUIVOCATION, p.view, p.seq)
                self._fault(p.signer, FaultKind.EQUIVOCATION, known.raw + p.raw, detail, key)
            return
        slot[p.signer] = p
        self._changes += 1
        pp = self._pp.get(p.seq)
        if pp is not None and pp.view == p.view and p.digest != pp.digest:
            self._prepare_conflict(p, pp)

    def _prepare_conflict(self, p: Prepare, pp: PrePrepare) -> None:
        """A PREPARE for another digest than our pre-prepare: if it quotes a valid primary
        signature, the primary equivocated."""
        if pre_prepare_signed(self.circle_id, pp.signer, pp.view, pp.seq, p.digest, p.pp_sig):
            self._equivocation(pp, (pp.digest, pp.sig), (p.digest, p.pp_sig))
        else:
            self._fault(p.signer, FaultKind.BAD_SIGNATURE, detail="a PREPARE quoting a bad sig")

    def _equivocation(self, pp: PrePrepare, a: tuple[bytes, bytes], b: tuple[bytes, bytes]) -> None:
        evidence = equivocation_evidence(self.circle_id, pp.signer, pp.view, pp.seq, a, b)
        detail = f"two PRE-PREPAREs for view {pp.view} seq {pp.seq}"
        key = (pp.signer, FaultKind.EQUIVOCATION, pp.view)
        self._fault(pp.signer, FaultKind.EQUIVOCATION, evidence, detail, key)
        if pp.view == self._view and self._active:
            self._start_view_change(self._view + 1)

    def _progress(self, n: int) -> None:
        """Send our PREPARE and COMMIT for ``n`` once they are due."""
        pp = self._pp.get(n)
        if pp is None or not self._active or pp.view != self._view:
            return
        if not self.is_member or not self._may_act(n):
            return
        slot = (pp.view, n)
        if pp.signer != self.me and slot not in self._sent_prepare:
            prepare = make_prepare(self._key, pp)
            self._sent_prepare.add(slot)
            self._prepares.setdefault(slot, {}).setdefault(self.me, prepare)
            self._send(None, prepare.raw)
            self._changes += 1
        if slot not in self._sent_commit:
            cert = self._prepared_cert(pp)
            if cert is None:
                return
            self._prepared[n] = cert
            commit = make_commit(self._key, self.circle_id, pp.view, n, pp.digest)
            self._sent_commit.add(slot)
            self._add_commit(commit)
            self._send(None, commit.raw)
            self._changes += 1

    def _prepared_cert(self, pp: PrePrepare) -> PreparedCert | None:
        cfg = self.members
        matching = [
            p
            for p in self._prepares.get((pp.view, pp.seq), {}).values()
            if p.digest == pp.digest
            and p.pp_sig == pp.sig
            and p.signer in cfg
            and p.signer != pp.signer
        ]
        need = quorum(len(cfg)) - 1
        if len(matching) < need:
            return None
        return PreparedCert(pp, tuple(sorted(matching, key=lambda p: p.signer)[:need]))

    def _on_commit(self, c: Commit) -> None:
        if self._in_window(c.seq) and c.view <= self._view + 1 and self._known(c.signer):
            self._add_commit(c)
        self._saw(c.signer, c.view)

    def _add_commit(self, c: Commit) -> None:
        slot = self._commits.setdefault(c.seq, {})
        if (c.view, c.signer) in slot:
            return
        slot[(c.view, c.signer)] = c
        self._changes += 1
        views = sorted(v for v, s in slot if s == c.signer)
        if len(views) > MAX_COMMIT_VIEWS:
            del slot[(views[0], c.signer)]

    def _commit_cert(self, n: int, cfg: tuple[bytes, ...]) -> CommitCert | None:
        """Commits of a quorum of ``cfg`` for one (view, digest) at ``n``, with its request."""
        groups: dict[tuple[int, bytes], list[Commit]] = {}
        for (view, signer), c in self._commits.get(n, {}).items():
            if signer in cfg:
                groups.setdefault((view, c.digest), []).append(c)
        need = quorum(len(cfg))
        for (_, digest), commits in sorted(groups.items()):
            if len(commits) < need:
                continue
            request = None
            if digest != NULL_DIGEST:
                request = self._bodies.get(digest)
                if request is None:
                    continue
            return CommitCert(request, tuple(sorted(commits, key=lambda c: c.signer)[:need]))
        return None

    def _execute_ready(self) -> None:
        if self._executing:
            return
        self._executing = True
        try:
            while True:
                n = self.last_executed + 1
                cfg = self._config_for(n)
                if not self._in_window(n) or cfg is None:
                    return
                cert = self._commit_cert(n, cfg)
                if cert is None:
                    return
                self._execute(n, cert)
        finally:
            self._executing = False

    def _execute(self, n: int, cert: CommitCert) -> None:
        state, request = self._state, cert.request
        if request is None:
            new, _ = execute(state, n, b"", 0, None)
        else:
            fresh = request.signer in state.members and not already_executed(
                state, request.signer, request.timestamp
            )
            new, applied = execute(state, n, request.signer, request.timestamp, request.decision)
            if fresh:
                self._out.append(Committed(n, request.decision, request.signer, applied))
        self._state = new
        self._certs[n] = cert
        self._changes += 1
        self._drop_executed()
        self._backoff = 0
        self._req_timer = self._now if self._pending and self.is_member else None
        if n % self.K == 0:
            self._snapshots[n] = new
            cfg = self._config_for(n)
            if cfg is not None and self.me in cfg:
                cp = make_checkpoint(self._key, self.circle_id, n, new.digest)
                self._checkpoints.setdefault(n, {})[self.me] = cp
                self._send(None, cp.raw)
            self._check_stable(n)

    def _drop_executed(self) -> None:
        """Forget requests that were executed, and those of a proposer no longer in the
        executed state: they would only ever execute as no-ops (and, still pending, be
        ordered again and again)."""
        state = self._state
        for requests in (self._pending, self._own):
            for digest, req in list(requests.items()):
                if req.signer not in state.members or already_executed(
                    state, req.signer, req.timestamp
                ):
                    del requests[digest]

    # --- checkpoints -----------------------------------------------------------------------

    def _on_checkpoint(self, c: Checkpoint) -> None:
        if c.seq <= self.stable_seq or c.seq % self.K:
            return
        if c.seq > self.stable_seq + self.L:
            self._request_state()  # the others are ahead of our window
            return
        if not self._known(c.signer):
            return
        slot = self._checkpoints.setdefault(c.seq, {})
        if c.signer in slot:
            return
        slot[c.signer] = c
        self._changes += 1
        self._check_stable(c.seq)

    def _check_stable(self, s: int) -> None:
        if s <= self.stable_seq:
            return
        cfg = self._members_at(s - self.K)
        if cfg is None:
            return
        votes: dict[bytes, list[Checkpoint]] = {}
        for c in self._checkpoints.get(s, {}).values():
            if c.signer in cfg:
                votes.setdefault(c.state_digest, []).append(c)
        need = quorum(len(cfg))
        for digest, proof in votes.items():
            if len(proof) < need:
                continue
            own = self._snapshots.get(s)
            if own is None:
                self._request_state()
            elif own.digest == digest:
                ordered = tuple(sorted(proof, key=lambda c: c.signer)[:need])
                self._make_stable(own, ordered, cfg, self._order_at(s - self.K))
            return

    def _remember_order(self, h: int, state: CircleState) -> None:
        """Note the primary orders of the boundaries after ``h`` up to ``state`` (the new
        stable checkpoint): None for one this replica did not execute (state transfer)."""
        for x in range(h + self.K, state.seq + 1, self.K):
            known = state if x == state.seq else self._snapshots.get(x)
            order = known.order if known is not None else None
            if self._past_orders[-1][1] != order:
                self._past_orders.append((x, order))
        del self._past_orders[:-MAX_PAST_ORDERS]

    def _make_stable(
        self,
        state: CircleState,
        proof: tuple[Checkpoint, ...],
        previous: tuple[bytes, ...],
        previous_order: tuple[bytes, ...] | None,
    ) -> None:
        """``state`` (at a checkpoint) is stable: drop the log up to it; a new membership
        or primary order (``previous_order`` None: not known) takes effect from here on."""
        s, h = state.seq, self.stable_seq
        self._stable_state, self._stable_proof = state, proof
        self._changes += 1
        changed = state.members != previous
        if changed:
            self._links.append(ConfigLink(s, state.members, state.body_hash, proof))
        if changed or state.order != previous_order:
            # a new configuration orders what comes next: nothing voted under the old one
            # past the boundary counts (honest members never vote there before it is stable)
            self._pp, self._prepares, self._prepared = {}, {}, {}
            self._sent_prepare, self._sent_commit = set(), set()
        self._remember_order(h, state)
        self._pp = {n: pp for n, pp in self._pp.items() if n > s}
        self._prepares = {k: v for k, v in self._prepares.items() if k[1] > s}
        self._commits = {n: c for n, c in self._commits.items() if n > s}
        self._prepared = {n: c for n, c in self._prepared.items() if n > s}
        self._certs = {n: c for n, c in self._certs.items() if n > s}
        self._checkpoints = {n: c for n, c in self._checkpoints.items() if n > s}
        self._snapshots = {n: x for n, x in self._snapshots.items() if n > s}
        self._sent_prepare = {k for k in self._sent_prepare if k[1] > s}
        self._sent_commit = {k for k in self._sent_commit if k[1] > s}
        keep = set(self._pending) | set(self._own)
        keep |= {pp.digest for pp in self._pp.values()}
        keep |= {c.pre_prepare.digest for c in self._prepared.values()}
        keep |= {c.digest for slot in self._commits.values() for c in slot.values()}
        self._bodies = {d: r for d, r in self._bodies.items() if d in keep}
        self._out.append(CheckpointStable(s, state.digest))
        if changed:
            self._out.append(MembershipChanged(s, state.members))
            self._seen_view = {m: v for m, v in self._seen_view.items() if m in state.members}
            if not self.is_member:
                self._req_timer = None

    # --- state transfer --------------------------------------------------------------------

    def _request_state(self, *, force: bool = False) -> None:
        if not force and self._now - self._last_state_request < self._timing.retransmit_ms:
            return
        self._last_state_request = self._now
        req = make_state_request(self._key, self.circle_id, self.last_executed, self.stable_seq)
        self._send(None, req.raw)

    def _on_state_request(self, r: StateRequest) -> None:
        if r.signer == self.me or not self._known(r.signer):
            return
        if self.last_executed <= r.last_executed and self.stable_seq <= r.stable_seq:
            return
        if self._now - self._replied.get(r.signer, _NEVER) < self._timing.retransmit_ms // 2:
            return
        self._replied[r.signer] = self._now
        h = self.stable_seq
        state: CircleState | None = None
        links: list[ConfigLink] = []
        start = r.last_executed
        if r.stable_seq < h:
            # with a state, the certificates must follow it (the requester skips those it
            # executed already, which it may have when only its checkpoint lags)
            state, start = self._stable_state, h
            links = [x for x in self._links if r.stable_seq < x.seq < h]
        certs = []
        for n in range(start + 1, self.last_executed + 1):
            cert = self._certs.get(n)
            if cert is None:
                break
            certs.append(cert)
        proof = self._stable_proof if state is not None else ()
        reply = make_state_reply(self._key, self.circle_id, state, proof, links, certs)
        self._send(r.signer, reply.raw)

    def _on_state_reply(self, rep: StateReply) -> None:
        if rep.state is not None and rep.state.seq > self.stable_seq:
            self._install(rep)
        for cert in rep.certs:
            n = cert.seq
            if n <= self.last_executed:
                continue
            cfg = self._config_for(n)
            if not self._in_window(n) or cfg is None:
                break
            if not has_quorum((c.signer for c in cert.commits), cfg):
                self._fault(rep.signer, FaultKind.BAD_STATE, detail=f"commit certificate {n}")
                break
            if cert.request is not None:
                self._bodies.setdefault(cert.digest, cert.request)
            for c in cert.commits:
                self._add_commit(c)
            self._execute_ready()

    def _install(self, rep: StateReply) -> None:
        """Adopt a stable checkpoint proven by a quorum (following membership changes)."""
        state = rep.state
        assert state is not None
        s = state.seq
        cfg = self.members
        links = []
        for link in rep.links:
            if link.seq <= self.stable_seq or link.seq >= s:
                continue
            if not has_quorum((c.signer for c in link.proof), cfg):
                self._fault(rep.signer, FaultKind.BAD_STATE, detail=f"config link {link.seq}")
                return
            cfg = link.members
            links.append(link)
        if s - self.K > self.stable_seq and not links:
            known = self._members_at(s - self.K)
            cfg = known if known is not None else cfg
        if not has_quorum((c.signer for c in rep.proof), cfg):
            self._fault(rep.signer, FaultKind.BAD_STATE, detail=f"checkpoint {s} proof")
            return
        previous_order = None if links else self._order_at(s - self.K)
        if s <= self.last_executed:
            own = self._snapshots.get(s)
            if own is not None and own.digest == state.digest:
                self._make_stable(own, rep.proof, cfg, previous_order)
            return
        self._links.extend(links)
        self._state = state
        self._snapshots = {s: state}
        self._make_stable(state, rep.proof, cfg, previous_order)
        self._out.append(StateTransferred(s, state.digest))
        self._drop_executed()
        self._req_timer = self._now if self._pending and self.is_member else None

    # --- view change -----------------------------------------------------------------------

    def _saw(self, member: bytes, view: int) -> None:
        """Note that ``member`` is at ``view``; when f + 1 members are past our view, one
        of them is honest: follow them (PBFT's liveness rule)."""
        if member == self.me or member not in self.members:
            return
        if view <= self._seen_view.get(member, -1):
            return
        self._seen_view[member] = view
        f = faults_tolerated(len(self.members))
        views = sorted((v for m, v in self._seen_view.items() if m in self.members), reverse=True)
        if len(views) > f and views[f] > self._view:
            self._start_view_change(views[f])

    def _start_view_change(self, target: int) -> None:
        if target <= self._view:
            return
        self._view, self._active = target, False
        self._pp = {}
        self._req_timer = None
        self._vc_timer = None
        self._new_view = None
        self._backoff = min(self._backoff + 1, 62)
        self._vcs = {v: s for v, s in self._vcs.items() if v >= target}
        self._changes += 1
        if self.is_member:
            prepared = [self._prepared[n] for n in sorted(self._prepared) if n > self.stable_seq]
            vc = make_view_change(
                self._key,
                self.circle_id,
                target,
                self.stable_seq,
                self._stable_state.digest,
                self._stable_proof,
                prepared,
            )
            self._vcs.setdefault(target, {})[self.me] = vc
            self._send(None, vc.raw)
        self._try_new_view()

    def _on_view_change(self, vc: ViewChange) -> None:
        if vc.new_view <= self._view and self._active:
            if vc.new_view == self._view or vc.new_view < self._view:
                self._resend_new_view(vc.signer)
            return
        if vc.new_view >= self._view and self._known(vc.signer) and vc.new_view <= self._view + 2:
            slot = self._vcs.setdefault(vc.new_view, {})
            if vc.signer not in slot:
                slot[vc.signer] = vc
                self._changes += 1
        self._saw(vc.signer, vc.new_view)
        if vc.new_view == self._view and not self._active:
            self._try_new_view()

    def _resend_new_view(self, to: bytes) -> None:
        if self._new_view is None:
            return
        if self._now - self._nv_sent.get(to, _NEVER) < self._timing.retransmit_ms:
            return
        self._nv_sent[to] = self._now
        self._send(to, self._new_view.raw)

    def _check_vc(self, vc: ViewChange) -> _Status:
        """Whether ``vc``'s checkpoint proof and prepared certificates hold."""
        s, h = vc.stable_seq, self.stable_seq
        if s % self.K:
            return "bad"
        if s == h and vc.stable_digest != self._stable_state.digest:
            return "bad"
        if s > h:
            cfg = self._members_at(s - self.K)
            if cfg is None:
                return "unknown"
            if not has_quorum((c.signer for c in vc.proof), cfg):
                return "bad"
            own = self._snapshots.get(s)
            if own is None:
                return "unknown"
            if own.digest != vc.stable_digest:
                return "bad"
        for cert in vc.prepared:
            pp = cert.pre_prepare
            if pp.seq > s + self.L:
                return "bad"
            if pp.seq <= h:
                continue
            base = ((pp.seq - 1) // self.K) * self.K
            order_n = self._order_at(base) or self._order_at(base - self.K)
            if order_n is None:
                return "unknown"
            if pp.signer != self._primary_of(pp.view, order_n):
                return "bad"
            if len({p.signer for p in cert.prepares} & set(order_n)) < quorum(len(order_n)) - 1:
                return "bad"
        return "ok"

    def _choose(
        self, vcs: Iterable[ViewChange]
    ) -> tuple[int, tuple[bytes, ...], list[ViewChange]] | None:
        """(base checkpoint, its primary order, a quorum of valid view changes containing the
        one with the highest checkpoint), or None while there is no such quorum."""
        valid = []
        for vc in vcs:
            status = self._check_vc(vc)
            if status == "ok":
                valid.append(vc)
            elif status == "unknown":
                self._request_state()
            else:
                self._fault(vc.signer, FaultKind.BAD_VIEW_CHANGE, detail=f"to {vc.new_view}")
        if not valid:
            return None
        top = max(valid, key=lambda v: (v.stable_seq, v.signer))
        order = self._order_at(top.stable_seq)
        if order is None or top.signer not in order:
            return None
        others = sorted(
            (v for v in valid if v is not top and v.signer in order), key=lambda v: v.signer
        )
        chosen = [top, *others][: quorum(len(order))]
        if len(chosen) < quorum(len(order)):
            return None
        return top.stable_seq, order, chosen

    @staticmethod
    def _new_view_slots(
        base: int, vcs: Sequence[ViewChange]
    ) -> list[tuple[int, bytes, Request | None]]:
        """(seq, digest, request) the new primary must pre-prepare: for every sequence
        number after ``base`` up to the highest prepared one, the certificate of the highest
        view, or the null request."""
        best: dict[int, PrePrepare] = {}
        for vc in vcs:
            for cert in vc.prepared:
                pp = cert.pre_prepare
                if pp.seq <= base:
                    continue
                known = best.get(pp.seq)
                if known is None or (pp.view, pp.digest) > (known.view, known.digest):
                    best[pp.seq] = pp
        top = max(best, default=base)
        slots: list[tuple[int, bytes, Request | None]] = []
        for n in range(base + 1, top + 1):
            chosen = best.get(n)
            if chosen is None:
                slots.append((n, NULL_DIGEST, None))
            else:
                slots.append((n, chosen.digest, chosen.request))
        return slots

    def _try_new_view(self) -> None:
        """As the primary of the view we are changing to, send NEW-VIEW once we can."""
        if self._active or not self.is_member:
            return
        v = self._view
        vcs = self._vcs.get(v, {})
        if self._vc_timer is None and has_quorum(vcs, self.members):
            self._vc_timer = self._now
        if not vcs:
            return
        chosen = self._choose(vcs.values())
        if chosen is None:
            return
        base, order, quorum_vcs = chosen
        if self._primary_of(v, order) != self.me:
            return
        if base > self.last_executed:
            self._request_state()
            return
        pps = [
            make_pre_prepare(self._key, self.circle_id, v, n, req)
            for n, _, req in self._new_view_slots(base, quorum_vcs)
        ]
        nv = make_new_view(self._key, self.circle_id, v, quorum_vcs, pps)
        self._send(None, nv.raw)
        self._enter_view(nv, base, quorum_vcs)

    def _on_new_view(self, nv: NewView) -> None:
        if nv.new_view > self._view or (nv.new_view == self._view and not self._active):
            self._accept_new_view(nv)
        self._saw(nv.signer, nv.new_view)

    def _accept_new_view(self, nv: NewView) -> None:
        statuses = [self._check_vc(vc) for vc in nv.view_changes]
        if "bad" in statuses:
            self._fault(nv.signer, FaultKind.BAD_NEW_VIEW, detail="a bad VIEW-CHANGE in it")
            return
        if "unknown" in statuses:
            self._request_state()
            return
        if not nv.view_changes:
            self._fault(nv.signer, FaultKind.BAD_NEW_VIEW, detail="no view changes")
            return
        top = max(nv.view_changes, key=lambda v: (v.stable_seq, v.signer))
        base = top.stable_seq
        cfg = self._members_at(base)
        order = self._order_at(base)
        if cfg is None or (order is None and base >= self.stable_seq):
            self._request_state()
            return
        signers = [vc.signer for vc in nv.view_changes]
        if not set(signers) <= set(cfg) or not has_quorum(signers, cfg):
            self._fault(nv.signer, FaultKind.BAD_NEW_VIEW, detail="not a quorum of view changes")
            return
        if order is not None and nv.signer != self._primary_of(nv.new_view, order):
            self._fault(nv.signer, FaultKind.NOT_PRIMARY, detail=f"NEW-VIEW {nv.new_view}")
            return
        expected = [(n, d) for n, d, _ in self._new_view_slots(base, nv.view_changes)]
        if [(pp.seq, pp.digest) for pp in nv.pre_prepares] != expected:
            self._fault(nv.signer, FaultKind.BAD_NEW_VIEW, detail="pre-prepares do not follow")
            return
        if order is None and any(pp.seq > self.stable_seq for pp in nv.pre_prepares):
            # past `base` by state transfer: who had to send this cannot be checked, so it
            # may only move this replica into the view, never give it a PRE-PREPARE to vote
            # on; wait until the circle's stable checkpoint passes them (PROTOCOL-circles §6)
            self._request_state()
            return
        self._enter_view(nv, base, nv.view_changes)

    def _enter_view(self, nv: NewView, base: int, vcs: Sequence[ViewChange]) -> None:
        if base > self.stable_seq:
            own = self._snapshots.get(base)
            top = next(vc for vc in vcs if vc.stable_seq == base)
            if own is not None:
                self._make_stable(own, top.proof, self.members, self.order)
        self._view, self._active, self._new_view = nv.new_view, True, nv
        self._pp = {pp.seq: pp for pp in nv.pre_prepares if self._in_window(pp.seq)}
        for pp in nv.pre_prepares:
            if pp.request is not None:
                self._bodies.setdefault(pp.digest, pp.request)
        self._vc_timer = None
        self._req_timer = self._now if self._pending and self.is_member else None
        self._vcs = {v: s for v, s in self._vcs.items() if v > nv.new_view}
        self._changes += 1
        self._out.append(ViewChanged(nv.new_view, self.primary))

    # --- retransmission ------------------------------------------------------------------

    def _retransmit(self) -> None:
        """Send again what we said and may not have been heard (links may drop)."""
        self._last_retransmit = self._now
        for req in self._own.values():
            self._send(None, req.raw)
        if self._active:
            for n, pp in sorted(self._pp.items()):
                if n <= self.last_executed:
                    continue
                if pp.signer == self.me:
                    self._send(None, pp.raw)
                mine = self._prepares.get((pp.view, n), {}).get(self.me)
                if mine is not None:
                    self._send(None, mine.raw)
                for (view, signer), c in self._commits.get(n, {}).items():
                    if signer == self.me and view == self._view:
                        self._send(None, c.raw)
        else:
            own = self._vcs.get(self._view, {}).get(self.me)
            if own is not None:
                self._send(None, own.raw)
        for s, slot in sorted(self._checkpoints.items()):
            if s > self.stable_seq and self.me in slot:
                self._send(None, slot[self.me].raw)
