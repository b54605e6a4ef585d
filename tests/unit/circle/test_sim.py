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


@pytest.mark.parametrize("mode", ["silent", "garbage", "equivocator", "twins"])
def test_each_byzantine_kind_with_the_primary_faulty(mode: str) -> None:
    for seed in range(40_000, 40_030):
        s = Schedule.random(seed)
        s.byzantine, s.down_forever = mode, None
        s.byz_index = min(range(4), key=lambda i: public_bytes(sim_key(i)))  # leads view 0
        sim = Sim(s)
        assert sim.run(), f"seed {seed}"
        sim.check_converged()
