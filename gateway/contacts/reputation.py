"""Peer reputation, measured (sans-I/O): per-contact measurements and the score.

A :class:`Ledger` keeps, for each contact:

* **uptime**: seconds this node observed the contact (this node ran, its tor was up, the
  contact was paired) and seconds its link was up, in :data:`BUCKET`-second buckets over a
  sliding :data:`WINDOW`;
* **RTT**: an EWMA of the link's ping round trips (:data:`RTT_ALPHA`) and the last
  :data:`RTT_KEEP` samples (for the median);
* **events** by category and kind: memory-sync refusals by reason (``sync``), council round
  faults (``round``), circle PBFT faults (``pbft``), and clean interactions (kind ``ok``).
  Each keeps a lifetime total and a *recent* weight that halves every :data:`HALF_LIFE`.

:func:`score` turns them into a number in [0, 1] (docs/REPUTATION.md has the formula):
``0.5 * availability + 0.2 * latency + 0.3 * conduct``, each part pulled toward 0.5 by a
prior, so a contact without data scores 0.5 and one measurement moves it only a little.
Everything is deterministic in the records and ``now``; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: the sliding window of uptime (seconds) and its bucket size
WINDOW = 24 * 3600
BUCKET = 900
#: at most this many seconds are accounted at once (a longer gap: this node was not running)
MAX_GAP = 120.0
#: the recent weight of events halves every this many seconds
HALF_LIFE = 7 * 24 * 3600.0
RTT_ALPHA = 0.2
RTT_KEEP = 32
#: an RTT of this many seconds makes latency 0.5
RTT_REF = 2.0

NEUTRAL = 0.5
#: pseudo-observations of the prior: seconds of uptime, RTT samples, conduct interactions
UPTIME_PRIOR = 600.0
RTT_PRIOR = 5.0
CONDUCT_PRIOR = 2.0
#: weights of availability, latency and conduct in the score
W_AVAILABILITY = 0.5
W_LATENCY = 0.2
W_CONDUCT = 0.3

SYNC, ROUND, PBFT = "sync", "round", "pbft"
CATEGORIES = (SYNC, ROUND, PBFT)
#: a clean interaction (a sync session with nothing refused, a round without a fault)
OK = "ok"
PBFT_KINDS = ("equivocation", "silent_primary")

#: penalty of one incident of each kind (a kind not listed weighs DEFAULT_PENALTY)
PENALTIES: Mapping[tuple[str, str], float] = {
    (SYNC, "bad_signature"): 2.0,
    (SYNC, "malformed"): 2.0,
    (SYNC, "broken_chain"): 2.0,
    (SYNC, "oversized"): 1.0,
    (SYNC, "wrong_space"): 1.0,
    (SYNC, "held_full"): 0.0,  # our own queue of held entries is full: not the peer's doing
    (SYNC, "split_view"): 5.0,
    (ROUND, "timeout"): 1.0,
    (ROUND, "late"): 0.5,
    (ROUND, "abstained"): 0.0,  # it said it would not answer (AI failed, or busy)
    (ROUND, "garbage"): 2.0,
    (ROUND, "equivocation"): 5.0,
    (PBFT, "equivocation"): 5.0,
    (PBFT, "silent_primary"): 2.0,
}
DEFAULT_PENALTY = 1.0
#: the primary-order rank has this many buckets (0 leads)
RANK_BUCKETS = 4


def decay(value: float, since: float, now: float) -> float:
    """``value`` recorded at ``since``, halved for every HALF_LIFE until ``now``."""
    if now <= since:
        return value
    return value * math.pow(0.5, (now - since) / HALF_LIFE)


def penalty(category: str, kind: str) -> float:
    return PENALTIES.get((category, kind), DEFAULT_PENALTY)


@dataclass
class Tally:
    """One kind of event of one contact: a lifetime total and a decaying recent weight."""

    total: int = 0
    recent: float = 0.0
    at: float = 0.0

    def add(self, count: int, now: float, incidents: float = 1.0) -> None:
        self.recent = decay(self.recent, self.at, now) + incidents
        self.at = max(self.at, now)
        self.total += count

    def value(self, now: float) -> float:
        return decay(self.recent, self.at, now)


@dataclass
class Record:
    """Everything measured of one contact."""

    #: bucket index (start time // BUCKET) -> [seconds observed, seconds up]
    uptime: dict[int, list[float]] = field(default_factory=dict)
    rtt_ewma: float | None = None
    rtt_samples: int = 0
    rtt_recent: list[float] = field(default_factory=list)
    events: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def observed(self, now: float) -> tuple[float, float]:
        """(seconds observed, seconds up) in the window ending at ``now``."""
        first = int((now - WINDOW) // BUCKET)
        seen = up = 0.0
        for bucket, (o, u) in self.uptime.items():
            if bucket >= first:
                seen += o
                up += u
        return seen, up

    def totals(self, category: str) -> dict[str, int]:
        return {kind: t.total for (cat, kind), t in sorted(self.events.items()) if cat == category}


@dataclass(frozen=True)
class Score:
    """A contact's score and what it was made of."""

    score: float
    availability: float
    latency: float
    conduct: float
    uptime: float | None
    observed_s: float
    rtt_ewma_ms: float | None
    rtt_p50_ms: float | None
    rtt_samples: int
    sync_refusals: dict[str, int]
    round_faults: dict[str, int]
    pbft_faults: dict[str, int]
    clean: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        ms = None if self.rtt_ewma_ms is None else round(self.rtt_ewma_ms, 1)
        p50 = None if self.rtt_p50_ms is None else round(self.rtt_p50_ms, 1)
        return {
            "score": round(self.score, 4),
            "uptime": None if self.uptime is None else round(self.uptime, 4),
            "observed_s": round(self.observed_s, 1),
            "rtt_ewma_ms": ms,
            "rtt_p50_ms": p50,
            "rtt_samples": self.rtt_samples,
            "sync_refusals": self.sync_refusals,
            "round_faults": self.round_faults,
            "pbft_faults": self.pbft_faults,
            "clean": self.clean,
            "components": {
                "availability": round(self.availability, 4),
                "latency": round(self.latency, 4),
                "conduct": round(self.conduct, 4),
            },
        }


