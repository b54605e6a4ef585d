"""The session offer: what each side of a handshake asks of the session (one byte).

Both handshake payloads that open a session carry one (docs/PROTOCOL.md, section 3.2):
the initiator's in message 1, the responder's in message 2. Layout::

    bit 0     post-quantum: in message 1, this handshake takes the hybrid ML-KEM step;
              in message 2, the responder requires that step
    bit 1     header encryption
    bits 2-3  padding mode: 1 padme_cells, 2 buckets, 3 fixed (0 is invalid)
    bits 4-7  zero

The session takes the **stronger** of the two offers (:func:`stronger`): header
encryption if either side asks for it, and the later padding mode in the order
padme_cells < buckets < fixed. So two nodes of different security levels open a
session at the stronger level's format, and neither side ever gets less than it asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.schema import PaddingMode
from gateway.errors import HandshakeError

#: bytes of an offer on the wire
OFFER_LEN = 1
FLAG_POST_QUANTUM = 0x01
FLAG_HEADER_ENCRYPTION = 0x02
MODE_SHIFT = 2
MODE_MASK = 0x0C
#: padding modes by their wire value, weakest first
MODES: tuple[PaddingMode, ...] = (
    PaddingMode.PADME_CELLS,
    PaddingMode.BUCKETS,
    PaddingMode.FIXED,
)


@dataclass(frozen=True)
class Offer:
    """One side's session options as the handshake carries them."""

    post_quantum: bool = False
    header_encryption: bool = False
    padding_mode: PaddingMode = PaddingMode.PADME_CELLS

    def encode(self) -> int:
        """The offer byte."""
        value = MODES.index(self.padding_mode) + 1
        flags = (FLAG_POST_QUANTUM if self.post_quantum else 0) | (value << MODE_SHIFT)
        return flags | (FLAG_HEADER_ENCRYPTION if self.header_encryption else 0)

    @classmethod
    def decode(cls, byte: int) -> Offer:
        """Read an offer byte; HandshakeError for unknown bits or padding mode 0."""
        if byte & ~(FLAG_POST_QUANTUM | FLAG_HEADER_ENCRYPTION | MODE_MASK):
            raise HandshakeError(f"session offer {byte:#04x} has unknown bits")
        value = (byte & MODE_MASK) >> MODE_SHIFT
        if value == 0:
            raise HandshakeError(f"session offer {byte:#04x} names no padding mode")
        return cls(
            post_quantum=bool(byte & FLAG_POST_QUANTUM),
            header_encryption=bool(byte & FLAG_HEADER_ENCRYPTION),
            padding_mode=MODES[value - 1],
        )

    def with_post_quantum(self, post_quantum: bool) -> Offer:
        return Offer(post_quantum, self.header_encryption, self.padding_mode)


def stronger(a: Offer, b: Offer) -> Offer:
    """The session both sides open: the stronger of each option."""
    mode = max(MODES.index(a.padding_mode), MODES.index(b.padding_mode))
    return Offer(
        post_quantum=a.post_quantum or b.post_quantum,
        header_encryption=a.header_encryption or b.header_encryption,
        padding_mode=MODES[mode],
    )
