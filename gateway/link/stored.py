"""A contact's stored session: the session blob plus the link's sequence numbers.

Layout (what the outbox's session-state column holds)::

    u8 version (1) | session id (32: the hash of the handshake that made it)
    | u64 next_send_seq | u64 max_recv_seq | session blob (rest)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from gateway.errors import SessionStateError, VersionError

STORED_VERSION = 1
_HEAD = struct.Struct("!B32sQQ")


@dataclass(frozen=True)
class StoredSession:
    session_id: bytes
    next_send_seq: int
    max_recv_seq: int
    blob: bytes

    def encode(self) -> bytes:
        head = _HEAD.pack(STORED_VERSION, self.session_id, self.next_send_seq, self.max_recv_seq)
        return head + self.blob

    def advanced(self, blob: bytes, *, sent: int = 0, received: int | None = None) -> StoredSession:
        """This record after ``sent`` more payloads and (if given) payload ``received`` arrived."""
        recv = self.max_recv_seq if received is None else max(self.max_recv_seq, received)
        return replace(self, blob=blob, next_send_seq=self.next_send_seq + sent, max_recv_seq=recv)


def check_successor(current: bytes | None, replaces: StoredSession) -> None:
    """Refuse to store the state that follows ``replaces`` if the stored copy moved on.

    Two connections to one contact can hold copies of one session (both sides dialed, or a
    reconnect raced the old link). Only the copy that matches the stored record may step
    it: a stale copy would seal with message keys the other has already used. A record of
    another session (a fresh one, adopted by a connection that then lost) is no such risk.
    """
    if current is None or current == replaces.encode():
        return
    try:
        stored = decode_stored(current)
    except (SessionStateError, VersionError):
        return  # unusable: the next save replaces it
    if stored.session_id == replaces.session_id:
        raise SessionStateError(
            "another connection to this contact moved the session on: this copy is stale"
        )


def decode_stored(data: bytes) -> StoredSession:
    if len(data) < _HEAD.size:
        raise SessionStateError("stored session record too short")
    version, session_id, send, recv = _HEAD.unpack_from(data)
    if version != STORED_VERSION:
        raise VersionError(f"unsupported stored session version {version}")
    return StoredSession(session_id, send, recv, data[_HEAD.size :])
