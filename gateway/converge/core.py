"""What the sans-I/O convergence machines return: messages to send and events.

:class:`~gateway.converge.asker.Asker` and
:class:`~gateway.converge.participant.Participant` take bytes (with the
authenticated sender's key) and the current time, and return a list of these
outputs. The caller delivers :class:`Send`, runs :class:`AIRequest` on an
adapter and feeds the answer back, and reads the events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.converge.faults import Fault
from gateway.converge.round import Stage
from gateway.converge.synthesis import Result


class AITask(enum.Enum):
    """Which stage an AI request is for."""

    ANSWER = "answer"
    REVIEW = "review"
    SYNTHESIS = "synthesis"


@dataclass(frozen=True)
class Send:
    """Deliver ``data`` to the peer whose identity key is ``to``."""

    to: bytes
    data: bytes


@dataclass(frozen=True)
class AIRequest:
    """Ask the node's AI; answer with ``ai_done(request_id, ...)`` or ``ai_failed``."""

    request_id: int
    task: AITask
    prompt: str


@dataclass(frozen=True)
class StageChanged:
    """The round entered ``stage``."""

    stage: Stage


@dataclass(frozen=True)
class FaultRecorded:
    """A peer misbehaved (the round goes on)."""

    fault: Fault


@dataclass(frozen=True)
class Refused:
    """A message was refused without touching the round (sender not allowed)."""

    sender: bytes
    reason: str


@dataclass(frozen=True)
class RoundCompleted:
    """The round is over; ``result`` is the signed result every participant sees."""

    result: Result


@dataclass(frozen=True)
class RoundAborted:
    """This node gave up on the round (e.g. the asker sent no valid result in time)."""

    reason: str


Output = Send | AIRequest | StageChanged | FaultRecorded | Refused | RoundCompleted | RoundAborted
