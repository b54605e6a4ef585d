"""The primary order of a circle from replicated rank reports (docs/PROTOCOL-circles.md §1, §2).

Reputation is local: each node measures its own contacts, so no member's own ranks can
order the primaries (every member must compute the same order). Instead each member
reports, with a RANK-REPORT decision ordered like any other, the rank it gives every other
member; the state keeps each member's last report. The **agreed rank** of member ``m`` is
the lower median of what the other members report of it (a member without a report, or
whose report has no rank for ``m``, counts as :data:`NEUTRAL_RANK`). With at most ``f``
Byzantine members among ``n >= 3f + 1``, that median lies between the lowest and the
highest honest report of ``m``: liars cannot move anyone past what honest members say.
The **primary order** of a state is its members sorted by (agreed rank, key).

Reports are stored aligned with the state's sorted member list, one rank byte per member;
:data:`NO_RANK` marks "no rank" (the reporter itself, and members added after the
report). Nothing here touches a quorum: ranks only choose who leads a view.
"""

from __future__ import annotations

from collections.abc import Sequence

#: ranks are 0 (leads first) .. RANK_BUCKETS - 1; the same buckets as
#: gateway.contacts.reputation.rank_bucket (a protocol constant: part of the wire format)
RANK_BUCKETS = 4
#: the rank of a member nobody reported: what rank_bucket gives a contact without any data
#: (score 0.5 lies in [0.5, 0.75): rank 1)
NEUTRAL_RANK = 1
#: "no rank" in a stored report: the reporter itself, or a member added after the report
NO_RANK = 0xFF

#: proposer -> one rank byte per member of the state (sorted by proposer)
Reports = tuple[tuple[bytes, tuple[int, ...]], ...]


def valid_rank(rank: int) -> bool:
    """Whether ``rank`` may be reported (0 .. RANK_BUCKETS - 1)."""
    return 0 <= rank < RANK_BUCKETS


def reported(reports: Reports, members: Sequence[bytes], proposer: bytes) -> tuple[int, ...]:
    """What ``proposer``'s report says of each member, :data:`NEUTRAL_RANK` where it says
    nothing (no report, the proposer itself, a member added since)."""
    ranks = dict(reports).get(proposer)
    out = []
    for i, member in enumerate(members):
        rank = ranks[i] if ranks is not None and member != proposer else NO_RANK
        out.append(NEUTRAL_RANK if rank == NO_RANK else rank)
    return tuple(out)


def agreed_ranks(members: Sequence[bytes], reports: Reports) -> tuple[int, ...]:
    """The agreed rank of each member (aligned with ``members``): the lower median of the
    other members' reports of it; :data:`NEUTRAL_RANK` for a circle of one."""
    if not reports:
        return (NEUTRAL_RANK,) * len(members)
    by = dict(reports)
    out = []
    for i, member in enumerate(members):
        values = []
        for other in members:
            if other == member:
                continue
            ranks = by.get(other)
            rank = ranks[i] if ranks is not None else NO_RANK
            values.append(NEUTRAL_RANK if rank == NO_RANK else rank)
        values.sort()
        out.append(values[(len(values) - 1) // 2] if values else NEUTRAL_RANK)
    return tuple(out)


def primary_order(members: Sequence[bytes], reports: Reports) -> tuple[bytes, ...]:
    """The members in primary rotation order: by agreed rank, then by key bytes."""
    if not reports:
        return tuple(sorted(members))
    ranks = agreed_ranks(members, reports)
    return tuple(m for _, m in sorted(zip(ranks, members, strict=True)))


def apply_report(
    members: Sequence[bytes], reports: Reports, proposer: bytes, ranks: Sequence[int]
) -> Reports:
    """``reports`` with ``proposer``'s replaced by ``ranks`` (aligned with ``members``; the
    proposer's own entry is stored as :data:`NO_RANK`)."""
    mine = tuple(NO_RANK if m == proposer else r for m, r in zip(members, ranks, strict=True))
    others = [(p, r) for p, r in reports if p != proposer]
    return tuple(sorted([*others, (proposer, mine)]))


def remap(old: Sequence[bytes], new: Sequence[bytes], reports: Reports) -> Reports:
    """The reports after the member list changed from ``old`` to ``new``: a removed member's
    report is dropped, the others keep their rank of every member still there (by key) and
    have :data:`NO_RANK` for a member added."""
    where = {m: i for i, m in enumerate(old)}
    kept = set(new)
    out = []
    for proposer, ranks in reports:
        if proposer not in kept:
            continue
        out.append((proposer, tuple(ranks[where[m]] if m in where else NO_RANK for m in new)))
    return tuple(out)


def check_reports(members: Sequence[bytes], reports: Reports) -> str | None:
    """What is wrong with ``reports`` for a state of ``members`` (None: canonical)."""
    previous = b""
    for proposer, ranks in reports:
        if proposer <= previous:
            return "reports not sorted by proposer or repeated"
        previous = proposer
        if proposer not in members:
            return "a report of a non-member"
        if len(ranks) != len(members):
            return "a report does not have one rank per member"
        for member, rank in zip(members, ranks, strict=True):
            if member == proposer and rank != NO_RANK:
                return "a report ranks its own proposer"
            if member != proposer and rank != NO_RANK and not valid_rank(rank):
                return f"rank {rank} out of range"
    return None
