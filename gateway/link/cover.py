"""Cover traffic schedulers: when a dummy record is due, or whether a slot is real or dummy.

Sans-I/O: every call takes ``now`` (seconds, monotonic); randomness comes from
an injected :class:`random.Random`. One scheduler per link, made at link start.

* ``none`` (:class:`NoCover`): no dummies.
* ``front`` (:class:`FrontScheduler`), after FRONT (Gong & Wang, "Zero-delay
  Lightweight Defenses against Website Fingerprinting", USENIX Security 2020):
  at link start a burst of ``N ~ U[1, n_max]`` dummies at times ``start + t``
  with ``t ~ Rayleigh(w)``, ``w ~ U[w_min, w_max]``; then an idle timer: after
  ``U[idle_min, idle_max]`` seconds without traffic, one dummy. Dummies beyond
  ``budget_bytes_per_minute`` (any 60 s window) are dropped and counted.
  With ``CoverSettings.shaping`` set (the default), the ``front`` mode also
  molds real traffic into bursts of equal slots (:mod:`gateway.link.shaping`);
  the FRONT dummies due during a burst are absorbed by it (:meth:`skip`).
* ``constant_rate`` (:class:`ConstantRateScheduler`): a tick every ``interval``;
  at each tick exactly one record goes out: the oldest queued real one, else a
  dummy. The queue is bounded: a full queue raises QueueFullError (backpressure).
"""

from __future__ import annotations

import collections
import math
import random
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from gateway.config.schema import CoverTraffic, Level, SecurityPolicy
from gateway.errors import LinkError, QueueFullError
from gateway.link.budget import WindowBudget
from gateway.link.shaping import ShapingConfig

#: one Tor relay cell payload: the smallest record, the size of a dummy
CELL_PAYLOAD = 498

T = TypeVar("T")


@dataclass(frozen=True)
class FrontConfig:
    """FRONT parameters (times in seconds, sizes in bytes)."""

    n_max: int = 12
    w_min: float = 1.0
    w_max: float = 14.0
    idle_min: float = 15.0
    idle_max: float = 60.0
    budget_bytes_per_minute: int = 16 * 1024
    dummy_size: int = CELL_PAYLOAD

    def __post_init__(self) -> None:
        ok = (
            self.n_max >= 1
            and 0 < self.w_min <= self.w_max
            and 0 < self.idle_min <= self.idle_max
            and self.budget_bytes_per_minute >= 0
            and self.dummy_size >= 1
        )
        if not ok:
            raise LinkError(f"bad FRONT parameters: {self}")


@dataclass(frozen=True)
class ConstantRateConfig:
    """Constant-rate parameters: one record per ``interval`` seconds.

    ``max_queue`` bounds the real records waiting for a tick; ``max_catch_up``
    bounds how many overdue ticks one call emits after the caller was late
    (the rest are skipped and counted, so a stall does not become a burst).
    """

    interval: float = 0.5
    max_queue: int = 512
    max_catch_up: int = 4

    def __post_init__(self) -> None:
        if not (self.interval > 0 and self.max_queue >= 1 and self.max_catch_up >= 1):
            raise LinkError(f"bad constant-rate parameters: {self}")


@dataclass(frozen=True)
class CoverSettings:
    """The cover parameters of a level (used by whichever mode the policy selects).

    ``shaping``: burst molding (:mod:`gateway.link.shaping`) on top of the
    ``front`` mode; ``None`` leaves records to go out as sealed.
    """

    front: FrontConfig
    constant: ConstantRateConfig
    shaping: ShapingConfig | None = None


#: defaults per level; a level that does not use a mode still has values for overrides
COVER_DEFAULTS: dict[Level, CoverSettings] = {
    Level.STANDARD: CoverSettings(FrontConfig(), ConstantRateConfig(interval=1.0), ShapingConfig()),
    Level.HIGH: CoverSettings(FrontConfig(), ConstantRateConfig(interval=1.0), ShapingConfig()),
    Level.PARANOID: CoverSettings(
        FrontConfig(n_max=24, budget_bytes_per_minute=32 * 1024),
        ConstantRateConfig(),
        ShapingConfig(),
    ),
}


def rayleigh(rng: random.Random, scale: float) -> float:
    """A sample of the Rayleigh distribution with ``scale`` (inverse transform)."""
    return scale * math.sqrt(-2.0 * math.log(1.0 - rng.random()))


class CoverScheduler(Protocol):
    """A scheduler of dummies next to real traffic (``none`` and ``front``)."""

    def next_due(self, now: float) -> float | None:
        """When :meth:`poll` next has something to do (``None``: never)."""

    def poll(self, now: float) -> int:
        """How many dummies to send now."""

    def note_real(self, now: float) -> None:
        """A real record was sent at ``now``."""

    def skip(self, now: float) -> None:
        """Drop the dummies due by ``now``: a shaped burst's padding already covered them."""


