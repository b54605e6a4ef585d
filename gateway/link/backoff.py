"""Exponential backoff with full jitter and a cap (reconnects, outbox retries).

``delay(attempt)`` is uniform in ``[0, min(cap, base * factor ** attempt)]``
("full jitter"); the random source is injected, so tests are deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from gateway.errors import LinkError


@dataclass(frozen=True)
class Backoff:
    """A backoff policy; ``attempt`` counts from 0 (the first retry)."""

    base: float = 1.0
    cap: float = 300.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.SystemRandom, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.base <= self.cap and self.factor >= 1):
            raise LinkError(
                f"backoff needs 0 < base <= cap and factor >= 1, "
                f"got base={self.base}, cap={self.cap}, factor={self.factor}"
            )

    def ceiling(self, attempt: int) -> float:
        """The largest delay of ``attempt``: ``min(cap, base * factor ** attempt)``."""
        if attempt < 0:
            raise LinkError(f"attempt must be >= 0, got {attempt}")
        if self.factor == 1 or attempt == 0:
            return self.base
        if attempt >= math.log(self.cap / self.base, self.factor):
            return self.cap
        return min(self.cap, self.base * self.factor**attempt)

    def delay(self, attempt: int) -> float:
        """A random delay for ``attempt``, in ``[0, ceiling(attempt)]``."""
        return self.rng.uniform(0.0, self.ceiling(attempt))


class Retry:
    """The attempts of one thing that is retried (a reconnect loop)."""

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next try; counts the attempt."""
        value = self.policy.delay(self.attempt)
        self.attempt += 1
        return value

    def reset(self) -> None:
        """It worked: start again from the base."""
        self.attempt = 0
