"""A small synchronous circle for unit tests: FIFO delivery, no delays, blockable members."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable

from gateway.circle.decisions import Decision, Genesis, make_genesis, public_bytes
from gateway.circle.outputs import Output, Send
from gateway.circle.pbft import Replica, Timing
from tests.unit.circle.sim import SIM_TIMING, TICK_MS, sim_key

CIRCLE_ID = hashlib.sha256(b"unit-circle").digest()
#: rewrites (or drops, returning None) a message from src to dst
Tamper = Callable[[int, int, bytes], bytes | None]


class Cluster:
    def __init__(
        self,
        n: int = 4,
        *,
        k: int = 2,
        timing: Timing = SIM_TIMING,
        extra: int = 0,
    ) -> None:
        self.keys = [sim_key(i) for i in range(n + extra)]
        self.ids = [public_bytes(key) for key in self.keys]
        self.genesis: Genesis = make_genesis(
            self.keys[0], CIRCLE_ID, self.ids[:n], checkpoint_interval=k
        )
        self.timing = timing
        self.now = 0
        self.replicas: dict[int, Replica] = {
            i: Replica(key, self.genesis, timing=timing) for i, key in enumerate(self.keys)
        }
        self.events: dict[int, list[Output]] = {i: [] for i in self.replicas}
        self.down: set[int] = set()
        self.tamper: Tamper | None = None
        self._queue: deque[tuple[int, int, bytes]] = deque()

    def index(self, ident: bytes) -> int:
        return self.ids.index(ident)

    def handle(self, src: int, outputs: list[Output]) -> None:
        for out in outputs:
            if not isinstance(out, Send):
                self.events[src].append(out)
                continue
            for dst in self.replicas:
                if dst != src and (out.to is None or self.ids[dst] == out.to):
                    self._queue.append((src, dst, out.data))

    def flush(self) -> None:
        while self._queue:
            src, dst, data = self._queue.popleft()
            if src in self.down or dst in self.down:
                continue
            if self.tamper is not None:
                changed = self.tamper(src, dst, data)
                if changed is None:
                    continue
                data = changed
            self.handle(dst, self.replicas[dst].receive(data, self.ids[src], self.now))

    def propose(self, i: int, decision: Decision) -> None:
        self.handle(i, self.replicas[i].propose(decision, self.now))
        self.flush()

    def advance(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            self.now += TICK_MS
            for i, replica in self.replicas.items():
                if i not in self.down:
                    self.handle(i, replica.tick(self.now))
            self.flush()

    def of(self, i: int, cls: type[object]) -> list[object]:
        return [e for e in self.events[i] if isinstance(e, cls)]
