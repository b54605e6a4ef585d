"""Items sorted by (timestamp, id), range bounds, and prefix sums for fast fingerprints."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.memory.reconcile.fingerprint import fingerprint_of_sum, id_int

ID_BYTES = 32
MAX_TIMESTAMP = (1 << 64) - 1

Key = tuple[int, bytes]


@dataclass(frozen=True, order=True)
class Bound:
    """Exclusive upper bound of a range: a timestamp and an id prefix (zero-padded)."""

    timestamp: int
    prefix: bytes = b""

    @property
    def key(self) -> Key:
        """The (timestamp, 32-byte id) key this bound compares as."""
        return (self.timestamp, self.prefix.ljust(ID_BYTES, b"\x00"))


MINIMUM = Bound(0, b"")
INFINITY = Bound(MAX_TIMESTAMP, b"")


def separating_bound(prev: Key, curr: Key) -> Bound:
    """The shortest bound b with prev < b <= curr (requires prev < curr)."""
    if prev[0] != curr[0]:
        return Bound(curr[0], b"")
    shared = 0
    for a, b in zip(prev[1], curr[1], strict=False):
        if a != b:
            break
        shared += 1
    return Bound(curr[0], curr[1][: shared + 1])


class SortedItems:
    """A set of (timestamp, id) items kept sorted, with lazily rebuilt prefix sums."""

    def __init__(self, items: Iterable[Key] = ()) -> None:
        self._keys: list[Key] = sorted(set(items))
        self._ids: set[bytes] = {k[1] for k in self._keys}
        self._sums: list[int] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ids

    def add(self, timestamp: int, item_id: bytes) -> bool:
        """Insert an item; False when the id is already present."""
        if item_id in self._ids:
            return False
        bisect.insort(self._keys, (timestamp, item_id))
        self._ids.add(item_id)
        self._sums = None
        return True

    def index(self, bound: Bound) -> int:
        """Position of the first item not below ``bound``."""
        if bound == INFINITY:
            return len(self._keys)
        return bisect.bisect_left(self._keys, bound.key)

    def fingerprint(self, lo: int, hi: int) -> bytes:
        """Fingerprint of items[lo:hi]."""
        sums = self._prefix_sums()
        return fingerprint_of_sum(sums[hi] - sums[lo], hi - lo)

    def total(self) -> int:
        """Sum of all ids as integers (not reduced)."""
        return self._prefix_sums()[-1]

    def ids(self, lo: int, hi: int) -> list[bytes]:
        """Ids of items[lo:hi] in order."""
        return [k[1] for k in self._keys[lo:hi]]

    def bound_before(self, i: int) -> Bound:
        """The shortest bound separating items[i-1] from items[i] (0 < i < len)."""
        return separating_bound(self._keys[i - 1], self._keys[i])

    def _prefix_sums(self) -> list[int]:
        if self._sums is None:
            ints = (id_int(k[1]) for k in self._keys)
            self._sums = [0, *itertools.accumulate(ints)]
        return self._sums
