"""Borda count over rankings from which each reviewer's own answer is excluded."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Score:
    """An answer's Borda points and the number of ballots it appeared on."""

    commitment: bytes
    points: int
    ballots: int

    @property
    def mean(self) -> Fraction:
        """Points per ballot (0 if it was on none), so excluded ballots do not penalize."""
        return Fraction(self.points, self.ballots) if self.ballots else Fraction(0)


def borda(candidates: Iterable[bytes], ballots: Iterable[Sequence[bytes]]) -> tuple[Score, ...]:
    """Score ``candidates``; each ballot of k names gives k-1, k-2, ..., 0 points.

    Results are ordered best first: by mean points per ballot, then total
    points, then commitment bytes (so the order is fully deterministic).
    Names on a ballot that are not candidates are ignored.
    """
    points = dict.fromkeys(candidates, 0)
    counts = dict.fromkeys(points, 0)
    for ballot in ballots:
        named = [c for c in ballot if c in points]
        k = len(named)
        for i, c in enumerate(named):
            points[c] += k - 1 - i
            counts[c] += 1
    scores = [Score(c, points[c], counts[c]) for c in points]
    scores.sort(key=lambda s: (-s.mean, -s.points, s.commitment))
    return tuple(scores)
