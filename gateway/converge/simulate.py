"""An in-memory council: the real asker and participant machines on a simulated clock.

Used by the tests, the demo and the benchmark. Messages travel with a fixed
latency; each peer's AI is a :class:`ScriptedAdapter`, and its fault mode also
decides how the peer misbehaves on the wire:

* ``offline``: the peer never answers anything;
* ``timeout``: the peer is slow: everything it sends arrives after the deadline;
* ``garbage``: every message it sends is replaced by random bytes;
* ``equivocate``: after its reveal it sends a second, different one.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.asker import Asker
from gateway.converge.core import AIRequest, Output, Refused, RoundCompleted, Send
from gateway.converge.faults import Fault
from gateway.converge.messages import public_bytes
from gateway.converge.misbehave import outgoing
from gateway.converge.participant import Participant
from gateway.converge.round import Stage, StageTimes
from gateway.converge.synthesis import Result


def derive_key(seed: int, index: int) -> Ed25519PrivateKey:
    """A deterministic identity key for simulated peer ``index``."""
    material = hashlib.sha256(f"gateway-sim-key/{seed}/{index}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(material)


@dataclass
class Outcome:
    """What every node of a simulated round ended with."""

    asker_result: Result | None
    results: dict[bytes, Result | None]
    faults: tuple[Fault, ...]
    refused: list[Refused] = field(default_factory=list)
    outputs: list[tuple[float, bytes, Output]] = field(default_factory=list)
    #: when the asker signed the result (simulated seconds)
    completed_at: float | None = None


Action = Callable[[float], None]


class Council:
    """One round among an asker and scripted peers on a simulated network."""

    def __init__(
        self,
        question: str,
        adapters: Sequence[ScriptedAdapter],
        *,
        seed: int = 0,
        times: StageTimes | None = None,
        latency: float = 0.05,
        ai_delay: float = 1.0,
        start: float = 1_000.0,
    ) -> None:
        self.times = times or StageTimes(answer=10.0, reveal=5.0, review=10.0, synthesis=10.0)
        self.latency, self.ai_delay = latency, ai_delay
        self._rng = random.Random(seed)
        self._queue: list[tuple[float, int, Action]] = []
        self._seq = itertools.count()
        self.asker_key = derive_key(seed, 0)
        keys = [derive_key(seed, i + 1) for i in range(len(adapters))]
        self.keys = {public_bytes(k): k for k in keys}
        self.adapters = {public_bytes(k): a for k, a in zip(keys, adapters, strict=True)}
        nonce_rng = random.Random(seed ^ 0x5EED)
        self.participants = {
            pub: Participant(k, nonce_source=nonce_rng.randbytes) for pub, k in self.keys.items()
        }
        round_id = hashlib.sha256(f"gateway-sim-round/{seed}".encode()).digest()
        self.asker = Asker(
            self.asker_key, question, list(self.keys), start, times=self.times, round_id=round_id
        )
        self.outcome = Outcome(None, dict.fromkeys(self.keys), ())
        self._start = start

    # --- running ---------------------------------------------------------------------

    def run(self) -> Outcome:
        """Run the round to its end and return what every node saw."""
        asker_pub = public_bytes(self.asker_key)
        self._handle(asker_pub, self.asker.start(), self._start)
        for stage in (Stage.COMMIT, Stage.REVEAL, Stage.REVIEW, Stage.SYNTHESIS):
            when = self.asker.round.deadline(stage)
            self._at(when, lambda now: self._handle(asker_pub, self.asker.tick(now), now))
        while self._queue:
            now, _, action = heapq.heappop(self._queue)
            action(now)
        self.outcome.asker_result = self.asker.result
        self.outcome.faults = self.asker.faults
        self.outcome.results = {p: m.result for p, m in self.participants.items()}
        return self.outcome

    def inject(self, when: float, sender: bytes, to: bytes | None, data: bytes) -> None:
        """Deliver ``data`` from ``sender`` to ``to`` (None: the asker) at ``when``."""
        self._at(when, lambda now: self._deliver(sender, to, data, now))

    def _at(self, when: float, action: Action) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def _fault(self, peer: bytes) -> ScriptedFault:
        return self.adapters[peer].fault if peer in self.adapters else ScriptedFault.NONE

    def _handle(self, source: bytes, outputs: list[Output], now: float) -> None:
        for out in outputs:
            self.outcome.outputs.append((now, source, out))
            if isinstance(out, RoundCompleted) and source not in self.participants:
                self.outcome.completed_at = now
            if isinstance(out, Refused):
                self.outcome.refused.append(out)
            elif isinstance(out, Send):
                self._route(source, out, now)
            elif isinstance(out, AIRequest):
                self._ask_ai(source, out, now)

    def _route(self, source: bytes, out: Send, now: float) -> None:
        if source not in self.participants:  # from the asker
            self.inject(now + self.latency, source, out.to, out.data)
            return
        for delay, data in self._misbehave(source, out.data):
            self.inject(now + self.latency + delay, source, None, data)

    def _misbehave(self, peer: bytes, data: bytes) -> list[tuple[float, bytes]]:
        fault = self._fault(peer)
        if fault is ScriptedFault.TIMEOUT:  # here: too late rather than never
            return [(self.times.answer + self.times.reveal, data)]
        return [(0.0, d) for d in outgoing(fault, self.keys[peer], data, self._rng)]

    def _deliver(self, sender: bytes, to: bytes | None, data: bytes, now: float) -> None:
        if to is None:
            self._handle(public_bytes(self.asker_key), self.asker.receive(sender, data, now), now)
        elif to in self.participants and self._fault(to) is not ScriptedFault.OFFLINE:
            self._handle(to, self.participants[to].receive(sender, data, now), now)

    def _ask_ai(self, peer: bytes, req: AIRequest, now: float) -> None:
        adapter = self.adapters[peer]
        machine = self.participants[peer]

        def reply(t: float) -> None:
            self._handle(peer, machine.ai_done(req.request_id, adapter.respond(req.prompt), t), t)

        self._at(now + self.ai_delay, reply)


def run_council(
    question: str, adapters: Sequence[ScriptedAdapter], *, seed: int = 0, **kwargs: float
) -> Outcome:
    """Run one simulated round (see :class:`Council`)."""
    return Council(question, adapters, seed=seed, **kwargs).run()  # type: ignore[arg-type]
