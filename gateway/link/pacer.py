"""When a link's records reach the socket: at once, with FRONT dummies, or at a constant rate.

The pacer owns the only path to the connection's writer, so records leave in
the order they were sealed. Real payloads are sealed (and stored) as they are
submitted; dummies are sealed when their slot comes, which is always after
every queued real record, so the ratchet order is the wire order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from gateway.config.schema import SecurityPolicy
from gateway.link.cover import (
    COVER_DEFAULTS,
    ConstantRateScheduler,
    CoverScheduler,
    CoverSettings,
    make_scheduler,
)


class Sealer(Protocol):
    """What the pacer needs of a link connection (protocol.LinkConnection)."""

    def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]: ...

    def dummy(self, record_size: int | None = None) -> bytes: ...


#: called with each chunk of bytes written, and whether it was cover
Tap = Callable[[bytes, bool], None]


class Pacer:
    """Writes one link's records per its security policy's cover-traffic mode."""

    def __init__(
        self,
        sealer: Sealer,
        writer: asyncio.StreamWriter,
        policy: SecurityPolicy,
        *,
        on_written: Callable[[], None] = lambda: None,
        tap: Tap | None = None,
        settings: CoverSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.sealer = sealer
        self.writer = writer
        self.on_written = on_written
        self.tap = tap
        self.clock = clock
        chosen = settings or COVER_DEFAULTS[policy.level]
        self.scheduler = make_scheduler(policy, clock(), rng or random.Random(), chosen)
        self._real: collections.deque[tuple[bytes, Sequence[bytes]]] = collections.deque()
        self._wake = asyncio.Event()
        self.payload_bytes = 0
        self.wire_bytes = 0
        self.dummies = 0

    def submit(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> None:
        """Send ``payload`` as soon as the mode allows (sealed and stored first)."""
        self.payload_bytes += len(payload)
        if isinstance(self.scheduler, ConstantRateScheduler):
            for record in self.sealer.send_records(payload, msg_ids):
                self.scheduler.submit(record)
        else:
            self._real.append((payload, msg_ids))
        self._wake.set()

    @property
    def queue_depth(self) -> int:
        if isinstance(self.scheduler, ConstantRateScheduler):
            return self.scheduler.queue_depth
        return len(self._real)

    async def run(self) -> None:
        """Write until cancelled (or the connection breaks: the write raises)."""
        if isinstance(self.scheduler, ConstantRateScheduler):
            await self._constant(self.scheduler)
        else:
            await self._flowing(self.scheduler)

    async def _write(self, data: bytes, cover: bool) -> None:
        self.writer.write(data)
        self.wire_bytes += len(data)
        if self.tap is not None:
            self.tap(data, cover)
        await self.writer.drain()
        self.on_written()

    async def _flowing(self, scheduler: CoverScheduler) -> None:
        while True:
            while self._real:
                payload, msg_ids = self._real.popleft()
                records = self.sealer.send_records(payload, msg_ids)
                scheduler.note_real(self.clock())
                await self._write(b"".join(records), False)
            for _ in range(scheduler.poll(self.clock())):
                self.dummies += 1
                await self._write(self.sealer.dummy(), True)
            await self._sleep(scheduler.next_due(self.clock()))

    async def _constant(self, scheduler: ConstantRateScheduler[bytes]) -> None:
        while True:
            for slot in scheduler.tick(self.clock()):
                if slot.item is None:
                    self.dummies += 1
                    await self._write(self.sealer.dummy(), True)
                else:
                    await self._write(slot.item, False)
            await asyncio.sleep(max(0.0, scheduler.next_due(self.clock()) - self.clock()))

    async def _sleep(self, until: float | None) -> None:
        self._wake.clear()
        if self._real:
            return
        timeout = None if until is None else max(0.0, until - self.clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