def score(record: Record | None, now: float) -> Score:
    """The score of ``record`` at ``now`` (None: a contact without data, 0.5)."""
    import statistics  # (with fractions and decimal) from the first score, not at start

    rec = record if record is not None else Record()
    seen, up = rec.observed(now)
    availability = (up + NEUTRAL * UPTIME_PRIOR) / (seen + UPTIME_PRIOR)
    n = float(rec.rtt_samples)
    measured = NEUTRAL if rec.rtt_ewma is None else RTT_REF / (RTT_REF + max(0.0, rec.rtt_ewma))
    latency = (n * measured + NEUTRAL * RTT_PRIOR) / (n + RTT_PRIOR)
    good = bad = 0.0
    for (category, kind), tally in rec.events.items():
        if kind == OK:
            good += tally.value(now)
        else:
            bad += penalty(category, kind) * tally.value(now)
    conduct = (good + NEUTRAL * CONDUCT_PRIOR) / (good + bad + CONDUCT_PRIOR)
    total = W_AVAILABILITY * availability + W_LATENCY * latency + W_CONDUCT * conduct
    return Score(
        score=min(1.0, max(0.0, total)),
        availability=availability,
        latency=latency,
        conduct=conduct,
        uptime=up / seen if seen > 0 else None,
        observed_s=seen,
        rtt_ewma_ms=None if rec.rtt_ewma is None else rec.rtt_ewma * 1000,
        rtt_p50_ms=statistics.median(rec.rtt_recent) * 1000 if rec.rtt_recent else None,
        rtt_samples=rec.rtt_samples,
        sync_refusals={k: v for k, v in rec.totals(SYNC).items() if k != OK},
        round_faults={k: v for k, v in rec.totals(ROUND).items() if k != OK},
        pbft_faults={k: v for k, v in rec.totals(PBFT).items() if k != OK},
        clean={c: t.total for (c, k), t in sorted(rec.events.items()) if k == OK},
    )


