"""What a node brings to every link, apart from the link's state machine
(:mod:`gateway.link.protocol`, with the session code), which a node loads with its first
link: the node makes its :class:`LocalNode` at start."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.session.offer import Offer
from gateway.session.options import SessionOptions


@dataclass(frozen=True)
class LocalNode:
    """What a node brings to every link."""

    identity: Ed25519PrivateKey
    static: X25519PrivateKey
    onion: str
    options: SessionOptions
    post_quantum: bool

    @property
    def offer(self) -> Offer:
        """What this node asks of every session (the handshake's session offer)."""
        return Offer(
            self.post_quantum, self.options.ratchet.header_encryption, self.options.padding_mode
        )
