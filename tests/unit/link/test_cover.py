"""Cover traffic: FRONT bursts, idle timer and budget; constant rate slots."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.levels import POLICIES
from gateway.config.schema import Level
from gateway.errors import LinkError, QueueFullError
from gateway.link.budget import BUDGET_WINDOW
from gateway.link.cover import (
    COVER_DEFAULTS,
    ConstantRateConfig,
    ConstantRateScheduler,
    FrontConfig,
    FrontScheduler,
    NoCover,
    make_scheduler,
    rayleigh,
)

START = 1000.0


def run_front(sched: FrontScheduler, until: float, step: float = 0.25) -> list[float]:
    """Poll every ``step`` seconds; the times at which dummies went out."""
    sent: list[float] = []
    now = START
    while now <= until:
        sent += [now] * sched.poll(now)
        now += step
    return sent


def test_front_parameters_stay_in_bounds() -> None:
    config = FrontConfig(n_max=20, w_min=2.0, w_max=5.0)
    sizes = set()
    for seed in range(300):
        sched = FrontScheduler(config, START, random.Random(seed))
        assert 1 <= sched.burst_size <= config.n_max
        assert config.w_min <= sched.scale <= config.w_max
        assert len(sched.burst_times) == sched.burst_size
        assert all(t >= START for t in sched.burst_times)
        assert list(sched.burst_times) == sorted(sched.burst_times)
        sizes.add(sched.burst_size)
    assert len(sizes) > 10  # N really varies over [1, n_max]


def test_rayleigh_samples_match_the_distribution() -> None:
    rng = random.Random(7)
    scale = 3.0
    samples = sorted(rayleigh(rng, scale) for _ in range(20_000))
    mean = sum(samples) / len(samples)
    assert mean == pytest.approx(scale * math.sqrt(math.pi / 2), rel=0.02)
    median = samples[len(samples) // 2]
    assert median == pytest.approx(scale * math.sqrt(2 * math.log(2)), rel=0.03)
    assert min(samples) > 0


def test_front_sends_the_whole_burst_within_budget() -> None:
    config = FrontConfig(n_max=10, idle_min=1000, idle_max=2000)
    sched = FrontScheduler(config, START, random.Random(1))
    n, times = sched.burst_size, sched.burst_times
    sent = run_front(sched, START + 500)
    assert len(sent) == n == sched.sent
    for t, due in zip(sent, times, strict=True):
        assert due <= t < due + 0.25  # each dummy goes out at the first poll after its time
    assert sched.next_due(START + 500) >= START + 1000  # only the idle timer is left


def test_front_budget_drops_excess_dummies() -> None:
    config = FrontConfig(
        n_max=200, w_min=1.0, w_max=2.0, budget_bytes_per_minute=5 * 498, idle_min=1, idle_max=2
    )
    for seed in range(20):
        sched = FrontScheduler(config, START, random.Random(seed))
        sent = run_front(sched, START + 400)
        assert sched.sent == len(sent)
        for t in sent:
            in_window = [s for s in sent if t - BUDGET_WINDOW < s <= t]
            assert len(in_window) * config.dummy_size <= config.budget_bytes_per_minute
        assert sched.dropped > 0 or sched.burst_size <= 5


def test_front_idle_timer_fires_only_when_idle() -> None:
    config = FrontConfig(n_max=1, idle_min=10.0, idle_max=20.0)
    sched = FrontScheduler(config, START, random.Random(3))
    burst = sched.burst_size
    now = START
    busy_sent = 0
    while now < START + 300:  # real traffic every 5 s: no idle dummies
        sched.note_real(now)
        busy_sent += sched.poll(now)
        now += 5.0
    assert busy_sent == burst
    idle = run_front(sched, START + 600)  # silent: a dummy every 10-20 s
    gaps = [b - a for a, b in itertools.pairwise(idle)]
    assert 15 <= len(idle) <= 31
    assert all(10.0 <= g <= 20.25 for g in gaps)


def test_front_dummies_due_during_a_shaped_burst_are_absorbed() -> None:
    config = FrontConfig(n_max=12, w_min=2.0, w_max=2.0, idle_min=30.0, idle_max=30.0)
    sched = FrontScheduler(config, START, random.Random(5))
    due = [t for t in sched.burst_times if t <= START + 3.0]
    assert due  # the seed puts some of the burst in the first 3 s
    sched.skip(START + 3.0)  # a burst covered the first 3 s
    assert sched.absorbed == len(due) and sched.sent == 0
    assert all(t > START + 3.0 for t in sched.burst_times)
    assert sched.next_due(START + 3.0) >= START + 3.0  # nothing left over to flush at once
    assert sched.poll(START + 3.0) == 0
    NoCover().skip(START)  # the none mode has nothing to absorb


def test_every_level_has_burst_molding_settings_for_the_front_mode() -> None:
    for level in Level:
        shaping = COVER_DEFAULTS[level].shaping
        assert shaping is not None and shaping.rate > 100_000
        assert shaping.hold >= 1.0  # chat-like gaps must not split bursts


def test_front_is_deterministic_with_a_seed() -> None:
    a = FrontScheduler(FrontConfig(), START, random.Random(9))
    b = FrontScheduler(FrontConfig(), START, random.Random(9))
    assert run_front(a, START + 200) == run_front(b, START + 200)


def test_constant_rate_one_frame_per_tick() -> None:
    sched: ConstantRateScheduler[str] = ConstantRateScheduler(ConstantRateConfig(0.5), START)
    sched.submit("a")
    sched.submit("b")
    sched.submit("c")
    slots = []
    for _ in range(5):
        due = sched.next_due(0)
        assert sched.tick(due - 0.01) == []
        got = sched.tick(due)
        assert len(got) == 1 and got[0].at == due
        slots += got
    assert [s.item for s in slots] == ["a", "b", "c", None, None]
    assert [s.is_dummy for s in slots] == [False, False, False, True, True]
    assert (sched.reals, sched.dummies) == (3, 2)


def test_constant_rate_queue_grows_when_overloaded_then_refuses() -> None:
    sched: ConstantRateScheduler[int] = ConstantRateScheduler(
        ConstantRateConfig(interval=1.0, max_queue=10), START
    )
    depths = []
    item = 0
    with pytest.raises(QueueFullError):
        for k in range(100):
            sched.submit(item)
            sched.submit(item + 1)
            item += 2
            assert len(sched.tick(START + k)) == 1
            depths.append(sched.queue_depth)
    assert depths == list(range(1, len(depths) + 1))
    assert sched.queue_depth == 10


def test_constant_rate_late_caller_catches_up_boundedly() -> None:
    sched: ConstantRateScheduler[int] = ConstantRateScheduler(
        ConstantRateConfig(interval=1.0, max_catch_up=3), START
    )
    slots = sched.tick(START + 9.5)  # ticks 0..9 are due
    assert len(slots) == 3 and sched.skipped == 7
    assert sched.next_due(0) == START + 10


@settings(max_examples=60)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=60))
def test_constant_rate_property(arrivals: list[int]) -> None:
    """Per tick exactly one slot; real records leave in order; nothing is lost."""
    sched: ConstantRateScheduler[int] = ConstantRateScheduler(
        ConstantRateConfig(interval=0.5, max_queue=1000), START
    )
    out: list[int] = []
    submitted = 0
    for k, count in enumerate(arrivals):
        for _ in range(count):
            sched.submit(submitted)
            submitted += 1
        slots = sched.tick(START + k * 0.5)
        assert len(slots) == 1
        out += [s.item for s in slots if s.item is not None]
    assert out == list(range(len(out)))
    assert len(out) + sched.queue_depth == submitted
    assert sched.reals + sched.dummies == len(arrivals)


def test_make_scheduler_follows_the_policy() -> None:
    rng = random.Random(0)
    assert isinstance(make_scheduler(POLICIES[Level.STANDARD], START, rng), NoCover)
    assert isinstance(make_scheduler(POLICIES[Level.HIGH], START, rng), FrontScheduler)
    assert isinstance(make_scheduler(POLICIES[Level.PARANOID], START, rng), ConstantRateScheduler)
    assert NoCover().next_due(START) is None and NoCover().poll(START) == 0


def test_bad_configs_are_refused() -> None:
    with pytest.raises(LinkError):
        FrontConfig(w_min=5, w_max=1)
    with pytest.raises(LinkError):
        ConstantRateConfig(interval=0)
