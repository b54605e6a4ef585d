"""Search modes, filters, and the fusion of keyword and vector rankings (pure functions).

Hybrid search fuses the BM25 ranking and the cosine ranking. By default it takes a
convex combination of their scores, each scaled to [0, 1] by the min and max of its
own list (Bruch, Gai and Ingber, "An Analysis of Fusion Functions for Hybrid
Retrieval", ACM TOIS 2023): ``HYBRID_ALPHA * semantic + (1 - HYBRID_ALPHA) * keyword``,
an entry missing from a list scoring 0 there. Reciprocal rank fusion (Cormack, Clarke
and Büttcher, SIGIR 2009: the sum of ``1 / (RRF_K + rank)``) is the other choice; on
LoCoMo (``bench/memory.py``) the convex combination ranked better, because it keeps
how far apart the scores are, which ranks throw away.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.errors import EntryError
from gateway.memory.entry import Entry

#: the constant of reciprocal rank fusion (the paper's choice)
RRF_K = 60
#: the weight of the semantic score in the convex combination (the midpoint: not tuned)
HYBRID_ALPHA = 0.5
#: semantic results less similar than this (cosine) are left out: with all-MiniLM-L6-v2,
#: unrelated texts score about 0.05 and paraphrases sharing no word 0.3 to 0.6
MIN_SIMILARITY = 0.2


#: English function words left out of keyword queries (when a query has other words):
#: with BM25 over any word they would match nearly every entry
_STOPWORDS = (
    "a about after all also an and any are as at be been but by can could did do does "
    "for from had has have how i if in into is it its me my no not of on or our so "
    "some than that the their them then there these they this those to us was we "
    "were what when where which who whom why will with would you your"
)
STOPWORDS = frozenset(_STOPWORDS.split())


def keyword_terms(text: str) -> list[str]:
    """The words of ``text`` a keyword search looks for: all but function words, unless
    the query is nothing but function words."""
    words = text.split()
    content = [w for w in words if w.lower().strip("?!.,;:'\"()") not in STOPWORDS]
    return content or words


class Mode(enum.Enum):
    """How a search ranks: by words, by meaning, or both fused."""

    KEYWORD = "keyword"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"

    @classmethod
    def parse(cls, text: str) -> Mode:
        """The mode called ``text``; EntryError naming the choices otherwise."""
        try:
            return cls(text.lower())
        except ValueError:
            raise EntryError(
                "malformed", f"search mode {text[:40]!r} is not one of keyword, semantic, hybrid"
            ) from None


@dataclass(frozen=True)
class Filters:
    """What a search is limited to (each None or empty: no limit)."""

    space: str | None = None
    topic: str | None = None
    #: every one of these tags
    tags: tuple[str, ...] = ()
    author: bytes | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def on_content(self) -> bool:
        """Whether a filter needs the decoded entry (topic, tags): SQL cannot apply it."""
        return self.topic is not None or bool(self.tags)

    def admits(self, entry: Entry) -> bool:
        """Whether ``entry`` passes every filter."""
        return (
            (self.space is None or entry.space == self.space)
            and (self.topic is None or entry.topic == self.topic)
            and all(t in entry.tags for t in self.tags)
            and (self.author is None or entry.author == self.author)
            and (self.since_ms is None or entry.timestamp_ms >= self.since_ms)
            and (self.until_ms is None or entry.timestamp_ms <= self.until_ms)
        )


#: a search limited by nothing
NO_FILTERS = Filters()


@dataclass(frozen=True)
class SearchHit:
    """One result: the entry, its fused score, and where it ranked in each list."""

    entry: Entry
    score: float
    keyword_rank: int | None = None
    semantic_rank: int | None = None
    similarity: float | None = None


class Fusion(enum.Enum):
    """How hybrid search fuses its two rankings."""

    CONVEX = "convex"
    RRF = "rrf"


_Id = TypeVar("_Id", bound=Hashable)


@dataclass
class _Fused:
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)


def _ordered(fused: dict[_Id, _Fused]) -> list[tuple[_Id, float, dict[str, int]]]:
    ordered = sorted(fused.items(), key=lambda kv: (-kv[1].score, repr(kv[0])))
    return [(i, f.score, f.ranks) for i, f in ordered]


def rrf(
    rankings: dict[str, Sequence[_Id]], k: int = RRF_K
) -> list[tuple[_Id, float, dict[str, int]]]:
    """Fuse ranked id lists: (id, score, {list name: rank}) by score, then by id."""
    fused: dict[_Id, _Fused] = {}
    for name, ids in rankings.items():
        for rank, entry_id in enumerate(ids, start=1):
            item = fused.setdefault(entry_id, _Fused())
            if name not in item.ranks:
                item.score += 1.0 / (k + rank)
                item.ranks[name] = rank
    return _ordered(fused)


def convex(
    keyword: Sequence[tuple[_Id, float]],
    semantic: Sequence[tuple[_Id, float]],
    alpha: float = HYBRID_ALPHA,
) -> list[tuple[_Id, float, dict[str, int]]]:
    """Fuse two scored lists (best first, higher is better): (id, score, {list name:
    rank}) by ``alpha * semantic + (1 - alpha) * keyword`` of min-max scaled scores."""
    fused: dict[_Id, _Fused] = {}
    for name, weight, scored in (("keyword", 1.0 - alpha, keyword), ("semantic", alpha, semantic)):
        if not scored:
            continue
        low = min(s for _, s in scored)
        span = max(s for _, s in scored) - low
        for rank, (entry_id, score) in enumerate(scored, start=1):
            item = fused.setdefault(entry_id, _Fused())
            if name not in item.ranks:
                item.score += weight * ((score - low) / span if span > 0 else 1.0)
                item.ranks[name] = rank
    return _ordered(fused)