def rank_bucket(value: float, buckets: int = RANK_BUCKETS) -> int:
    """A score quantized to a small rank for the primary order: 0 (best) .. buckets - 1.

    ``[0, 1]`` is cut into ``buckets`` equal parts; the top part is rank 0. Members sort
    by ``(rank, key)``, so only a difference of a whole bucket changes the order.
    """
    if buckets < 1:
        raise ValueError("at least one bucket")
    if math.isnan(value):
        value = NEUTRAL
    part = min(buckets - 1, max(0, math.floor(min(1.0, max(0.0, value)) * buckets)))
    return buckets - 1 - part


def best(scores: Mapping[bytes, float], k: int) -> list[bytes]:
    """The ``k`` best-scored keys: by score (to 1e-6) descending, then key bytes ascending."""
    if k < 0:
        raise ValueError("k must not be negative")
    ordered = sorted(scores, key=lambda key: (-round(scores[key], 6), key))
    return ordered[:k]


class Ledger:
    """Every contact's :class:`Record`; which ones changed since the last :meth:`take_dirty`."""

    def __init__(self, records: Mapping[bytes, Record] | None = None) -> None:
        self.records: dict[bytes, Record] = dict(records or {})
        self._dirty: set[bytes] = set()

    def record(self, contact: bytes) -> Record:
        self._dirty.add(contact)
        return self.records.setdefault(contact, Record())

    def take_dirty(self) -> set[bytes]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def observe(
        self, contacts: Iterable[bytes], online: Iterable[bytes], start: float, end: float
    ) -> None:
        """``contacts`` were watched from ``start`` to ``end``; those ``online`` had a link.

        At most MAX_GAP seconds (the last ones) are accounted; the interval is split at
        bucket boundaries and buckets that left the window are dropped.
        """
        start = max(start, end - MAX_GAP)
        if end <= start:
            return
        up = set(online)
        first = int((end - WINDOW) // BUCKET)
        for contact in contacts:
            rec = self.record(contact)
            t = start
            while t < end:
                bucket = int(t // BUCKET)
                stop = min(end, (bucket + 1) * BUCKET)
                cell = rec.uptime.setdefault(bucket, [0.0, 0.0])
                cell[0] += stop - t
                if contact in up:
                    cell[1] += stop - t
                t = stop
            for old in [b for b in rec.uptime if b < first]:
                del rec.uptime[old]

    def rtt(self, contact: bytes, seconds: float) -> None:
        """One ping's round trip to ``contact``."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        rec = self.record(contact)
        if rec.rtt_ewma is None:
            rec.rtt_ewma = seconds
        else:
            rec.rtt_ewma = RTT_ALPHA * seconds + (1 - RTT_ALPHA) * rec.rtt_ewma
        rec.rtt_samples += 1
        rec.rtt_recent = [*rec.rtt_recent, seconds][-RTT_KEEP:]

    def event(self, contact: bytes, category: str, kind: str, now: float, count: int = 1) -> None:
        """An incident (or, with kind ``ok``, a clean interaction) of ``contact``.

        ``count`` adds to the lifetime total (entries refused, faults recorded); the recent
        weight, which the score uses, grows by one per call whatever ``count`` is.
        """
        if category not in CATEGORIES:
            raise ValueError(f"unknown reputation category {category!r}")
        if count < 1:
            return
        tally = self.record(contact).events.setdefault((category, kind), Tally())
        tally.add(count, now)

    def score(self, contact: bytes, now: float) -> Score:
        return score(self.records.get(contact), now)
