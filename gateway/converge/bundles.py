"""The asker's bundles: the commits, reveals and rankings it accepted in each stage.

Every item inside a bundle is the participant's own signed message, so a
participant re-checks each one instead of trusting the asker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.commit import Commit, Reveal, opens, parse_commit, parse_reveal
from gateway.converge.messages import (
    Kind,
    Signed,
    decode,
    embed,
    encode,
    hex_field,
    raw_list_field,
)
from gateway.converge.review import Ranking, parse_ranking
from gateway.converge.round import MAX_PARTICIPANTS, Round, check_round_id, digest
from gateway.errors import ConvergeMessageError


def make_bundle(
    key: Ed25519PrivateKey, kind: Kind, rnd: Round, items: Sequence[Signed], prev: bytes | None
) -> Signed:
    """A signed bundle of ``kind``; ``prev`` is the digest of the previous bundle."""
    body: dict[str, object] = {"round_id": rnd.round_id.hex(), "items": embed(list(items))}
    if prev is not None:
        body["prev"] = prev.hex()
    return encode(key, kind, body)


def _items(msg: Signed, rnd: Round, prev: bytes | None) -> list[Signed]:
    if msg.signer != rnd.asker:
        raise ConvergeMessageError("bundles come from the asker only")
    check_round_id(msg.body, rnd)
    if prev is not None and hex_field(msg.body, "prev", 32) != prev:
        raise ConvergeMessageError("bundle does not follow the previous one")
    items = [decode(raw) for raw in raw_list_field(msg.body, "items", MAX_PARTICIPANTS)]
    signers = [m.signer for m in items]
    if len(set(signers)) != len(signers):
        raise ConvergeMessageError("bundle holds two messages from one participant")
    return items


@dataclass(frozen=True)
class RevealSet:
    """The published answers: author -> commitment, author -> answer, and the digest."""

    commitments: dict[bytes, bytes]
    answers: dict[bytes, str]
    digest: bytes

    def by_commitment(self) -> dict[bytes, str]:
        return {self.commitments[a]: self.answers[a] for a in self.commitments}


def parse_commits(msg: Signed, rnd: Round) -> dict[bytes, Commit]:
    """The commits in a COMMITS bundle, by author."""
    if msg.kind is not Kind.COMMITS:
        raise ConvergeMessageError(f"expected commits, got {msg.kind.value}")
    return {c.author: c for c in (parse_commit(m, rnd) for m in _items(msg, rnd, None))}


def parse_reveals(
    msg: Signed, rnd: Round, commits: Mapping[bytes, Commit], prev: bytes
) -> RevealSet:
    """The reveals in a REVEALS bundle; each must open its commit."""
    if msg.kind is not Kind.REVEALS:
        raise ConvergeMessageError(f"expected reveals, got {msg.kind.value}")
    reveals: list[Reveal] = [parse_reveal(m, rnd) for m in _items(msg, rnd, prev)]
    for r in reveals:
        if r.author not in commits or not opens(r, commits[r.author]):
            raise ConvergeMessageError("bundle holds a reveal that opens no commit")
    return RevealSet(
        {r.author: r.commitment for r in reveals},
        {r.author: r.answer for r in reveals},
        digest(msg.raw),
    )


def parse_rankings(
    msg: Signed, rnd: Round, revealed: RevealSet
) -> tuple[dict[bytes, Ranking], bytes]:
    """The rankings in a RANKINGS bundle, by reviewer, and the bundle's digest."""
    if msg.kind is not Kind.RANKINGS:
        raise ConvergeMessageError(f"expected rankings, got {msg.kind.value}")
    items = _items(msg, rnd, revealed.digest)
    rankings = [parse_ranking(m, rnd, revealed.commitments, revealed.digest) for m in items]
    return {r.reviewer: r for r in rankings}, digest(msg.raw)
