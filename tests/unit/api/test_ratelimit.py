"""Local clients are rate-limited: token buckets, and 429 ``rate_limited`` from the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.ratelimit import MAX_CLIENTS, RateLimit, TokenBuckets
from tests.unit.api.nodeapp import build


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_wait_then_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(rate=2.0, burst=3), clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    clock.now += 100
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # never more than the burst
    assert buckets.take("a") > 0


def test_refusing_spends_nothing() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(rate=1.0, burst=1), clock)
    assert buckets.take("a") == 0.0
    for _ in range(10):
        assert buckets.take("a") > 0
    clock.now += 1.0
    assert buckets.take("a") == 0.0


def test_clients_remembered_are_bounded() -> None:
    buckets = TokenBuckets(RateLimit(rate=1.0, burst=5), Clock())
    for n in range(MAX_CLIENTS + 50):
        buckets.take(f"c{n}")
    assert len(buckets._buckets) <= MAX_CLIENTS + 1


def test_bad_limits_refused() -> None:
    with pytest.raises(ValueError):
        RateLimit(rate=0.0)
    with pytest.raises(ValueError):
        RateLimit(burst=0)


def test_defaults_are_generous() -> None:
    assert RateLimit().rate >= 50 and RateLimit().burst >= 200


async def test_api_answers_429_with_retry_after(tmp_path: Path) -> None:
    node = build(tmp_path / "alice", limit=RateLimit(rate=0.01, burst=3))
    auth = {"Authorization": f"Bearer {node.token}"}
    try:
        async with TestClient(TestServer(node.app)) as client:
            assert (await client.get("/api/v1/status", headers=auth)).status == 200
            assert (await client.get("/api/v1/status")).status == 401  # counted too
            assert (await client.get("/api/v1/status", headers=auth)).status == 200
            resp = await client.get("/api/v1/status", headers=auth)
            assert resp.status == 429
            assert (await resp.json())["error"]["code"] == "rate_limited"
            assert int(resp.headers["Retry-After"]) >= 1
    finally:
        await node.close()
