"""Burst molding: a link's byte stream leaves in equal slots while a burst is on (sans-I/O).

The cover of level HIGH against traffic-analysis classifiers that count bytes
and time gaps. It borrows from Tamaraw (Cai et al., "A Systematic Approach to
Developing and Evaluating Website Fingerprinting Defenses", CCS 2014: fixed-size
packets at a fixed rate, padding a burst's length up to a bucket) and RegulaTor
(Holland & Hopper, PETS 2022: a sending schedule fixed in advance of the data,
real records taking the places of padding, a padding budget):

* idle, the link is silent (FRONT dummies aside, see :mod:`gateway.link.cover`);
* real data starts a **burst**: from then on exactly ``slot_bytes`` bytes of the
  sealed byte stream leave every ``interval`` seconds, real records first, padding
  (dummy records) when nothing real waits; a record may span slots;
* a burst ends only at a **bucket boundary**: after its last real byte it goes
  on for at least ``hold`` seconds, its length rounded up to ``hold * 2**k``.
  A chat, a sync and a bulk transfer all look like the same slots at the same
  rate; what leaks is the burst's length, rounded to a power of two;
* the cap on the rate (``slot_bytes / interval``) is the price in throughput;
  padding beyond ``budget_bytes_per_minute`` (any 60 s window) is refused and
  the burst then ends as soon as its real bytes are out (the price in privacy
  when a link is busier than the budget was made for).

Every call takes ``now`` (seconds, monotonic). The caller seals records and
pushes them; :meth:`BurstShaper.take` hands out the slots that are due.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from gateway.errors import LinkError
from gateway.link.budget import WindowBudget

#: payload bytes of one Tor relay cell
CELL = 498


@dataclass(frozen=True)
class ShapingConfig:
    """Burst-molding parameters (times in seconds, sizes in bytes)."""

    interval: float = 0.05
    slot_bytes: int = 16 * CELL
    hold: float = 2.0
    budget_bytes_per_minute: int = 4 << 20
    #: real payloads waiting to be sealed (QueueFullError beyond: backpressure)
    max_queue: int = 2048
    #: slots one late call may still write (the rest are skipped and counted)
    max_catch_up: int = 4

    def __post_init__(self) -> None:
        ok = (
            self.interval > 0
            and self.slot_bytes >= 1
            and self.hold >= self.interval
            and self.budget_bytes_per_minute >= 0
            and self.max_queue >= 1
            and self.max_catch_up >= 1
        )
        if not ok:
            raise LinkError(f"bad shaping parameters: {self}")

    @property
    def rate(self) -> float:
        """The cap on a shaped link's rate, bytes per second."""
        return self.slot_bytes / self.interval

    @property
    def hold_slots(self) -> int:
        """``hold`` in slots (at least one)."""
        return max(1, math.ceil(self.hold / self.interval - 1e-9))


@dataclass(frozen=True, slots=True)
class Chunk:
    """One slot's bytes; ``cover`` when none of them are real."""

    data: bytes
    cover: bool


class BurstShaper:
    """The slot schedule and the byte stream waiting for it."""

    def __init__(self, config: ShapingConfig) -> None:
        self.config = config
        self._stream = bytearray()
        #: (bytes left, real) per pushed record still (partly) in the stream
        self._segments: collections.deque[list[int | bool]] = collections.deque()
        self._real_bytes = 0
        self._active = False
        self._start = 0.0
        self._slot = 0  # index of the next slot in the burst
        self._end = 0  # the burst may end at this slot index (a bucket boundary)
        self._budget = WindowBudget(config.budget_bytes_per_minute)
        self.bursts = 0
        self.slots = 0
        self.skipped = 0
        self.padding_bytes = 0
        self.refused_bytes = 0

    # --- the stream --------------------------------------------------------------

    def push(self, record: bytes, real: bool) -> None:
        """Append a sealed record (real, or padding the caller sealed on request)."""
        if not record:
            return
        self._stream += record
        self._segments.append([len(record), real])
        if real:
            self._real_bytes += len(record)

    @property
    def buffered(self) -> int:
        """Bytes waiting for a slot."""
        return len(self._stream)

    @property
    def real_buffered(self) -> int:
        """Bytes of real records waiting for a slot."""
        return self._real_bytes

    # --- the schedule ------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether a burst is on."""
        return self._active

    def start(self, now: float) -> None:
        """Real data waits: begin a burst at ``now`` unless one is on."""
        if self._active:
            return
        self._active = True
        self._start = now
        self._slot = 0
        self._end = self._bucket(self.config.hold_slots)
        self.bursts += 1

    def next_due(self, now: float) -> float | None:
        """When the next slot is due (``None``: no burst)."""
        if not self._active:
            return None
        return self._start + self._slot * self.config.interval

    def _wanted(self) -> bool:
        """Whether the burst still wants slots: its minimum length, or real bytes waiting."""
        return self._slot < self._end or self._real_bytes > 0

    def _continues(self) -> bool:
        """A burst ends only when the stream is empty: a slot may cut a record in two, and
        whatever is written after the burst (a cover record) must start on a record boundary.
        """
        return self._wanted() or bool(self._stream)

    def deficit(self) -> int:
        """Bytes of padding the next slot still needs (0 when it is full or will not come)."""
        if not self._active or not self._wanted():
            return 0
        return max(0, self.config.slot_bytes - len(self._stream))

    def may_pad(self, now: float, size: int) -> bool:
        """Whether the caller may seal ``size`` bytes of padding now (counted if so).

        Padding that fills a slot carrying real bytes is always allowed; padding
        that only prolongs a burst must fit the budget. A refusal ends the burst
        once its real bytes are out.
        """
        if not self._budget.fits(now, size) and self._real_bytes == 0:
            self.refused_bytes += size
            self._end = min(self._end, self._slot)
            return False
        self._budget.spend(now, size)
        self.padding_bytes += size
        return True

    def take(self, now: float) -> list[Chunk]:
        """The slots due by ``now`` (at most ``max_catch_up``; older ones skipped)."""
        due = self.next_due(now)
        if due is None or now < due:
            return []
        late = math.floor((now - due) / self.config.interval) + 1
        skip = max(0, late - self.config.max_catch_up)
        self._skip(skip)
        chunks: list[Chunk] = []
        for _ in range(late - skip):
            if not self._continues() or not self._stream:
                self._active = False
                break
            chunks.append(self._emit())
        return chunks

    def _skip(self, count: int) -> None:
        self.skipped += count
        self._slot += count

    def _emit(self) -> Chunk:
        size = min(self.config.slot_bytes, len(self._stream))
        data = bytes(self._stream[:size])
        del self._stream[:size]
        real = self._consume(size)
        if real:
            # a slot with real bytes: the burst lasts at least ``hold`` more, to a bucket
            self._end = max(self._end, self._bucket(self._slot + 1 + self.config.hold_slots))
        self._slot += 1
        self.slots += 1
        return Chunk(data, not real)

    def _consume(self, size: int) -> bool:
        """Drop ``size`` bytes' worth of segments; whether any were real."""
        real = False
        while size > 0:
            segment = self._segments[0]
            left, is_real = int(segment[0]), bool(segment[1])
            used = min(left, size)
            size -= used
            real |= is_real
            if is_real:
                self._real_bytes -= used
            if used == left:
                self._segments.popleft()
            else:
                segment[0] = left - used
        return real

    def _bucket(self, slots: int) -> int:
        """The smallest ``hold_slots * 2**k`` (k >= 0) that is at least ``slots``."""
        length = self.config.hold_slots
        while length < slots:
            length *= 2
        return length
