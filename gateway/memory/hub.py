"""Every memory sync with every peer, multiplexed on one channel per link (sans-I/O).

Each message on the ``memory`` channel is an envelope: one byte saying which side of
the session sent it (its initiator or its responder), an 8-byte session id chosen by
the initiator, then one sync message (docs/PROTOCOL-memory.md, "Channel"). Both peers
may run a session toward each other at once; ids never collide because the role
byte tells whose session a message belongs to.

:class:`SyncHub` takes envelopes and returns envelopes; it never raises on peer
input: a session that fails is dropped and reported as a :class:`SyncFinished`
with its error.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import GatewayError, SyncError
from gateway.memory.events import EntriesRefused, EntriesStored, Event, SplitViewDetected
from gateway.memory.store import MemoryStore
from gateway.memory.sync import SyncSession

FROM_INITIATOR = 0
FROM_RESPONDER = 1
_HEADER = struct.Struct(">BQ")
#: why a session ended when its link did (a new link may carry the sync again)
LINK_CLOSED = "link closed"
#: a session that heard nothing for this long is dropped
IDLE_TIMEOUT_MS = 120_000
#: a finished session we answered lingers this long for late messages (more spaces)
LINGER_MS = 10_000
#: most unfinished sessions a peer may have open toward us at once
MAX_RESPONDING = 4


@dataclass
class SyncFinished:
    """One session ended: completed (``error`` None), failed, or timed out."""

    peer: bytes
    sid: int
    initiator: bool
    stored: int
    refused: dict[str, int]
    error: str | None = None


@dataclass
class _Running:
    session: SyncSession
    last_ms: int
    stored: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    reported: bool = False


def encode_envelope(role: int, sid: int, message: bytes) -> bytes:
    """One channel message: role byte, session id, sync message."""
    return _HEADER.pack(role, sid) + message


def decode_envelope(data: bytes) -> tuple[int, int, bytes]:
    """(role, session id, sync message); SyncError when malformed."""
    if len(data) <= _HEADER.size:
        raise SyncError(f"memory channel message of {len(data)} bytes is too short")
    role, sid = _HEADER.unpack_from(data)
    if role not in (FROM_INITIATOR, FROM_RESPONDER):
        raise SyncError(f"unknown memory envelope role {role}")
    return role, sid, data[_HEADER.size :]


class SyncHub:
    """The sync sessions of one node, keyed by (peer, session id, our role)."""

    def __init__(
        self,
        store: MemoryStore,
        node_key: Ed25519PrivateKey,
        clock_ms: Callable[[], int],
        *,
        idle_timeout_ms: int = IDLE_TIMEOUT_MS,
    ) -> None:
        self.store = store
        self._key = node_key
        self._clock_ms = clock_ms
        self._idle = idle_timeout_ms
        self._sessions: dict[tuple[bytes, int, bool], _Running] = {}
        self._finished: list[SyncFinished] = []
        self._events: list[tuple[bytes, Event]] = []

    # --- starting and receiving ---------------------------------------------------

    def start(self, peer: bytes) -> tuple[int, list[bytes]] | None:
        """Open a session toward ``peer``: (session id, envelopes); None if no space is shared."""
        if not self.store.spaces_for_peer(peer):
            return None
        sid = secrets.randbits(64)
        session = self._new(peer, initiator=True)
        self._sessions[(peer, sid, True)] = _Running(session, self._clock_ms())
        return sid, [encode_envelope(FROM_INITIATOR, sid, m) for m in session.start()]

    def receive(self, peer: bytes, data: bytes) -> list[bytes]:
        """Handle one envelope from ``peer``; the envelopes to send back."""
        try:
            role, sid, message = decode_envelope(data)
        except SyncError:
            self.store.count_rejection("malformed_envelope")
            return []
        ours_initiated = role == FROM_RESPONDER
        key = (peer, sid, ours_initiated)
        running = self._sessions.get(key)
        if running is None:
            if ours_initiated or self._responding(peer) >= MAX_RESPONDING:
                self.store.count_rejection("unknown_session" if ours_initiated else "busy")
                return []
            running = _Running(self._new(peer, initiator=False), self._clock_ms())
            self._sessions[key] = running
        reply_role = FROM_INITIATOR if ours_initiated else FROM_RESPONDER
        try:
            replies = running.session.receive(message)
        except GatewayError as exc:
            self.store.count_rejection("sync_error")
            self._end(key, running, f"{type(exc).__name__}: {exc}")
            return []
        running.last_ms = self._clock_ms()
        self._collect(peer, running)
        if running.session.done and not running.reported:
            if ours_initiated:
                self._end(key, running, None)
            else:
                self._report(key, running, None)  # lingers: the peer may open more spaces
        return [encode_envelope(reply_role, sid, r) for r in replies]

    # --- upkeep ---------------------------------------------------------------------

    def expire(self) -> None:
        """Drop sessions idle for longer than the timeout (reported as timed out)."""
        now = self._clock_ms()
        for key, running in list(self._sessions.items()):
            if running.reported and now - running.last_ms > LINGER_MS:
                del self._sessions[key]
            elif now - running.last_ms > self._idle:
                self._end(key, running, "timed out")

    def drop_peer(self, peer: bytes) -> None:
        """The link to ``peer`` closed: its sessions end (a new link starts afresh)."""
        for key, running in list(self._sessions.items()):
            if key[0] == peer:
                self._end(key, running, LINK_CLOSED)

    def running(self, peer: bytes, sid: int) -> bool:
        """Whether our session ``sid`` toward ``peer`` is still open."""
        return (peer, sid, True) in self._sessions

    def initiating(self, peer: bytes) -> bool:
        """Whether we have a session toward ``peer`` open."""
        return any(k[0] == peer and k[2] for k in self._sessions)

    def finished(self) -> list[SyncFinished]:
        """Sessions that ended since the last call."""
        out, self._finished = self._finished, []
        return out

    def events(self) -> list[tuple[bytes, Event]]:
        """(peer, event) of every session since the last call."""
        out, self._events = self._events, []
        return out

    # --- internals ------------------------------------------------------------------

    def _new(self, peer: bytes, *, initiator: bool) -> SyncSession:
        return SyncSession(
            self.store, node_key=self._key, peer=peer, initiator=initiator, now_ms=self._clock_ms()
        )

    def _responding(self, peer: bytes) -> int:
        return sum(
            1 for k, r in self._sessions.items() if k[0] == peer and not k[2] and not r.reported
        )

    def _collect(self, peer: bytes, running: _Running) -> None:
        for event in running.session.events():
            if isinstance(event, EntriesStored):
                running.stored += len(event.ids)
            elif isinstance(event, EntriesRefused):
                for reason, count in event.reasons:
                    running.refused[reason] = running.refused.get(reason, 0) + count
            self._events.append((peer, event))

    def _end(self, key: tuple[bytes, int, bool], running: _Running, error: str | None) -> None:
        self._sessions.pop(key, None)
        if not running.reported:
            self._report(key, running, error)

    def _report(self, key: tuple[bytes, int, bool], running: _Running, error: str | None) -> None:
        self._collect(key[0], running)
        running.reported = True
        peer, sid, initiator = key
        self._finished.append(
            SyncFinished(peer, sid, initiator, running.stored, dict(running.refused), error)
        )


def split_views(events: list[tuple[bytes, Event]]) -> list[SplitViewDetected]:
    """The split-view reports among ``events``."""
    return [e for _, e in events if isinstance(e, SplitViewDetected)]
