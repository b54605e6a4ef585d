"""Thousands of seeded schedules: safety always, liveness after the network stabilizes.

Each seed draws a schedule (:meth:`Schedule.random`): message delays, drops, duplicates
and reordering, partitions, crashes and restores of honest members before the global
stabilization time, and at most f Byzantine identities (silent, garbage, an
equivocating primary, or Twins: two replicas with one key). :class:`Sim` raises
SafetyViolation as soon as two honest members disagree; ``run()`` is True when every
honest member executed every honest proposal within the bound after stabilization.
A failing seed replays exactly: ``Sim(Schedule.random(seed)).run()``.
"""

from __future__ import annotations

import pytest

from gateway.circle.decisions import public_bytes
from tests.unit.circle.sim import Schedule, Sim, sim_key

CHUNK = 200


def run_seeds(seeds: range, *, n: int = 4, reconfigure: bool = False) -> None:
    stuck = []
    for seed in seeds:
        s = Schedule.reconfiguration(seed, n=n) if reconfigure else Schedule.random(seed, n=n)
        sim = Sim(s)
        if not sim.run():  # SafetyViolation propagates with the seed in its message
            stuck.append(seed)
        sim.check_converged()
    assert not stuck, f"no liveness after stabilization for seeds {stuck}"


@pytest.mark.parametrize("chunk", range(7))
def test_four_members(chunk: int) -> None:
    run_seeds(range(chunk * CHUNK, (chunk + 1) * CHUNK))


def test_five_members() -> None:
    run_seeds(range(10_000, 10_100), n=5)


def test_seven_members() -> None:
    run_seeds(range(20_000, 20_050), n=7)


def test_reconfiguration() -> None:
    run_seeds(range(30_000, 30_060), reconfigure=True)


def test_a_member_left_behind_joins_the_view_the_others_are_in() -> None:
    """Seven members; one is cut off while the view-0 primary is down and the others change
    view and go on (primaries reordered by RANK-REPORTs). The member (and the primary, when
    it is back) jumps past that view's base by state transfer: it cannot check who sent
    the NEW-VIEW there, yet joins the view and votes in it (PROTOCOL-circles §6). Before
    that rule, 12 of these 40 schedules left an honest member out of the view."""
    left_out = []
    for seed in range(60_000, 60_040):
        sim = Sim(Schedule.left_behind(seed), check_primaries=True)
        assert sim.run(), f"seed {seed}"
        sim.check_converged()
        if not sim.run_until_joined():
            left_out.append(seed)
    assert not left_out, f"an honest member left out of the view for seeds {left_out}"


def faulty_primary(s: Schedule, mode: str) -> Schedule:
    """``s`` with member ``mode``-Byzantine for the whole run: the one that leads view 0."""
    s.byzantine, s.down_forever = mode, None
    s.byz_index = min(range(4), key=lambda i: public_bytes(sim_key(i)))
    return s


@pytest.mark.parametrize("mode", ["silent", "garbage", "equivocator", "twins"])
def test_each_byzantine_kind_with_the_primary_faulty(mode: str) -> None:
    for seed in range(40_000, 40_030):
        s = faulty_primary(Schedule.random(seed), mode)
        sim = Sim(s)
        assert sim.run(), f"seed {seed}"
        sim.check_converged()


def run_ranked(seeds: range, *, n: int = 4, reconfigure: bool = False) -> int:
    """Seeded schedules with RANK-REPORTs interleaved: safety (and every honest member holds
    the same primary's PRE-PREPARE for each view and seq), liveness; how many runs ended
    with a primary order other than by key."""
    stuck, reordered = [], 0
    for seed in seeds:
        sim = Sim(Schedule.ranked(seed, n=n, reconfigure=reconfigure), check_primaries=True)
        if not sim.run():
            stuck.append(seed)
        sim.check_converged()
        orders = {
            node.replica.order
            for node in sim.honest_nodes()
            if node.replica is not None and node.replica.is_member
        }
        reordered += any(order != tuple(sorted(order)) for order in orders)
    assert not stuck, f"no liveness after stabilization for seeds {stuck}"
    return reordered


def test_rank_reports_interleaved() -> None:
    assert run_ranked(range(50_000, 50_200)) > 20  # the reports did reorder primaries


def test_rank_reports_with_five_and_seven_members() -> None:
    assert run_ranked(range(51_000, 51_040), n=5) > 0
    assert run_ranked(range(52_000, 52_030), n=7) > 0


def test_rank_reports_across_reconfiguration() -> None:
    run_ranked(range(53_000, 53_060), reconfigure=True)


@pytest.mark.parametrize("mode", ["silent", "garbage", "equivocator", "twins"])
def test_a_faulty_primary_ranked_worst_by_every_honest_member_goes_last(mode: str) -> None:
    for seed in range(54_000, 54_020):
        s = faulty_primary(Schedule.ranked(seed), mode)
        honest = [i for i in range(4) if i != s.byz_index]
        s.reports = [(s.gst + 100 * k, i, seed + i) for k, i in enumerate(honest)]
        s.proposals.append((s.gst + 600, honest[0]))
        sim = Sim(s, check_primaries=True)
        assert sim.run(), f"seed {seed}"
        sim.check_converged()
        bad = public_bytes(sim_key(s.byz_index))
        for node in sim.honest_nodes():
            assert node.replica is not None
            assert node.replica.state.order[-1] == bad, f"seed {seed}"


def test_requests_of_a_removed_member_are_not_ordered_for_ever() -> None:
    """These schedules remove a member whose RANK-REPORTs were still pending: executing
    them is a no-op, so, kept pending, they were ordered again and again (hundreds of
    sequence numbers) and starved the other requests."""
    for seed in (100_052, 100_089, 100_332, 100_333):
        sim = Sim(Schedule.ranked(seed, reconfigure=True), check_primaries=True)
        assert sim.run(), f"seed {seed}"
        for node in sim.honest_nodes():
            assert node.replica is not None and node.replica.last_executed < 100, seed
