"""What a :class:`~gateway.circle.pbft.Replica` returns: messages to send and events."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.circle.decisions import Decision


@dataclass(frozen=True)
class Send:
    """Deliver ``data`` on the ``circle`` channel to member ``to`` (None: every member)."""

    to: bytes | None
    data: bytes


@dataclass(frozen=True)
class Committed:
    """Sequence number ``seq`` executed ``decision`` (proposed by ``proposer``); ``applied``
    is False when it did not change the state (adding a member twice, ...)."""

    seq: int
    decision: Decision
    proposer: bytes
    applied: bool


@dataclass(frozen=True)
class CheckpointStable:
    """A quorum vouched for the state digest at ``seq``; the log below it was dropped."""

    seq: int
    digest: bytes


@dataclass(frozen=True)
class ViewChanged:
    """The replica entered ``view`` (a NEW-VIEW was accepted); ``primary`` leads it."""

    view: int
    primary: bytes


@dataclass(frozen=True)
class MembershipChanged:
    """From the sequence number after ``seq`` on, ``members`` order the circle."""

    seq: int
    members: tuple[bytes, ...]


@dataclass(frozen=True)
class StateTransferred:
    """The replica jumped to the stable checkpoint ``seq`` fetched from its peers
    (the decisions up to it were not reported one by one)."""

    seq: int
    digest: bytes


class FaultKind(enum.Enum):
    EQUIVOCATION = "equivocation"  # two signed PRE-PREPAREs for one (view, seq)
    BAD_SIGNATURE = "bad_signature"  # a signature that does not verify
    MALFORMED = "malformed"  # bytes that do not decode (or of another circle)
    IMPERSONATION = "impersonation"  # signed by another key than the link's peer
    NOT_MEMBER = "not_member"  # from a key that is not a member
    NOT_PRIMARY = "not_primary"  # a PRE-PREPARE or NEW-VIEW from a non-primary
    SILENT_PRIMARY = "silent_primary"  # a request was not executed in time
    BAD_VIEW_CHANGE = "bad_view_change"  # a VIEW-CHANGE whose proofs do not hold
    BAD_NEW_VIEW = "bad_new_view"  # a NEW-VIEW that does not follow from its view changes
    BAD_STATE = "bad_state"  # a STATE-REPLY whose proofs do not hold


@dataclass(frozen=True)
class Fault:
    """``member`` misbehaved; ``evidence`` proves it when it can be proven (equivocation:
    two signed PRE-PREPARE headers, see :func:`~gateway.circle.messages.check_equivocation`)."""

    member: bytes
    kind: FaultKind
    evidence: bytes = b""
    detail: str = ""


Event = Committed | CheckpointStable | ViewChanged | MembershipChanged | StateTransferred | Fault
Output = Send | Event
