"""When a link's records reach the socket: at once, in molded bursts, or at a constant rate.

The pacer owns the only path to the connection's writer, so records leave in
the order they were sealed.

On a schedule (constant rate; the slots of a shaped burst) nothing blocking may
happen between a tick and its write, or the record's timing would tell real
traffic (sealed and stored on the spot) from cover. Ticks are at absolute times
(``start + k * interval``), so a late one never shifts the ones after it.
Payloads are only queued when submitted. In a window after each tick
(``WINDOW_SHARE`` of the interval) the pacer seals what the coming tick needs
from the real payloads submitted so far; at the window's end, padding for what
is still missing; then nothing runs until the tick. Received data waits for the
same window: the reader awaits :meth:`Pacer.receive_turn` before it opens
records (which stores the session, an fsync), so receiving never delays a tick.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from gateway.config.schema import CoverTraffic, PaddingMode, SecurityPolicy
from gateway.errors import QueueFullError
from gateway.link.cover import (
    COVER_DEFAULTS,
    ConstantRateScheduler,
    CoverScheduler,
    CoverSettings,
    NoCover,
    make_scheduler,
)
from gateway.link.shaping import BurstShaper
from gateway.session.padding import max_record_size, record_size_for


class Sealer(Protocol):
    """What the pacer needs of a link connection (protocol.LinkConnection)."""

    def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]: ...

    def dummy(self, record_size: int | None = None) -> bytes: ...


#: the share of an interval after a tick in which payloads are sealed and received data
#: opened; then the padding for the next tick is sealed, and the rest stays quiet
WINDOW_SHARE = 0.5
#: constant rate: sealed records kept ready ahead of the ticks
LOOKAHEAD = 4
#: the time before a tick spent waiting on the clock (at most SPIN_SHARE of the interval)
SPIN = 0.002
SPIN_SHARE = 0.04

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
        padding_mode: PaddingMode | None = None,
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
        #: the session's (the stronger of both sides' offers), else the policy's
        self.padding_mode = padding_mode or policy.padding_mode
        chosen = settings or COVER_DEFAULTS[policy.level]
        #: constant rate: sealed (record, is_cover) items waiting for their tick
        self._ticks: ConstantRateScheduler[tuple[bytes, bool]] | None = None
        #: shaped bursts (the front mode with shaping settings)
        self.shaper: BurstShaper | None = None
        self._cover: CoverScheduler = NoCover()
        self._max_queue: int | None = None
        self._spin = 0.0
        if policy.cover_traffic is CoverTraffic.CONSTANT_RATE:
            # the first tick, like every other, follows a window for sealing; the payload
            # queue is bounded here (submit), the sealed one by LOOKAHEAD plus one payload's
            # fragments, which must all go in at once
            first = clock() + chosen.constant.interval
            unbounded = dataclasses.replace(chosen.constant, max_queue=sys.maxsize)
            self._ticks = ConstantRateScheduler(unbounded, first)
            self._max_queue = chosen.constant.max_queue
            self._spin = min(SPIN, SPIN_SHARE * chosen.constant.interval)
        else:
            cover = make_scheduler(policy, clock(), rng or random.Random(), chosen)
            assert not isinstance(cover, ConstantRateScheduler)
            self._cover = cover
            if policy.cover_traffic is CoverTraffic.FRONT and chosen.shaping is not None:
                self.shaper = BurstShaper(chosen.shaping)
                self._max_queue = chosen.shaping.max_queue
                self._spin = min(SPIN, SPIN_SHARE * chosen.shaping.interval)
        self._real: collections.deque[tuple[bytes, Sequence[bytes]]] = collections.deque()
        self._wake = asyncio.Event()
        #: received data may be opened until this time (inf: at any time)
        self._turn_until = math.inf
        self._turn = asyncio.Event()
        self.payload_bytes = 0
        self.wire_bytes = 0
        self.dummies = 0

    def submit(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> None:
        """Send ``payload`` as soon as the mode allows (sealed and stored before it is written).

        On a schedule the queue is bounded: QueueFullError when it is full.
        """
        if self._max_queue is not None and self.queue_depth >= self._max_queue:
            raise QueueFullError(f"link send queue full ({self.queue_depth} waiting)")
        self.payload_bytes += len(payload)
        self._real.append((payload, msg_ids))
        self._wake.set()

    @property
    def queue_depth(self) -> int:
        """Payloads and sealed records waiting to be written."""
        return len(self._real) + (self._ticks.queue_depth if self._ticks else 0)

    async def receive_turn(self) -> None:
        """Wait until received data may be opened without delaying the next tick.

        At once when the link is not on a schedule, else in the window right
        after a tick (``WINDOW_SHARE`` of the interval).
        """
        while self.clock() >= self._turn_until:
            self._turn.clear()
            await self._turn.wait()

    def _open_turn(self, until: float) -> None:
        self._turn_until = until
        self._turn.set()

    async def run(self) -> None:
        """Write until cancelled (or the connection breaks: the write raises)."""
        try:
            if self._ticks is not None:
                await self._constant(self._ticks)
            elif self.shaper is not None:
                await self._shaped(self.shaper, self._cover)
            else:
                await self._flowing(self._cover)
        finally:
            self._open_turn(math.inf)

    async def _write(self, data: bytes, cover: bool) -> None:
        self.writer.write(data)
        self.wire_bytes += len(data)
        self.dummies += cover
        if self.tap is not None:
            self.tap(data, cover)
        await self.writer.drain()
        self.on_written()

    # --- as sealed (none, front) -----------------------------------------------------

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

    # --- constant rate (paranoid) ----------------------------------------------------

    async def _constant(self, ticks: ConstantRateScheduler[tuple[bytes, bool]]) -> None:
        interval = ticks.config.interval
        window_end = ticks.next_due(self.clock()) - (1 - WINDOW_SHARE) * interval
        while True:
            due = ticks.next_due(self.clock())
            await self._until(
                due,
                window_end,
                lambda until: self._seal_real(ticks, until),
                lambda: self._seal_dummy(ticks),
            )
            for slot in ticks.tick(self.clock()):
                record, cover = slot.item if slot.item else (self.sealer.dummy(), True)
                await self._write(record, cover)
            window_end = due + WINDOW_SHARE * interval
            self._seal_real(ticks, window_end)
            self._open_turn(window_end)

    def _seal_real(
        self, ticks: ConstantRateScheduler[tuple[bytes, bool]], until: float = math.inf
    ) -> None:
        """Seal queued payloads for the coming ticks (``LOOKAHEAD`` records; stop at ``until``)."""
        while self._real and ticks.queue_depth < LOOKAHEAD and self.clock() < until:
            payload, msg_ids = self._real.popleft()
            for record in self.sealer.send_records(payload, msg_ids):
                ticks.submit((record, False))

    def _seal_dummy(self, ticks: ConstantRateScheduler[tuple[bytes, bool]]) -> None:
        """At the end of the window: nothing real for the next tick, so a dummy."""
        if ticks.queue_depth == 0:
            ticks.submit((self.sealer.dummy(), True))

    # --- molded bursts (high) --------------------------------------------------------

    async def _shaped(self, shaper: BurstShaper, cover: CoverScheduler) -> None:
        interval = shaper.config.interval
        window_end = 0.0
        while True:
            if not shaper.active:
                self._open_turn(math.inf)
                if not self._real and not shaper.real_buffered:
                    for _ in range(cover.poll(self.clock())):
                        await self._write(self.sealer.dummy(), True)
                    await self._sleep(cover.next_due(self.clock()))
                    continue
                shaper.start(self.clock())
                self._fill_real(shaper, cover)
                self._pad(shaper)  # the first slot goes at once
            due = shaper.next_due(self.clock())
            if due is None:
                continue
            await self._until(
                due,
                window_end,
                lambda until: self._fill_real(shaper, cover, until),
                lambda: self._pad(shaper),
            )
            for chunk in shaper.take(self.clock()):
                await self._write(chunk.data, chunk.cover)
            cover.skip(self.clock())
            window_end = due + WINDOW_SHARE * interval
            self._fill_real(shaper, cover, window_end)
            self._open_turn(window_end)

    def _fill_real(
        self, shaper: BurstShaper, cover: CoverScheduler, until: float = math.inf
    ) -> None:
        """Seal queued payloads for the next two slots (stop at ``until``: padding fills in)."""
        while (
            self._real and shaper.buffered < 2 * shaper.config.slot_bytes and self.clock() < until
        ):
            payload, msg_ids = self._real.popleft()
            for record in self.sealer.send_records(payload, msg_ids):
                shaper.push(record, True)
            cover.note_real(self.clock())

    def _pad(self, shaper: BurstShaper) -> None:
        """At the end of the window: padding for what the next slot still lacks."""
        while (need := shaper.deficit()) > 0:
            size = self._dummy_size(need)
            if not shaper.may_pad(self.clock(), size):
                break
            shaper.push(self.sealer.dummy(size), False)

    def _dummy_size(self, need: int) -> int:
        """The smallest record the padding mode allows that holds ``need`` (or its largest)."""
        largest = max_record_size(self.padding_mode)
        return record_size_for(self.padding_mode, min(need, largest or need))

    async def _until(
        self,
        due: float,
        window_end: float,
        seal: Callable[[float], None],
        finish: Callable[[], None],
    ) -> None:
        """Wait for the tick at ``due``: payloads submitted in the window are sealed at once
        (``seal(window_end)``), and at ``window_end`` ``finish`` seals the padding the tick
        still needs.
        """
        until = min(due, window_end)
        while self.clock() < until:
            if self._real:
                seal(until)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, until - self.clock()))
        finish()
        # quiet until the tick: no wake-ups for submissions, nothing else of ours runs; the
        # last moments are spent on the clock, so another callback cannot delay the write
        await asyncio.sleep(max(0.0, due - self._spin - self.clock()))
        while self.clock() < due:
            pass

    async def _sleep(self, until: float | None) -> None:
        self._wake.clear()
        if self._real:
            return
        timeout = None if until is None else max(0.0, until - self.clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
