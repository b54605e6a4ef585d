"""Rate limits for local API clients: a token bucket per client (sans-I/O core)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.api.replies import json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: clients remembered at most (loopback has few); full buckets are forgotten first
MAX_CLIENTS = 1024


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second on average, bursts of up to ``burst``."""

    rate: float = 200.0
    burst: int = 400

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1, got {self}")


class TokenBuckets:
    """One token bucket per client key; :meth:`take` says whether a request may pass."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        #: client -> (tokens, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0.0 if ``client`` may make a request now (a token is spent), else seconds to wait."""
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            self._forget_full(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.limit.rate

    def _tokens(self, client: str, now: float) -> float:
        tokens, then = self._buckets.get(client, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + max(0.0, now - then) * self.limit.rate)

    def _forget_full(self, now: float) -> None:
        if len(self._buckets) <= MAX_CLIENTS:
            return
        full = [c for c in self._buckets if self._tokens(c, now) >= self.limit.burst]
        for client in full:
            del self._buckets[client]
        while len(self._buckets) > MAX_CLIENTS:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]


def client_key(request: web.Request) -> str:
    """The peer's address for TCP clients; one key for every unix-socket client."""
    remote = request.remote
    return f"tcp:{remote}" if remote else "unix"


def rate_limit_middleware(buckets: TokenBuckets) -> Any:
    """Refuse requests over a client's rate with 429 ``rate_limited`` and ``Retry-After``."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        wait = buckets.take(client_key(request))
        if wait > 0:
            reply = json_error(429, "rate_limited", f"too many requests; retry in {wait:.2f} s")
            reply.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return reply
        return await handler(request)

    return limit