class NoCover:
    """No cover traffic."""

    def next_due(self, now: float) -> float | None:
        """Never."""
        return None

    def poll(self, now: float) -> int:
        """Nothing."""
        return 0

    def note_real(self, now: float) -> None:
        """Nothing to do."""

    def skip(self, now: float) -> None:
        """Nothing to do."""


class FrontScheduler:
    """FRONT: a Rayleigh-timed burst at link start, an idle timer, a bandwidth budget."""

    def __init__(self, config: FrontConfig, start: float, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self.burst_size = rng.randint(1, config.n_max)
        self.scale = rng.uniform(config.w_min, config.w_max)
        times = sorted(start + rayleigh(rng, self.scale) for _ in range(self.burst_size))
        self._burst = collections.deque(times)
        self._idle_at = start + self._idle_interval()
        self._budget = WindowBudget(config.budget_bytes_per_minute)
        self.sent = 0
        self.dropped = 0
        self.absorbed = 0

    def _idle_interval(self) -> float:
        return self._rng.uniform(self.config.idle_min, self.config.idle_max)

    @property
    def burst_times(self) -> tuple[float, ...]:
        """Times of the start burst's dummies not yet due."""
        return tuple(self._burst)

    def next_due(self, now: float) -> float:
        """The next burst time or the idle deadline, whichever is first."""
        return min(self._burst[0], self._idle_at) if self._burst else self._idle_at

    def poll(self, now: float) -> int:
        """Dummies due now that fit the budget (the others are dropped and counted)."""
        due = 0
        while self._burst and self._burst[0] <= now:
            self._burst.popleft()
            due += 1
        if now >= self._idle_at:
            due += 1
            self._idle_at = now + self._idle_interval()
        return sum(1 for _ in range(due) if self._spend(now))

    def _spend(self, now: float) -> bool:
        size = self.config.dummy_size
        if not self._budget.fits(now, size):
            self.dropped += 1
            return False
        self._budget.spend(now, size)
        self.sent += 1
        return True

    def note_real(self, now: float) -> None:
        """Real traffic: the idle timer starts again."""
        self._idle_at = now + self._idle_interval()

    def skip(self, now: float) -> None:
        """Drop the burst dummies due by ``now`` and restart the idle timer (not counted)."""
        while self._burst and self._burst[0] <= now:
            self._burst.popleft()
            self.absorbed += 1
        self.note_real(now)


@dataclass(frozen=True, slots=True)
class Slot(Generic[T]):
    """One tick of a constant-rate link: a real record, or ``None`` for a dummy."""

    at: float
    item: T | None

    @property
    def is_dummy(self) -> bool:
        """Whether this slot carries a dummy."""
        return self.item is None


class ConstantRateScheduler(Generic[T]):
    """Constant rate: exactly one record per tick; real records displace dummies."""

    def __init__(self, config: ConstantRateConfig, start: float) -> None:
        self.config = config
        self._start = start
        self._tick = 0  # index of the next tick
        self._queue: collections.deque[T] = collections.deque()
        self.skipped = 0
        self.dummies = 0
        self.reals = 0

    @property
    def queue_depth(self) -> int:
        """Real records waiting for a tick."""
        return len(self._queue)

    def submit(self, item: T) -> None:
        """Queue a real record for the next free tick; QueueFullError if the queue is full."""
        if len(self._queue) >= self.config.max_queue:
            raise QueueFullError(f"constant-rate queue full ({len(self._queue)} records)")
        self._queue.append(item)

    def next_due(self, now: float) -> float:
        """The time of the next tick."""
        return self._start + self._tick * self.config.interval

    def tick(self, now: float) -> list[Slot[T]]:
        """One slot per tick due by ``now`` (at most ``max_catch_up``; the rest skipped)."""
        if now < self.next_due(now):
            return []
        due = math.floor((now - self._start) / self.config.interval) + 1 - self._tick
        due = max(due, 1)
        skip = max(0, due - self.config.max_catch_up)
        self.skipped += skip
        self._tick += skip
        slots = [self._slot() for _ in range(due - skip)]
        return slots

    def _slot(self) -> Slot[T]:
        at = self._start + self._tick * self.config.interval
        self._tick += 1
        if self._queue:
            self.reals += 1
            return Slot(at, self._queue.popleft())
        self.dummies += 1
        return Slot(at, None)


def make_scheduler(
    policy: SecurityPolicy,
    start: float,
    rng: random.Random,
    settings: CoverSettings | None = None,
) -> CoverScheduler | ConstantRateScheduler[bytes]:
    """The scheduler the policy's ``cover_traffic`` asks for, with the level's defaults."""
    chosen = settings or COVER_DEFAULTS[policy.level]
    if policy.cover_traffic is CoverTraffic.FRONT:
        return FrontScheduler(chosen.front, start, rng)
    if policy.cover_traffic is CoverTraffic.CONSTANT_RATE:
        return ConstantRateScheduler[bytes](chosen.constant, start)
    return NoCover()
