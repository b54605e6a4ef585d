"""What a session is made with: its padding and ratchet options.

Apart from the session code (:mod:`gateway.session.session`, the ratchet, the handshake),
which a node loads with its first link: a node builds its options at start, from its
security policy, and a node with no link carries no session code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gateway.config.schema import PaddingMode, SecurityPolicy
from gateway.errors import SessionStateError
from gateway.session.frames import DEFAULT_MAX_PAYLOAD
from gateway.session.offer import Offer
from gateway.session.padding import DEFAULT_FIXED_SIZE

#: largest pn / n of a ratchet header (counters are 32-bit)
MAX_COUNTER = 0xFFFFFFFF


@dataclass(frozen=True)
class RatchetParams:
    """Limits and options of a ratchet session (fixed for the session's life)."""

    #: most message keys one message may make us skip in one chain
    max_skip: int = 1000
    #: most skipped message keys stored at once
    max_skipped_total: int = 2000
    #: skipped keys of chains more than this many receiving DH steps old are deleted
    max_skipped_age: int = 5
    #: encrypt headers (spec section 4)
    header_encryption: bool = False

    def __post_init__(self) -> None:
        for name in ("max_skip", "max_skipped_total", "max_skipped_age"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
                raise SessionStateError(f"RatchetParams.{name} must be 0..{MAX_COUNTER}")


@dataclass(frozen=True)
class SessionOptions:
    """How a session pads and ratchets (fixed for the session's life)."""

    padding_mode: PaddingMode
    ratchet: RatchetParams = field(default_factory=RatchetParams)
    fixed_size: int = DEFAULT_FIXED_SIZE
    max_payload: int = DEFAULT_MAX_PAYLOAD

    @classmethod
    def from_policy(cls, policy: SecurityPolicy) -> SessionOptions:
        """The options a security level's policy asks for."""
        params = RatchetParams(header_encryption=policy.header_encryption)
        return cls(policy.padding_mode, params)

    def with_offer(self, offer: Offer) -> SessionOptions:
        """These options with the padding mode and header encryption a handshake agreed."""
        ratchet = dataclasses.replace(self.ratchet, header_encryption=offer.header_encryption)
        return dataclasses.replace(self, padding_mode=offer.padding_mode, ratchet=ratchet)
