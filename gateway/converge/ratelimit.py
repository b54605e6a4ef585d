"""A sans-I/O rate limiter for the answerer role: requests per window and concurrency."""

from __future__ import annotations

from collections import deque

from gateway.converge.adapters.config import RateLimit
from gateway.errors import RoundError


class RateLimiter:
    """Sliding-window limit on started requests plus a cap on requests in flight."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._starts: deque[float] = deque()
        self._active = 0

    def try_acquire(self, now: float) -> bool:
        """Start a request at ``now`` if the limits allow it; call :meth:`release` after."""
        while self._starts and self._starts[0] <= now - self.limit.per_seconds:
            self._starts.popleft()
        if self._active >= self.limit.concurrent or len(self._starts) >= self.limit.requests:
            return False
        self._starts.append(now)
        self._active += 1
        return True

    def release(self) -> None:
        """A request started with :meth:`try_acquire` has finished."""
        if self._active == 0:
            raise RoundError("release() without a matching try_acquire()")
        self._active -= 1
