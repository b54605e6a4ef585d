"""Events reported by the sync core."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.memory.merkle import SignedTreeHead


@dataclass(frozen=True)
class EntriesStored:
    """Entries received from the peer and stored (including released held ones)."""

    space: str
    ids: tuple[bytes, ...]


@dataclass(frozen=True)
class EntriesRefused:
    """Entries received from the peer and refused, counted by reason."""

    space: str
    reasons: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ForkDetected:
    """The peer's chain of ``author`` differs from ours at or before ``seq``."""

    space: str
    author: bytes
    seq: int


@dataclass(frozen=True)
class SplitViewDetected:
    """The peer signed a tree head that does not extend one it signed before."""

    peer: bytes
    seen: SignedTreeHead
    received: SignedTreeHead
    reason: str


@dataclass(frozen=True)
class TreeHeadAccepted:
    """The peer's signed tree head was checked and recorded."""

    peer: bytes
    sth: SignedTreeHead


@dataclass(frozen=True)
class SpaceSynced:
    """Nothing more to exchange in ``space`` in this session."""

    space: str


@dataclass(frozen=True)
class SpaceRefused:
    """The peer will not sync ``space`` with us."""

    space: str
    reason: str


Event = (
    EntriesStored
    | EntriesRefused
    | ForkDetected
    | SplitViewDetected
    | TreeHeadAccepted
    | SpaceSynced
    | SpaceRefused
)
