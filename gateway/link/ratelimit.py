"""Token buckets for handshake attempts: per source circuit and in total, bounded memory.

Sans-I/O: every call takes ``now`` (seconds, monotonic). The key is whatever
string the I/O layer uses to name a source (a circuit or stream id).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from gateway.errors import LinkError


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` stored."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1):
            raise LinkError(f"bucket needs rate > 0 and burst >= 1, got {self.rate}, {self.burst}")

    @property
    def refill_time(self) -> float:
        """Seconds an empty bucket takes to fill up."""
        return self.burst / self.rate


class TokenBucket:
    """One token bucket; starts full."""

    def __init__(self, spec: BucketSpec, now: float) -> None:
        self.spec = spec
        self._tokens = spec.burst
        self._last = now

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (time never runs backwards here)."""
        elapsed = max(0.0, now - self._last)
        return min(self.spec.burst, self._tokens + elapsed * self.spec.rate)

    def _refill(self, now: float) -> None:
        self._tokens = self.tokens(now)
        self._last = max(self._last, now)

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are that many."""
        self._refill(now)
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def is_full(self, now: float) -> bool:
        """Whether the bucket is full (forgetting it changes nothing)."""
        return self.tokens(now) >= self.spec.burst


#: defaults: a circuit may try 3 handshakes at once, then one per 20 s
DEFAULT_PER_KEY = BucketSpec(rate=1 / 20, burst=3)
#: all circuits together: bursts of 30, then one per second
DEFAULT_TOTAL = BucketSpec(rate=1.0, burst=30)
DEFAULT_MAX_KEYS = 4096


class HandshakeLimiter:
    """Allows a handshake attempt if both its source's bucket and the total bucket allow it.

    Memory is bounded: at most ``max_keys`` per-source buckets are kept (the least
    recently used goes first); :meth:`prune` forgets idle (full) buckets, which
    changes nothing, as a new bucket starts full. The total bucket bounds what
    evicting a non-idle bucket could give away.
    """

    def __init__(
        self,
        per_key: BucketSpec = DEFAULT_PER_KEY,
        total: BucketSpec = DEFAULT_TOTAL,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        now: float = 0.0,
    ) -> None:
        if max_keys < 1:
            raise LinkError(f"max_keys must be >= 1, got {max_keys}")
        self.per_key = per_key
        self.max_keys = max_keys
        self._total = TokenBucket(total, now)
        self._keys: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()
        self.refused = 0

    def __len__(self) -> int:
        return len(self._keys)

    def allow(self, key: str | None, now: float) -> bool:
        """Whether an attempt from ``key`` may go ahead now (it is counted if so).

        ``None``: the source is unknown (tor exported no circuit id), so only the
        total bucket applies; one shared bucket would let any stranger lock out
        every contact.
        """
        if key is None:
            ok = self._total.allow(now)
            self.refused += not ok
            return ok
        bucket = self._keys.get(key)
        if bucket is None:
            self._evict(now)
            bucket = self._keys[key] = TokenBucket(self.per_key, now)
        self._keys.move_to_end(key)
        ok = bucket.tokens(now) >= 1 and self._total.allow(now)
        ok = ok and bucket.allow(now)
        if not ok:
            self.refused += 1
        return ok

    def _evict(self, now: float) -> None:
        """Make room for one key: drop least recently used buckets (idle ones sit first)."""
        while len(self._keys) >= self.max_keys:
            self._keys.popitem(last=False)

    def prune(self, now: float) -> int:
        """Forget every full (idle) bucket; how many were forgotten. Call it now and then."""
        idle = [k for k, b in self._keys.items() if b.is_full(now)]
        for k in idle:
            del self._keys[k]
        return len(idle)
