"""The sans-I/O memory sync state machine: message bytes in, message bytes and events out.

One SyncSession runs one sync with one peer over every space the two share.
The initiator opens with its tree head and one Hello per space; see
docs/PROTOCOL-memory.md for the whole exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import SyncError
from gateway.memory import messages as m
from gateway.memory.entry import public_bytes
from gateway.memory.events import (
    EntriesRefused,
    EntriesStored,
    Event,
    ForkDetected,
    SpaceRefused,
    SpaceSynced,
)
from gateway.memory.merkle import SignedTreeHead
from gateway.memory.reconcile import Reconciler, SortedItems
from gateway.memory.reconcile.fingerprint import fingerprint_of_sum, id_int
from gateway.memory.store import MemoryStore
from gateway.memory.treeheads import check_tree_head, own_tree_head, tree_head_message


@dataclass
class _Space:
    """Per-space progress of one session."""

    name: str
    items: SortedItems
    reconciler: Reconciler
    peer_hello: m.Hello | None = None
    my_extra: list[tuple[int, bytes]] = field(default_factory=list)
    heads_checked: bool = False
    finished: bool = False
    wants_out: int = 0
    requested: set[bytes] = field(default_factory=set)
    synced: bool = False


class SyncSession:
    """One side of one memory sync with ``peer`` (its Ed25519 public key)."""

    def __init__(
        self,
        store: MemoryStore,
        *,
        node_key: Ed25519PrivateKey,
        peer: bytes,
        initiator: bool,
        now_ms: int,
        buckets: int = 16,
        idlist_threshold: int = 32,
    ) -> None:
        self.store = store
        self.peer = peer
        self.initiator = initiator
        self._key = node_key
        self._now_ms = now_ms
        self._buckets = buckets
        self._threshold = idlist_threshold
        self._spaces: dict[str, _Space] = {}
        self._events: list[Event] = []
        self._sth: SignedTreeHead | None = None

    # --- public API -------------------------------------------------------------

    def start(self) -> list[bytes]:
        """Opening messages (initiator: tree head and one Hello per shared space)."""
        if not self.initiator:
            return []
        out: list[m.Message] = [self._tree_head()]
        for name in self.store.spaces_for_peer(self.peer):
            out.append(self._hello(self._open(name)))
        return [m.encode(msg) for msg in out]

    def receive(self, data: bytes) -> list[bytes]:
        """Handle one message from the peer; returns the messages to send back."""
        msg = m.decode(data)
        out: list[m.Message] = []
        if not self.initiator and self._sth is None:
            out.append(self._tree_head())
        out += self._dispatch(msg)
        self._report_synced()
        return [m.encode(x) for x in out]

    def events(self) -> list[Event]:
        """Events since the last call."""
        events, self._events = self._events, []
        return events

    @property
    def done(self) -> bool:
        """Every space opened in this session is synced (or refused)."""
        return bool(self._spaces) and all(s.synced for s in self._spaces.values())

    # --- dispatch ---------------------------------------------------------------

    def _dispatch(self, msg: m.Message) -> list[m.Message]:
        if isinstance(msg, m.TreeHead):
            replies, events = check_tree_head(self.store, self.peer, msg)
            self._events += events
            return replies
        if isinstance(msg, m.ConsistencyRequest):
            return [self._tree_head(msg.from_size)]
        if isinstance(msg, m.Refuse):
            self._events.append(SpaceRefused(msg.space, msg.reason))
            if msg.space in self._spaces:
                self._spaces[msg.space].synced = True
            return []
        if not self._shared(msg.space):
            self.store.count_rejection("wrong_space")
            return [m.Refuse(msg.space, "not_shared")]
        if isinstance(msg, m.Hello):
            return self._on_hello(msg)
        state = self._spaces.get(msg.space)
        if state is None:
            raise SyncError(f"{type(msg).__name__} for space {msg.space!r} before its Hello")
        if isinstance(msg, m.Entries):
            return self._on_entries(state, msg)
        if isinstance(msg, m.Want):
            return self._entries(state.name, msg.ids, answer=True)
        if isinstance(msg, m.Reconcile):
            return self._on_reconcile(state, msg)
        state.finished = True  # InSync or Done
        return []

    def _shared(self, space: str) -> bool:
        return space in self.store.spaces_for_peer(self.peer)

    # --- hello and the heads fast path ---------------------------------------------

    def _open(self, name: str) -> _Space:
        items = SortedItems(self.store.items(name))
        rec = Reconciler(items, buckets=self._buckets, idlist_threshold=self._threshold)
        state = _Space(name, items, rec)
        self._spaces[name] = state
        return state

    def _hello(self, state: _Space) -> m.Hello:
        items = state.items
        heads = self.store.heads(state.name)
        return m.Hello(
            state.name,
            len(items),
            fingerprint_of_sum(items.total(), len(items)),
            tuple(m.Head(a, seq, i) for a, (seq, i) in sorted(heads.items())),
        )

    def _on_hello(self, msg: m.Hello) -> list[m.Message]:
        state = self._spaces.get(msg.space) or self._open(msg.space)
        state.peer_hello = msg
        mine = self._hello(state)
        if self.initiator:
            return self._push_tails(state, msg)
        if (mine.count, mine.fingerprint) == (msg.count, msg.fingerprint):
            state.finished = True
            return [m.InSync(msg.space)]
        out: list[m.Message] = [mine, *self._push_tails(state, msg)]
        state.heads_checked = True
        return [*out, m.Reconcile(msg.space, state.reconciler.initiate())]

    def _push_tails(self, state: _Space, theirs: m.Hello) -> list[m.Message]:
        """Send the chain tails the peer lacks according to its heads."""
        their_heads = {h.author: h for h in theirs.heads}
        for author, (seq, _) in self.store.heads(state.name).items():
            head = their_heads.get(author)
            their_seq = head.seq if head else 0
            if head and their_seq <= seq and self._id_at(state, author, their_seq) != head.id:
                self._events.append(ForkDetected(state.name, author, their_seq))
            elif their_seq < seq:
                state.my_extra += self.store.chain_after(state.name, author, their_seq)
        return self._entries(state.name, [i for _, i in state.my_extra], answer=False)

    def _id_at(self, state: _Space, author: bytes, seq: int) -> bytes | None:
        return self.store.id_at(state.name, author, seq)

    def _heads_explain(self, state: _Space) -> bool:
        """Whether our set minus our pushed tails equals the peer's set (so we are done)."""
        hello = state.peer_hello
        if hello is None:
            return False
        total = state.items.total() - sum(id_int(i) for _, i in state.my_extra)
        count = len(state.items) - len(state.my_extra)
        return count == hello.count and fingerprint_of_sum(total, count) == hello.fingerprint

    # --- reconciliation and fetch ---------------------------------------------------

    def _on_reconcile(self, state: _Space, msg: m.Reconcile) -> list[m.Message]:
        if not state.heads_checked:
            state.heads_checked = True
            if self._heads_explain(state):
                state.finished = True
                return [m.Done(state.name)]
        outcome = state.reconciler.process(msg.parts)
        out = self._entries(state.name, outcome.have, answer=False)
        out += self._wants(state, outcome.need)
        if outcome.reply:
            return [*out, m.Reconcile(state.name, outcome.reply)]
        state.finished = True
        return [*out, m.Done(state.name)]

    def _wants(self, state: _Space, need: Iterable[bytes]) -> list[m.Message]:
        ids = [i for i in need if i not in state.requested and not self.store.has(i)]
        state.requested.update(ids)
        out: list[m.Message] = []
        for k in range(0, len(ids), m.MAX_WANT_IDS):
            out.append(m.Want(state.name, tuple(ids[k : k + m.MAX_WANT_IDS])))
        state.wants_out += len(out)
        return out

    def _entries(self, space: str, ids: Iterable[bytes], *, answer: bool) -> list[m.Message]:
        """Entries messages of bounded size carrying the stored entries ``ids``."""
        chunks: list[list[bytes]] = [[]]
        size = 0
        for raw in self.store.raw_entries(space, ids):
            if chunks[-1] and size + len(raw) > m.ENTRIES_CHUNK_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(raw)
            size += len(raw) + 4
        if not answer and not chunks[-1]:
            return []
        return [
            m.Entries(space, tuple(c), answer, k == len(chunks) - 1) for k, c in enumerate(chunks)
        ]

    def _on_entries(self, state: _Space, msg: m.Entries) -> list[m.Message]:
        result = self.store.insert_many(msg.entries, from_peer=self.peer, space=state.name)
        for entry_id in result.stored:
            entry = self.store.get(entry_id)
            if entry is not None:
                state.items.add(entry.timestamp_ms, entry_id)
        if result.stored:
            self._events.append(EntriesStored(state.name, tuple(result.stored)))
        if result.rejected:
            self._events.append(EntriesRefused(state.name, tuple(sorted(result.rejected.items()))))
        if msg.answer and msg.last:
            state.wants_out = max(0, state.wants_out - 1)
        return []

    # --- tree heads and completion ------------------------------------------------------

    def _tree_head(self, from_size: int | None = None) -> m.TreeHead:
        if self._sth is None:
            self._sth = own_tree_head(self.store, self._key, self._now_ms)
        return tree_head_message(self.store, self._sth, self.peer, from_size)

    def _report_synced(self) -> None:
        for state in self._spaces.values():
            if not state.synced and state.finished and state.wants_out == 0:
                state.synced = True
                self._events.append(SpaceSynced(state.name))

    @property
    def public_key(self) -> bytes:
        """Our node key (the signer of our tree heads)."""
        return public_bytes(self._key.public_key())
