"""Quorum arithmetic and the primary rotation of a circle's configuration."""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: a rank per member key (lower leads first); ties are broken by the key bytes
OrderKey = Callable[[bytes], int]


def faults_tolerated(n: int) -> int:
    """f = floor((n - 1) / 3): how many Byzantine members ``n`` members tolerate."""
    return (n - 1) // 3


def quorum(n: int) -> int:
    """ceil((n + f + 1) / 2): any two quorums share f + 1 members; 2f + 1 when n = 3f + 1."""
    return (n + faults_tolerated(n) + 2) // 2


def primary_order(members: Iterable[bytes], order_key: OrderKey | None) -> tuple[bytes, ...]:
    """The members in primary rotation order: by ``order_key`` rank, then by key bytes."""
    if order_key is None:
        return tuple(sorted(members))
    return tuple(sorted(members, key=lambda k: (order_key(k), k)))


def has_quorum(signers: Iterable[bytes], members: tuple[bytes, ...]) -> bool:
    """Whether the distinct ``signers`` that are ``members`` reach a quorum of them."""
    return len(set(signers) & set(members)) >= quorum(len(members))
