"""The reconciliation state machine: range lists in, range lists and differences out."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import SyncError
from gateway.memory.reconcile.items import INFINITY, MINIMUM, Bound, SortedItems

DEFAULT_BUCKETS = 16
DEFAULT_IDLIST_THRESHOLD = 32


class Mode(enum.IntEnum):
    """What a range carries."""

    SKIP = 0
    FINGERPRINT = 1
    IDLIST = 2


@dataclass(frozen=True)
class RangePart:
    """One range [previous upper, upper) of a reconciliation message."""

    upper: Bound
    mode: Mode
    fingerprint: bytes = b""
    ids: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """Result of processing a message: the reply (empty: finished) and the differences."""

    reply: tuple[RangePart, ...]
    have: tuple[bytes, ...]
    need: tuple[bytes, ...]


class Reconciler:
    """One side of a range-based set reconciliation over ``items``.

    A side that receives a mismatched fingerprint splits the range into
    ``buckets`` sub-ranges by its own items, or answers with its id list when it
    holds fewer than ``idlist_threshold`` items there. A side that receives an
    id list settles that range: it reports ``have`` (ids only it holds) and
    ``need`` (ids only the peer holds) and the range is closed.
    """

    def __init__(
        self,
        items: SortedItems,
        *,
        buckets: int = DEFAULT_BUCKETS,
        idlist_threshold: int = DEFAULT_IDLIST_THRESHOLD,
    ) -> None:
        if buckets < 2 or idlist_threshold < buckets:
            raise ValueError("need buckets >= 2 and idlist_threshold >= buckets")
        self.items = items
        self.buckets = buckets
        self.threshold = idlist_threshold

    def initiate(self) -> tuple[RangePart, ...]:
        """The first message: the whole set, split (or as an id list when small)."""
        return tuple(self._split(INFINITY, 0, len(self.items)))

    def process(self, parts: Sequence[RangePart]) -> Outcome:
        """Answer one message from the peer."""
        reply: list[RangePart] = []
        have: list[bytes] = []
        need: list[bytes] = []
        lower, lo = MINIMUM, 0
        for part in parts:
            if part.upper <= lower:
                raise SyncError("range bounds are not strictly increasing")
            hi = self.items.index(part.upper)
            if part.mode == Mode.FINGERPRINT:
                if self.items.fingerprint(lo, hi) != part.fingerprint:
                    _append(reply, lower, self._split(part.upper, lo, hi))
            elif part.mode == Mode.IDLIST:
                self._settle(part.ids, lo, hi, have, need)
            lower, lo = part.upper, hi
        return Outcome(tuple(reply), tuple(have), tuple(need))

    def _settle(
        self, theirs: Sequence[bytes], lo: int, hi: int, have: list[bytes], need: list[bytes]
    ) -> None:
        mine = self.items.ids(lo, hi)
        their_set = set(theirs)
        have += [i for i in mine if i not in their_set]
        need += [i for i in dict.fromkeys(theirs) if i not in self.items]

    def _split(self, upper: Bound, lo: int, hi: int) -> list[RangePart]:
        n = hi - lo
        if n < self.threshold:
            return [RangePart(upper, Mode.IDLIST, ids=tuple(self.items.ids(lo, hi)))]
        parts: list[RangePart] = []
        start = lo
        for j in range(self.buckets):
            end = lo + (n * (j + 1)) // self.buckets
            bound = upper if j == self.buckets - 1 else self.items.bound_before(end)
            parts.append(RangePart(bound, Mode.FINGERPRINT, self.items.fingerprint(start, end)))
            start = end
        return parts


def _append(reply: list[RangePart], lower: Bound, parts: list[RangePart]) -> None:
    """Add ``parts`` (which start at ``lower``), with a SKIP filling any gap before them."""
    previous = reply[-1].upper if reply else MINIMUM
    if previous != lower:
        reply.append(RangePart(lower, Mode.SKIP))
    reply += parts
