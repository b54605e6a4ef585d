"""The one async step a live driver needs: run an AI request on an adapter."""

from __future__ import annotations

from collections.abc import Callable

from gateway.converge.adapters.base import Adapter
from gateway.converge.core import AIRequest, Output
from gateway.converge.participant import Participant
from gateway.errors import AdapterError


async def fulfil(
    participant: Participant, request: AIRequest, adapter: Adapter, clock: Callable[[], float]
) -> list[Output]:
    """Ask ``adapter`` and feed the answer (or its failure) back into ``participant``.

    An adapter failure only makes this peer abstain from the stage; it never
    ends the round.
    """
    try:
        text = await adapter.complete(request.prompt)
    except AdapterError as exc:
        return participant.ai_failed(request.request_id, str(exc), clock())
    return participant.ai_done(request.request_id, text, clock())
