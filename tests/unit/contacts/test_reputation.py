"""The reputation ledger and score (sans-I/O): measurements, decay, the formula, ranks."""

from __future__ import annotations

import math

import pytest

from gateway.contacts import reputation as rep
from gateway.contacts.reputation import BUCKET, HALF_LIFE, MAX_GAP, WINDOW, Ledger, Record

A, B, C = b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32
T0 = 1_700_000_000.0 - (1_700_000_000 % BUCKET)  # a bucket boundary


def observe_for(ledger: Ledger, contacts: list[bytes], online: list[bytes], t: float, s: float):
    """Observe in MAX_GAP steps from ``t`` for ``s`` seconds; the end time."""
    end = t + s
    while t < end:
        step = min(MAX_GAP, end - t)
        ledger.observe(contacts, online, t, t + step)
        t += step
    return end


# --- the neutral prior ----------------------------------------------------------------------


def test_a_contact_without_data_scores_neutral_not_zero() -> None:
    s = rep.score(None, T0)
    assert s.score == pytest.approx(0.5)
    assert (s.availability, s.latency, s.conduct) == (0.5, 0.5, 0.5)
    assert s.uptime is None and s.rtt_ewma_ms is None and s.rtt_p50_ms is None
    assert Ledger().score(A, T0) == s
    j = s.as_json()
    assert j["score"] == 0.5 and j["uptime"] is None and j["round_faults"] == {}


def test_the_formula_on_a_hand_computed_record() -> None:
    ledger = Ledger()
    end = observe_for(ledger, [A], [A], T0, 1800)  # 30 min up
    observe_for(ledger, [A], [], end, 600)  # 10 min down
    ledger.rtt(A, 0.5)
    ledger.rtt(A, 1.5)  # ewma = 0.2 * 1.5 + 0.8 * 0.5 = 0.7
    now = end + 600
    ledger.event(A, rep.ROUND, rep.OK, now)
    ledger.event(A, rep.ROUND, rep.OK, now)
    ledger.event(A, rep.ROUND, "garbage", now, count=3)  # one incident, weight 2
    s = ledger.score(A, now)
    availability = (1800 + 0.5 * 600) / (2400 + 600)
    latency = (2 * (2.0 / (2.0 + 0.7)) + 0.5 * 5) / (2 + 5)
    conduct = (2 + 0.5 * 2) / (2 + 2 + 2)
    assert s.availability == pytest.approx(availability)
    assert s.latency == pytest.approx(latency)
    assert s.conduct == pytest.approx(conduct)
    assert s.score == pytest.approx(0.5 * availability + 0.2 * latency + 0.3 * conduct)
    assert s.uptime == pytest.approx(0.75) and s.observed_s == pytest.approx(2400)
    assert s.rtt_ewma_ms == pytest.approx(700) and s.rtt_p50_ms == pytest.approx(1000)
    assert s.round_faults == {"garbage": 3} and s.clean == {"round": 2}


# --- uptime ---------------------------------------------------------------------------------


