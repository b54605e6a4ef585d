"""Token buckets for handshakes, and backoff with full jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import LinkError
from gateway.link.backoff import Backoff, Retry
from gateway.link.ratelimit import BucketSpec, HandshakeLimiter, TokenBucket


def test_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(BucketSpec(rate=0.5, burst=3), now=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.allow(1.0)  # half a token
    assert bucket.allow(2.0)
    assert not bucket.allow(2.0)
    assert bucket.tokens(1000.0) == 3  # capped at the burst


def test_per_key_limit_does_not_affect_other_keys() -> None:
    lim = HandshakeLimiter(BucketSpec(rate=0.1, burst=2), BucketSpec(rate=100, burst=100))
    assert [lim.allow("circ-1", 0.0) for _ in range(3)] == [True, True, False]
    assert lim.allow("circ-2", 0.0)
    assert lim.allow("circ-1", 10.0)  # one token back after 10 s
    assert lim.refused == 1


def test_total_limit_caps_all_keys() -> None:
    lim = HandshakeLimiter(BucketSpec(rate=1, burst=5), BucketSpec(rate=1, burst=4))
    allowed = sum(lim.allow(f"circ-{i}", 0.0) for i in range(50))
    assert allowed == 4
    assert lim.allow("circ-99", 1.0)


def test_memory_is_bounded_and_idle_keys_pruned() -> None:
    lim = HandshakeLimiter(
        BucketSpec(rate=1, burst=2), BucketSpec(rate=1e6, burst=1e6), max_keys=100
    )
    for i in range(10_000):
        lim.allow(f"k{i}", i * 0.001)
    assert len(lim) == 100
    assert lim.prune(now=1000.0) == 100
    assert len(lim) == 0


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 2)), max_size=200))
def test_limiter_never_allows_more_than_burst_plus_refill(steps: list[tuple[int, float]]) -> None:
    spec = BucketSpec(rate=2.0, burst=3)
    lim = HandshakeLimiter(spec, BucketSpec(rate=1e6, burst=1e6))
    now = 0.0
    allowed: dict[str, int] = {}
    for key, dt in steps:
        now += dt
        if lim.allow(str(key), now):
            allowed[str(key)] = allowed.get(str(key), 0) + 1
    for n in allowed.values():
        assert n <= spec.burst + spec.rate * now + 1e-9


def test_backoff_bounds_and_cap() -> None:
    policy = Backoff(base=1.0, cap=60.0, rng=random.Random(5))
    assert [policy.ceiling(a) for a in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.ceiling(10**9) == 60
    for attempt in range(40):
        for _ in range(50):
            assert 0 <= policy.delay(attempt) <= policy.ceiling(attempt)


def test_backoff_is_full_jitter_and_deterministic() -> None:
    a = Backoff(base=2, cap=100, rng=random.Random(1))
    b = Backoff(base=2, cap=100, rng=random.Random(1))
    da = [a.delay(6) for _ in range(2000)]
    assert da == [b.delay(6) for _ in range(2000)]
    assert min(da) < 5 and max(da) > 95  # spread over [0, 100]


def test_retry_counts_and_resets() -> None:
    retry = Retry(Backoff(base=1, cap=8, rng=random.Random(2)))
    delays = [retry.next_delay() for _ in range(6)]
    assert retry.attempt == 6
    assert all(d <= c for d, c in zip(delays, [1, 2, 4, 8, 8, 8], strict=True))
    retry.reset()
    assert retry.attempt == 0 and retry.next_delay() <= 1


def test_bad_policies_are_refused() -> None:
    with pytest.raises(LinkError):
        Backoff(base=10, cap=1)
    with pytest.raises(LinkError):
        BucketSpec(rate=0, burst=1)
    with pytest.raises(LinkError):
        Backoff().ceiling(-1)


def test_unattributed_attempts_face_only_the_total_limit() -> None:
    limiter = HandshakeLimiter(BucketSpec(rate=0.0001, burst=1), BucketSpec(rate=0.0001, burst=5))
    assert [limiter.allow(None, 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert len(limiter) == 0  # no per-source bucket was made for them
    assert limiter.refused == 1
