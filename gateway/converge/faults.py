"""Faults: what a peer did wrong in a round, recorded once per peer, stage and kind."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from gateway.converge.messages import KEY_BYTES, parse_hex, str_field
from gateway.converge.round import Stage
from gateway.errors import ConvergeMessageError

MAX_DETAIL_BYTES = 200


class FaultKind(enum.Enum):
    """What went wrong."""

    TIMEOUT = "timeout"  # nothing valid by the stage's deadline (offline or slow)
    LATE = "late"  # a message after its stage had closed
    ABSTAINED = "abstained"  # the peer's AI failed and it said so
    EQUIVOCATION = "equivocation"  # a reveal not matching the commit, or two versions
    GARBAGE = "garbage"  # undecodable, badly signed, or not allowed at this point


@dataclass(frozen=True)
class Fault:
    """One recorded fault."""

    peer: bytes
    stage: Stage
    kind: FaultKind
    detail: str = ""

    def to_wire(self) -> dict[str, Any]:
        """A JSON-able form for the FINAL message."""
        return {
            "peer": self.peer.hex(),
            "stage": self.stage.value,
            "kind": self.kind.value,
            "detail": self.detail,
        }

    @staticmethod
    def from_wire(obj: object) -> Fault:
        """Parse the JSON form; raises ConvergeMessageError."""
        if not isinstance(obj, dict):
            raise ConvergeMessageError("a fault must be an object")
        try:
            stage = Stage(obj.get("stage"))
            kind = FaultKind(obj.get("kind"))
        except ValueError as exc:
            raise ConvergeMessageError(f"bad fault: {exc}") from exc
        return Fault(
            parse_hex(obj.get("peer"), "fault peer", KEY_BYTES),
            stage,
            kind,
            str_field(obj, "detail", MAX_DETAIL_BYTES),
        )


class FaultLog:
    """Faults of one round in the order they were found; duplicates are dropped."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._seen: set[tuple[bytes, Stage, FaultKind]] = set()

    def record(self, peer: bytes, stage: Stage, kind: FaultKind, detail: str = "") -> Fault | None:
        """Record a fault; returns it, or None if this peer/stage/kind was already recorded."""
        key = (peer, stage, kind)
        if key in self._seen:
            return None
        self._seen.add(key)
        short = detail.encode("utf-8")[:MAX_DETAIL_BYTES].decode("utf-8", "ignore")
        fault = Fault(peer, stage, kind, short)
        self._faults.append(fault)
        return fault

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(self._faults)