def test_observe_splits_an_interval_at_bucket_boundaries() -> None:
    ledger = Ledger()
    ledger.observe([A, B], [A], T0 + BUCKET - 30, T0 + BUCKET + 50)
    first, second = int(T0 // BUCKET), int(T0 // BUCKET) + 1
    assert ledger.records[A].uptime == {first: [30.0, 30.0], second: [50.0, 50.0]}
    assert ledger.records[B].uptime == {first: [30.0, 0.0], second: [50.0, 0.0]}
    assert ledger.take_dirty() == {A, B} and ledger.take_dirty() == set()


def test_a_long_gap_counts_only_its_last_max_gap_seconds() -> None:
    ledger = Ledger()
    ledger.observe([A], [], T0, T0 + 3600)  # this node was suspended or not running
    assert ledger.records[A].observed(T0 + 3600) == (MAX_GAP, 0.0)
    ledger.observe([B], [B], T0 + 10, T0)  # the clock went back: nothing
    assert B not in ledger.records


def test_uptime_is_over_a_sliding_window() -> None:
    ledger = Ledger()
    end = observe_for(ledger, [A], [], T0, 3600)  # an hour down...
    end = observe_for(ledger, [A], [A], end + WINDOW, 1800)  # ...a day later, half an hour up
    assert ledger.score(A, end).uptime == pytest.approx(1.0)
    assert all(b >= int((end - WINDOW) // BUCKET) for b in ledger.records[A].uptime)


def test_an_up_contact_outscores_a_down_one_and_loses_score_when_it_goes_down() -> None:
    ledger = Ledger()
    end = observe_for(ledger, [A, B], [A], T0, 3600)
    up, down = ledger.score(A, end), ledger.score(B, end)
    assert up.uptime == 1.0 and down.uptime == 0.0
    assert up.score > 0.5 > down.score
    later = observe_for(ledger, [A, B], [], end, 1800)
    assert ledger.score(A, later).uptime == pytest.approx(2 / 3)
    assert ledger.score(A, later).score < up.score


# --- RTT ------------------------------------------------------------------------------------


def test_rtt_ewma_median_and_bad_samples() -> None:
    ledger = Ledger()
    for value in (1.0, 1.0, 1.0):
        ledger.rtt(A, value)
    for bad in (-1.0, math.nan, math.inf):
        ledger.rtt(A, bad)
    rec = ledger.records[A]
    assert rec.rtt_ewma == pytest.approx(1.0) and rec.rtt_samples == 3
    for _ in range(rep.RTT_KEEP + 5):
        ledger.rtt(A, 0.1)
    assert len(rec.rtt_recent) == rep.RTT_KEEP and ledger.score(A, T0).rtt_p50_ms == 100.0
    fast, slow = Ledger(), Ledger()
    for _ in range(10):
        fast.rtt(A, 0.2)
        slow.rtt(A, 5.0)
    assert fast.score(A, T0).latency > 0.5 > slow.score(A, T0).latency


# --- events ---------------------------------------------------------------------------------


def test_recent_weight_halves_every_half_life_and_totals_stay() -> None:
    ledger = Ledger()
    ledger.event(A, rep.PBFT, "equivocation", T0)
    tally = ledger.records[A].events[(rep.PBFT, "equivocation")]
    assert tally.value(T0 + HALF_LIFE) == pytest.approx(0.5)
    assert tally.value(T0 + 2 * HALF_LIFE) == pytest.approx(0.25)
    ledger.event(A, rep.PBFT, "equivocation", T0 + HALF_LIFE, count=4)
    assert tally.value(T0 + HALF_LIFE) == pytest.approx(1.5) and tally.total == 5
    worse = ledger.score(A, T0 + HALF_LIFE).score
    assert ledger.score(A, T0 + 10 * HALF_LIFE).score > worse  # it heals with time
    assert ledger.score(A, T0 + 10 * HALF_LIFE).pbft_faults == {"equivocation": 5}


def test_events_checks() -> None:
    ledger = Ledger()
    with pytest.raises(ValueError, match="category"):
        ledger.event(A, "gossip", "x", T0)
    ledger.event(A, rep.SYNC, "malformed", T0, count=0)
    assert A not in ledger.records


@pytest.mark.parametrize(
    ("category", "kind"),
    [
        (rep.ROUND, "timeout"),
        (rep.ROUND, "garbage"),
        (rep.ROUND, "equivocation"),
        (rep.PBFT, "equivocation"),
        (rep.PBFT, "silent_primary"),
        (rep.SYNC, "bad_signature"),
        (rep.SYNC, "split_view"),
        (rep.SYNC, "something_new"),
    ],
)
def test_every_fault_lowers_conduct_and_clean_interactions_raise_it(
    category: str, kind: str
) -> None:
    ledger = Ledger()
    ledger.event(A, category, kind, T0)
    ledger.event(B, category, rep.OK, T0)
    assert ledger.score(A, T0).conduct < 0.5 < ledger.score(B, T0).conduct
    assert ledger.score(A, T0).score < 0.5 < ledger.score(B, T0).score


def test_equivocation_weighs_more_than_a_timeout_and_held_full_is_no_fault() -> None:
    ledger = Ledger()
    ledger.event(A, rep.ROUND, "timeout", T0)
    ledger.event(B, rep.ROUND, "equivocation", T0)
    ledger.event(C, rep.SYNC, "held_full", T0, count=50)
    assert ledger.score(B, T0).score < ledger.score(A, T0).score < 0.5
    assert ledger.score(C, T0).conduct == pytest.approx(0.5)
    assert ledger.score(C, T0).sync_refusals == {"held_full": 50}


def test_the_score_stays_in_the_unit_interval_at_the_extremes() -> None:
    worst, best_ = Ledger(), Ledger()
    observe_for(worst, [A], [], T0, WINDOW)
    observe_for(best_, [A], [A], T0, WINDOW)
    for _ in range(200):
        worst.rtt(A, 1e9)
        worst.event(A, rep.ROUND, "equivocation", T0 + WINDOW)
        best_.rtt(A, 0.0)
        best_.event(A, rep.ROUND, rep.OK, T0 + WINDOW)
    low, high = worst.score(A, T0 + WINDOW).score, best_.score(A, T0 + WINDOW).score
    assert 0.0 <= low < 0.01 and 0.99 < high <= 1.0


# --- choosing and ranking -----------------------------------------------------------------------


def test_best_orders_by_score_then_key() -> None:
    scores = {C: 0.9, A: 0.5, B: 0.5 + 1e-9}  # A and B tie to 1e-6: A has the smaller key
    assert rep.best(scores, 2) == [C, A]
    assert rep.best(scores, 10) == [C, A, B]
    assert rep.best(scores, 0) == []
    with pytest.raises(ValueError):
        rep.best(scores, -1)


@pytest.mark.parametrize(
    ("value", "rank"),
    [(1.0, 0), (0.75, 0), (0.7499, 1), (0.5, 1), (0.25, 2), (0.2499, 3), (0.0, 3),
     (-3.0, 3), (7.0, 0), (math.nan, 1)],
)  # fmt: skip
def test_rank_bucket(value: float, rank: int) -> None:
    assert rep.rank_bucket(value) == rank


def test_rank_bucket_sizes() -> None:
    assert rep.rank_bucket(0.1, buckets=1) == 0 and rep.rank_bucket(0.9, buckets=1) == 0
    assert [rep.rank_bucket(v / 10, buckets=10) for v in (0, 5, 9, 10)] == [9, 4, 0, 0]
    with pytest.raises(ValueError):
        rep.rank_bucket(0.5, buckets=0)


def test_record_totals_group_by_category() -> None:
    rec = Record()
    rec.events[(rep.SYNC, "malformed")] = rep.Tally(3, 1.0, T0)
    rec.events[(rep.ROUND, "timeout")] = rep.Tally(1, 1.0, T0)
    assert rec.totals(rep.SYNC) == {"malformed": 3} and rec.totals(rep.PBFT) == {}
