"""Quorum arithmetic of a circle's configuration (its primary order: gateway.circle.ranks)."""

from __future__ import annotations

from collections.abc import Iterable


def faults_tolerated(n: int) -> int:
    """f = floor((n - 1) / 3): how many Byzantine members ``n`` members tolerate."""
    return (n - 1) // 3


def quorum(n: int) -> int:
    """ceil((n + f + 1) / 2): any two quorums share f + 1 members; 2f + 1 when n = 3f + 1."""
    return (n + faults_tolerated(n) + 2) // 2


def has_quorum(signers: Iterable[bytes], members: tuple[bytes, ...]) -> bool:
    """Whether the distinct ``signers`` that are ``members`` reach a quorum of them."""
    return len(set(signers) & set(members)) >= quorum(len(members))
