"""When a link's records reach the socket: at once, with FRONT dummies, or at a constant rate.

The pacer owns the only path to the connection's writer, so records leave in
the order they were sealed.

At a constant rate, nothing blocking may happen between a tick and its write,
or the record's timing would tell real traffic (sealed and stored on the spot)
from cover: payloads are only queued when submitted; right after each tick
the pacer seals the queued payloads and, when nothing real waits, one dummy
for the next tick. Every tick then writes a record that is already sealed and
stored, at the same moment whatever it carries, and wire order is seal order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from gateway.config.schema import CoverTraffic, SecurityPolicy
from gateway.errors import QueueFullError
from gateway.link.cover import (
    COVER_DEFAULTS,
    ConstantRateScheduler,
    CoverScheduler,
    CoverSettings,
    NoCover,
    make_scheduler,
)


class Sealer(Protocol):
    """What the pacer needs of a link connection (protocol.LinkConnection)."""

    def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]: ...

    def dummy(self, record_size: int | None = None) -> bytes: ...


#: the share of a constant-rate interval the pacer may spend sealing after a tick
PREPARE_SHARE = 0.4

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
        #: constant rate: sealed (record, is_cover) items waiting for their tick
        self._ticks: ConstantRateScheduler[tuple[bytes, bool]] | None = None
        self._cover: CoverScheduler = NoCover()
        if policy.cover_traffic is CoverTraffic.CONSTANT_RATE:
            self._ticks = ConstantRateScheduler(chosen.constant, clock())
        else:
            cover = make_scheduler(policy, clock(), rng or random.Random(), chosen)
            assert not isinstance(cover, ConstantRateScheduler)
            self._cover = cover
        self._real: collections.deque[tuple[bytes, Sequence[bytes]]] = collections.deque()
        self._wake = asyncio.Event()
        self.payload_bytes = 0
        self.wire_bytes = 0
        self.dummies = 0

    def submit(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> None:
        """Send ``payload`` as soon as the mode allows (sealed and stored before it is written).

        At a constant rate the queue is bounded: QueueFullError when it is full.
        """
        if self._ticks is not None and self.queue_depth >= self._ticks.config.max_queue:
            raise QueueFullError(f"constant-rate queue full ({self.queue_depth} waiting)")
        self.payload_bytes += len(payload)
        self._real.append((payload, msg_ids))
        self._wake.set()

    @property
    def queue_depth(self) -> int:
        """Payloads and sealed records waiting to be written."""
        return len(self._real) + (self._ticks.queue_depth if self._ticks else 0)

    async def run(self) -> None:
        """Write until cancelled (or the connection breaks: the write raises)."""
        if self._ticks is not None:
            await self._constant(self._ticks)
        else:
            await self._flowing(self._cover)

    async def _write(self, data: bytes, cover: bool) -> None:
        self.writer.write(data)
        self.wire_bytes += len(data)
        self.dummies += cover
        if self.tap is not None:
            self.tap(data, cover)
        await self.writer.drain()
        self.on_written()

    async def _flowing(self, cover: CoverScheduler) -> None:
        while True:
            while self._real:
                payload, msg_ids = self._real.popleft()
                records = self.sealer.send_records(payload, msg_ids)
                cover.note_real(self.clock())
                await self._write(b"".join(records), False)
            for _ in range(cover.poll(self.clock())):
                await self._write(self.sealer.dummy(), True)
            await self._sleep(cover.next_due(self.clock()))

    async def _constant(self, ticks: ConstantRateScheduler[tuple[bytes, bool]]) -> None:
        self._prepare(ticks)
        while True:
            await asyncio.sleep(max(0.0, ticks.next_due(self.clock()) - self.clock()))
            for slot in ticks.tick(self.clock()):
                record, cover = slot.item if slot.item else (self.sealer.dummy(), True)
                await self._write(record, cover)
            self._prepare(ticks)

    def _prepare(self, ticks: ConstantRateScheduler[tuple[bytes, bool]]) -> None:
        """Right after a tick: seal what waits, or one dummy, for the coming ticks.

        The work stops at PREPARE_SHARE of the interval (the rest waits for the
        next tick), so it never runs into the next tick and delays its write.
        """
        deadline = self.clock() + PREPARE_SHARE * ticks.config.interval
        while self._real and (ticks.queue_depth == 0 or self.clock() < deadline):
            payload, msg_ids = self._real.popleft()
            for record in self.sealer.send_records(payload, msg_ids):
                ticks.submit((record, False))
        if ticks.queue_depth == 0:
            ticks.submit((self.sealer.dummy(), True))

    async def _sleep(self, until: float | None) -> None:
        self._wake.clear()
        if self._real:
            return
        timeout = None if until is None else max(0.0, until - self.clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
