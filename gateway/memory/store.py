"""The memory store: SQLite (WAL, synchronous=FULL) with FTS5 and vector search, spaces
and a Merkle log.

Search by meaning: with an :class:`~gateway.memory.embed.Embedder`, an entry written
with its vector ready (:meth:`MemoryStore.provide_vectors`, computed in a worker
beforehand) gets it in the same transaction; an entry that arrives without one (from
sync) is listed by :meth:`MemoryStore.unembedded` until :meth:`MemoryStore.add_vectors`
stores its vector. Vectors of another model are dropped when the model changes, and
the entries are embedded again. The sign bits of the vectors are scanned in memory
(:class:`~gateway.memory.vecindex.ScanIndex`), loaded at the first search by meaning
and kept up to date as transactions commit.

Keyword search is BM25 over an FTS5 table with the Porter stemmer ("drinks" finds
"drink"). Only the results a search returns are decoded; rankings and filters work on
rowids in SQL and NumPy.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.errors import EntryError, ForkError, GatewayError, StoreError, map_exceptions
from gateway.memory import merkle
from gateway.memory.entry import Entry, Kind, decode_entry, load_entry
from gateway.memory.merkle import SignedTreeHead
from gateway.memory.ranking import (
    MIN_SIMILARITY,
    NO_FILTERS,
    Filters,
    Fusion,
    Mode,
    SearchHit,
    convex,
    keyword_terms,
    rrf,
)
from gateway.memory.spaces import DEFAULT_SPACE, Space, check_space_name
from gateway.storage.db import create_private

if TYPE_CHECKING:  # NumPy (vecindex, vectors) loads at the first vector, not with the store
    from gateway.memory import vecindex
    from gateway.memory.embed import Embedder, Vectors

#: the vector index's tables (see :mod:`gateway.memory.vecindex`)
VECTORS_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry_vectors (
    rowid INTEGER PRIMARY KEY, model TEXT NOT NULL, vec BLOB NOT NULL, bits BLOB);
CREATE TABLE IF NOT EXISTS vector_model (one INTEGER PRIMARY KEY CHECK (one = 1),
    model TEXT NOT NULL, dim INTEGER NOT NULL);
"""

MAX_PENDING = 10_000
#: candidates each ranking contributes to fusion (at least)
POOL = 100
#: candidates the sign-bit scan hands to the exact ranking (at least; 10 per pooled one)
CANDIDATES = 1000
#: SQL parameters per IN (...) list
_CHUNK = 900
#: a keyword in more than this share of the entries is left out of a keyword query that
#: has rarer ones: it matches a great many rows (all of which BM25 must score) and adds
#: little to the score of any (measured on LoCoMo: nDCG@10 0.386 -> 0.381, 3x faster)
COMMON_SHARE = 0.1
#: stores smaller than this search every keyword (scoring all their rows is cheap)
COMMON_FROM = 1000
#: vectors computed ahead of their entry's write, kept at most (oldest dropped; 1.5 MB)
MAX_READY = 1024
_SQL_ERRORS: Mapping[type[BaseException], type[GatewayError]] = {sqlite3.Error: StoreError}

#: full-text index of body, topic and tags; the Porter stemmer matches "drinks" to "drink"
_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5 "
    "(body, topic, tags, tokenize = 'porter unicode61')"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id BLOB PRIMARY KEY, author BLOB NOT NULL, space TEXT NOT NULL, seq INTEGER NOT NULL,
    prev BLOB NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL, target BLOB NOT NULL,
    raw BLOB NOT NULL, log_index INTEGER NOT NULL UNIQUE, UNIQUE (author, space, seq));
CREATE INDEX IF NOT EXISTS entries_space_ts ON entries (space, ts, id);
CREATE INDEX IF NOT EXISTS entries_target ON entries (target);
CREATE TABLE IF NOT EXISTS pending (
    id BLOB PRIMARY KEY, author BLOB NOT NULL, space TEXT NOT NULL, seq INTEGER NOT NULL,
    prev BLOB NOT NULL, raw BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS pending_link ON pending (author, space, seq);
CREATE TABLE IF NOT EXISTS spaces (name TEXT PRIMARY KEY, all_contacts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS space_members (space TEXT NOT NULL, peer BLOB NOT NULL,
    PRIMARY KEY (space, peer));
CREATE TABLE IF NOT EXISTS rejections (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS suppressed (id BLOB PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tree_heads (
    owner BLOB NOT NULL, role TEXT NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL,
    ts INTEGER NOT NULL, signer BLOB NOT NULL, sig BLOB NOT NULL, PRIMARY KEY (owner, role));
"""


@dataclass(frozen=True)
class InsertResult:
    """What happened to one entry: ``stored``, ``duplicate`` or ``held``.

    ``released`` lists held entries that were stored because this one linked them.
    """

    status: str
    id: bytes
    released: tuple[bytes, ...] = ()


@dataclass
class BatchResult:
    """Outcome of inserting many entries: ids stored, counts by outcome and reason."""

    stored: list[bytes] = field(default_factory=list)
    duplicates: int = 0
    held: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class MemoryStore:
    """Entries of all spaces, verified on insert; one SQLite database file."""

    def __init__(self, path: Path | str, *, embedder: Embedder | None = None) -> None:
        #: the database file (``:memory:`` for a store that lives in memory only)
        self.path = path
        #: computes vectors for search by meaning (None: keyword search only)
        self.embedder = embedder
        #: called when an entry is stored without its vector (the indexer's wake-up)
        self.on_unembedded: Callable[[], None] | None = None
        self._ready: dict[bytes, Vectors] = {}
        #: keyword -> number of entries holding it, and the store size when counted
        self._df: dict[str, int] = {}
        self._df_at = 0
        #: the in-memory sign-bit scan (None until the first search by meaning)
        self._scan: vecindex.ScanIndex | None = None
        #: scan rows written by the open transaction, added when it commits
        self._scan_rows: list[tuple[int, bytes, str, bytes, int]] = []
        if str(path) != ":memory:":
            create_private(Path(path))  # 0600, like the rest of the state directory
        with map_exceptions(_SQL_ERRORS):
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.executescript(VECTORS_SCHEMA)
            self._db.execute(_FTS)
            self._migrate()
            self._db.execute("INSERT OR IGNORE INTO spaces VALUES (?, 1)", (DEFAULT_SPACE,))
            if embedder is not None:
                self._use_model(embedder)
            rows = self._db.execute("SELECT id FROM entries ORDER BY log_index").fetchall()
        self._leaves = [merkle.leaf_hash(r[0]) for r in rows]

    def _migrate(self) -> None:
        """Bring a store written by an earlier version up to this schema."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(entry_vectors)")}
        if "bits" not in columns:  # sign bits were kept in a sqlite-vec table
            self._db.execute("ALTER TABLE entry_vectors ADD COLUMN bits BLOB")
        sql = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries_fts'")
        if "porter" not in str(sql.fetchone()[0]):  # indexed without stemming
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DROP TABLE entries_fts")
            self._db.execute(_FTS)
            for rowid, raw in self._db.execute("SELECT rowid, raw FROM entries").fetchall():
                self._index_text(self._db, rowid, decode_entry(raw))
            self._db.execute("COMMIT")

    def _use_model(self, embedder: Embedder) -> None:
        """Record the model; vectors of another model (or dimension) are dropped."""
        row = self._db.execute("SELECT model, dim FROM vector_model").fetchone()
        if row is not None and tuple(row) != (embedder.name, embedder.dim):
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM entry_vectors")
            self._db.execute("DELETE FROM vector_model")
            self._db.execute("COMMIT")
            row = None
        if row is None:
            self._db.execute(
                "INSERT INTO vector_model VALUES (1, ?, ?)", (embedder.name, embedder.dim)
            )
        self._scan = None

    @classmethod
    def snapshot(cls, path: Path) -> MemoryStore:
        """A read-only view of the store in ``path`` as it is now, for an audit in a thread.

        Every read sees the same committed state (one read transaction, WAL snapshot
        isolation) while the node goes on writing through its own connection. Close it.
        """
        store = cls.__new__(cls)
        store.path = path
        store.embedder = None
        store.on_unembedded = None
        store._ready, store._scan, store._scan_rows = {}, None, []
        store._df, store._df_at = {}, 0
        with map_exceptions(_SQL_ERRORS):
            uri = Path(path).absolute().as_uri() + "?mode=ro"
            store._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            store._db.execute("BEGIN")
            rows = store._db.execute("SELECT id FROM entries ORDER BY log_index").fetchall()
        store._leaves = [merkle.leaf_hash(r[0]) for r in rows]
        return store

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        leaves = len(self._leaves)
        with map_exceptions(_SQL_ERRORS):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                del self._leaves[leaves:]
                self._scan_rows.clear()
                raise
        if self._scan is not None:
            self._scan.add(self._scan_rows)
        self._scan_rows.clear()

    def pragma(self, name: str) -> object:
        """The value of a PRAGMA (e.g. journal_mode, synchronous)."""
        with map_exceptions(_SQL_ERRORS):
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    # --- spaces ---------------------------------------------------------------

    def set_space(self, space: Space) -> None:
        """Create or replace a space and its member list."""
        check_space_name(space.name)
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO spaces VALUES (?, ?)", (space.name, space.all_contacts)
            )
            db.execute("DELETE FROM space_members WHERE space = ?", (space.name,))
            db.executemany(
                "INSERT INTO space_members VALUES (?, ?)", [(space.name, m) for m in space.members]
            )

    def space(self, name: str) -> Space | None:
        """The space called ``name``, if configured."""
        with map_exceptions(_SQL_ERRORS):
            row = self._db.execute(
                "SELECT all_contacts FROM spaces WHERE name=?", (name,)
            ).fetchone()
            if row is None:
                return None
            members = self._db.execute("SELECT peer FROM space_members WHERE space=?", (name,))
            return Space(name, bool(row[0]), frozenset(m[0] for m in members))

    def spaces(self) -> list[Space]:
        """Every configured space, by name."""
        with map_exceptions(_SQL_ERRORS):
            names = [r[0] for r in self._db.execute("SELECT name FROM spaces ORDER BY name")]
        return [s for s in (self.space(n) for n in names) if s is not None]

    def spaces_for_peer(self, peer: bytes) -> list[str]:
        """Names of the spaces shared with ``peer``."""
        return [s.name for s in self.spaces() if s.includes(peer)]

    def entries_for_peer(self, peer: bytes) -> Iterator[Entry]:
        """Every stored entry of a space that ``peer`` is in (and no other)."""
        for name in self.spaces_for_peer(peer):
            with map_exceptions(_SQL_ERRORS):
                rows = self._db.execute("SELECT raw FROM entries WHERE space=?", (name,)).fetchall()
            for (raw,) in rows:
                yield decode_entry(raw)

    # --- insert ---------------------------------------------------------------

    def insert(self, data: Entry | bytes, *, from_peer: bytes | None = None) -> InsertResult:
        """Verify and store one entry; EntryError (reason counted) when refused.

        An entry whose predecessor (same author and space, seq - 1) is not stored
        yet is held and stored once the predecessor arrives.
        """
        try:
            entry = load_entry(data if isinstance(data, bytes) else data.encode())
            self._check_space(entry, from_peer)
            with self._transaction() as db:
                return self._insert_verified(db, entry)
        except EntryError as exc:
            self._count(exc.reason)
            raise

    def insert_many(
        self, items: Iterable[bytes], *, from_peer: bytes | None = None, space: str | None = None
    ) -> BatchResult:
        """Insert entries in (author, space, seq) order; refusals are counted, not raised.

        With ``space`` set, entries of any other space are refused as ``wrong_space``.
        """
        result = BatchResult()
        decoded: list[Entry] = []
        for raw in items:
            try:
                entry = load_entry(raw)
                if space is not None and entry.space != space:
                    raise EntryError("wrong_space", f"entry of space {entry.space!r}")
                decoded.append(entry)
            except EntryError as exc:
                self._count(exc.reason)
                result.rejected[exc.reason] = result.rejected.get(exc.reason, 0) + 1
        for entry in sorted(decoded, key=lambda e: (e.author, e.space, e.seq)):
            try:
                res = self.insert(entry, from_peer=from_peer)
            except EntryError as exc:
                result.rejected[exc.reason] = result.rejected.get(exc.reason, 0) + 1
                continue
            if res.status == "stored":
                result.stored += [res.id, *res.released]
            elif res.status == "held":
                result.held += 1
            else:
                result.duplicates += 1
        return result

    def _check_space(self, entry: Entry, from_peer: bytes | None) -> None:
        space = self.space(entry.space)
        if space is None:
            raise EntryError("wrong_space", f"unknown space {entry.space!r}")
        if from_peer is not None and not space.includes(from_peer):
            raise EntryError("wrong_space", f"peer is not in space {entry.space!r}")

    def _insert_verified(self, db: sqlite3.Connection, entry: Entry) -> InsertResult:
        if db.execute("SELECT 1 FROM entries WHERE id=?", (entry.id,)).fetchone():
            return InsertResult("duplicate", entry.id)
        if db.execute("SELECT 1 FROM pending WHERE id=?", (entry.id,)).fetchone():
            return InsertResult("held", entry.id)
        key = (entry.author, entry.space)
        if db.execute(
            "SELECT 1 FROM entries WHERE author=? AND space=? AND seq=?", (*key, entry.seq)
        ).fetchone():
            raise ForkError("fork", f"seq {entry.seq} already stored with another id")
        if entry.seq > 1:
            row = db.execute(
                "SELECT id FROM entries WHERE author=? AND space=? AND seq=?", (*key, entry.seq - 1)
            ).fetchone()
            if row is None:
                self._hold(db, entry)
                return InsertResult("held", entry.id)
            if row[0] != entry.prev:
                raise EntryError(
                    "broken_chain", f"seq {entry.seq} does not link to its predecessor"
                )
        self._write(db, entry)
        return InsertResult("stored", entry.id, tuple(self._release(db, entry)))

    def _hold(self, db: sqlite3.Connection, entry: Entry) -> None:
        if db.execute("SELECT COUNT(*) FROM pending").fetchone()[0] >= MAX_PENDING:
            raise EntryError("held_full", "too many entries waiting for their predecessor")
        db.execute(
            "INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?)",
            (entry.id, entry.author, entry.space, entry.seq, entry.prev, entry.encode()),
        )

    def _release(self, db: sqlite3.Connection, entry: Entry) -> list[bytes]:
        """Store held successors that link to ``entry`` (and theirs, in turn)."""
        released: list[bytes] = []
        current = entry
        while True:
            rows = db.execute(
                "SELECT id, prev, raw FROM pending WHERE author=? AND space=? AND seq=?",
                (current.author, current.space, current.seq + 1),
            ).fetchall()
            db.executemany("DELETE FROM pending WHERE id=?", [(r[0],) for r in rows])
            linked = [decode_entry(r[2]) for r in rows if r[1] == current.id]
            for _ in range(len(rows) - len(linked)):
                self._count_in(db, "broken_chain")
            if not linked:
                return released
            current = linked[0]
            self._write(db, current)
            released.append(current.id)

    def _write(self, db: sqlite3.Connection, entry: Entry) -> None:
        cur = db.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.id, entry.author, entry.space, entry.seq, entry.prev, entry.timestamp_ms,
             int(entry.kind), entry.target, entry.encode(), self.log_size()),
        )  # fmt: skip
        self._index_text(db, cur.lastrowid, entry)
        if self.embedder is not None and entry.kind is not Kind.TOMBSTONE:
            vector = self._ready.get(_text_key(embed_text(entry)))
            if vector is not None and cur.lastrowid is not None:
                self._write_vector(db, cur.lastrowid, vector, entry.space, entry.author,
                                   entry.timestamp_ms)  # fmt: skip
            elif self.on_unembedded is not None:
                self.on_unembedded()
        self._leaves.append(merkle.leaf_hash(entry.id))

    def _write_vector(
        self, db: sqlite3.Connection, rowid: int, vector: Vectors, space: str, author: bytes,
        ts: int,
    ) -> None:  # fmt: skip
        from gateway.memory import vecindex

        assert self.embedder is not None
        bits = vecindex.sign_bits(vector)
        db.execute(
            "INSERT INTO entry_vectors VALUES (?, ?, ?, ?)",
            (rowid, self.embedder.name, vecindex.to_blob(vector), bits),
        )
        self._scan_rows.append((rowid, bits, space, author, ts))

    # --- vectors --------------------------------------------------------------

    def provide_vectors(self, texts: Iterable[str], vectors: Vectors) -> None:
        """Vectors computed ahead for these texts (see :func:`embed_text`): the entries
        written next with these texts get them in their own transaction."""
        for text, vector in zip(texts, vectors, strict=True):
            self._ready.pop(_text_key(text), None)  # the newest last, to be dropped last
            self._ready[_text_key(text)] = vector
        while len(self._ready) > MAX_READY:
            del self._ready[next(iter(self._ready))]

    def unembedded(self, limit: int) -> list[tuple[int, str]]:
        """(rowid, text) of up to ``limit`` stored entries that have no vector yet."""
        if self.embedder is None:
            return []
        rows = self._rows(
            "SELECT e.rowid, e.raw FROM entries e LEFT JOIN entry_vectors v "
            "ON v.rowid = e.rowid WHERE v.rowid IS NULL AND e.kind != ? LIMIT ?",
            (int(Kind.TOMBSTONE), limit),
        )
        return [(int(str(r)), embed_text(decode_entry(_blob(raw)))) for r, raw in rows]

    def add_vectors(self, items: Iterable[tuple[int, Vectors]]) -> int:
        """Store vectors of entries (by rowid) in one transaction; how many were new."""
        added = 0
        with self._transaction() as db:
            for rowid, vector in items:
                row = db.execute(
                    "SELECT space, author, ts FROM entries WHERE rowid = ?", (rowid,)
                ).fetchone()
                had = db.execute("SELECT 1 FROM entry_vectors WHERE rowid = ?", (rowid,)).fetchone()
                if row is not None and not had:
                    self._write_vector(db, rowid, vector, *row)
                    added += 1
        return added

    def vector_count(self) -> int:
        """Number of entries with a vector of the current model."""
        return int(str(self._rows("SELECT COUNT(*) FROM entry_vectors")[0][0]))

    def _index_text(self, db: sqlite3.Connection, rowid: int | None, entry: Entry) -> None:
        db.execute(
            "INSERT INTO entries_fts (rowid, body, topic, tags) VALUES (?, ?, ?, ?)",
            (rowid, entry.body, entry.topic, " ".join(entry.tags)),
        )

    def count_rejection(self, reason: str) -> None:
        """Add one to the counter of ``reason``."""
        self._count(reason)

    def _count(self, reason: str) -> None:
        with self._transaction() as db:
            self._count_in(db, reason)

    @staticmethod
    def _count_in(db: sqlite3.Connection, reason: str) -> None:
        db.execute(
            "INSERT INTO rejections VALUES (?, 1) ON CONFLICT (reason) DO UPDATE SET count=count+1",
            (reason,),
        )

    def rejection_counts(self) -> dict[str, int]:
        """How many entries were refused, by reason."""
        with map_exceptions(_SQL_ERRORS):
            return dict(self._db.execute("SELECT reason, count FROM rejections").fetchall())

    # --- reads ----------------------------------------------------------------

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with map_exceptions(_SQL_ERRORS):
            return self._db.execute(sql, args).fetchall()

    def ids_between(self, low: bytes, high: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` entry ids from ``low`` to ``high`` (both included), in order."""
        with map_exceptions(_SQL_ERRORS):
            rows = self._db.execute(
                "SELECT id FROM entries WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?",
                (low, high, limit),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def get(self, entry_id: bytes) -> Entry | None:
        """The stored entry with this id (held entries are not returned)."""
        rows = self._rows("SELECT raw FROM entries WHERE id=?", (entry_id,))
        return decode_entry(_blob(rows[0][0])) if rows else None

    def has(self, entry_id: bytes) -> bool:
        """Whether the entry is stored or held (so it need not be fetched again)."""
        sql = "SELECT 1 FROM entries WHERE id=? UNION ALL SELECT 1 FROM pending WHERE id=?"
        return bool(self._rows(sql, (entry_id, entry_id)))

    def raw_entries(self, space: str, ids: Iterable[bytes]) -> list[bytes]:
        """Wire forms of the stored entries of ``space`` among ``ids`` (unknown ids skipped)."""
        out: list[bytes] = []
        for entry_id in ids:
            rows = self._rows("SELECT raw FROM entries WHERE id=? AND space=?", (entry_id, space))
            out += [_blob(r[0]) for r in rows]
        return out

    def count(self, space: str | None = None) -> int:
        """Number of stored entries (in ``space``, or all)."""
        if space is None:
            return len(self._leaves)
        return int(str(self._rows("SELECT COUNT(*) FROM entries WHERE space=?", (space,))[0][0]))

    def held_count(self) -> int:
        """Number of entries waiting for their predecessor."""
        return int(str(self._rows("SELECT COUNT(*) FROM pending")[0][0]))

    def items(self, space: str) -> list[tuple[int, bytes]]:
        """(timestamp, id) of every stored entry of ``space``, sorted."""
        rows = self._rows("SELECT ts, id FROM entries WHERE space=? ORDER BY ts, id", (space,))
        return [(int(str(ts)), _blob(i)) for ts, i in rows]

    def head(self, space: str, author: bytes) -> tuple[int, bytes] | None:
        """(seq, id) of the newest stored entry of the author's chain in ``space``."""
        rows = self._rows(
            "SELECT seq, id FROM entries WHERE author=? AND space=? ORDER BY seq DESC LIMIT 1",
            (author, space),
        )
        return (int(str(rows[0][0])), _blob(rows[0][1])) if rows else None

    def heads(self, space: str) -> dict[bytes, tuple[int, bytes]]:
        """author -> (seq, id) of the newest stored entry of each chain in ``space``."""
        rows = self._rows(
            "SELECT author, MAX(seq), id FROM entries WHERE space=? GROUP BY author", (space,)
        )
        return {_blob(a): (int(str(s)), _blob(i)) for a, s, i in rows}

    def id_at(self, space: str, author: bytes, seq: int) -> bytes | None:
        """Id of the stored entry at (author, space, seq)."""
        rows = self._rows(
            "SELECT id FROM entries WHERE author=? AND space=? AND seq=?", (author, space, seq)
        )
        return _blob(rows[0][0]) if rows else None

    def chain_after(self, space: str, author: bytes, after_seq: int) -> list[tuple[int, bytes]]:
        """(timestamp, id) of the author's entries in ``space`` with seq > ``after_seq``."""
        rows = self._rows(
            "SELECT ts, id FROM entries WHERE author=? AND space=? AND seq>? ORDER BY seq",
            (author, space, after_seq),
        )
        return [(int(str(ts)), _blob(i)) for ts, i in rows]

    def chain(self, space: str, author: bytes) -> list[Entry]:
        """The author's stored chain in ``space``, by seq."""
        rows = self._rows(
            "SELECT raw FROM entries WHERE author=? AND space=? ORDER BY seq", (author, space)
        )
        return [decode_entry(_blob(r[0])) for r in rows]

    def all_entries(self) -> Iterator[tuple[int, Entry]]:
        """(log index, entry) for every stored entry, in log order."""
        for index, raw in self._rows("SELECT log_index, raw FROM entries ORDER BY log_index"):
            yield int(str(index)), decode_entry(_blob(raw))

    def search(self, text: str, *, space: str | None = None, limit: int = 20) -> list[Entry]:
        """Live entries matching words of ``text``, best BM25 first (keyword mode)."""
        hits = self.search_hits(text, mode=Mode.KEYWORD, filters=Filters(space=space), limit=limit)
        return [h.entry for h in hits]

    def search_hits(
        self,
        text: str,
        *,
        mode: Mode = Mode.HYBRID,
        filters: Filters = NO_FILTERS,
        limit: int = 20,
        query_vector: Vectors | None = None,
        fusion: Fusion = Fusion.CONVEX,
        keyword: Sequence[tuple[int, float]] | None = None,
    ) -> list[SearchHit]:
        """Live entries for ``text``, best first, by words, meaning or both.

        Tombstones, entries superseded or deleted by their own author, and entries
        hidden here (:meth:`suppress`) are left out. ``keyword`` ranks by BM25 over
        entries holding any word of ``text``; ``semantic`` by cosine similarity of
        ``query_vector`` (the embedding of ``text``) to the entries' vectors; ``hybrid``
        fuses both rankings (``fusion``: a convex combination of their normalized
        scores, or reciprocal rank fusion). Without a vector (or embedder), semantic
        finds nothing and hybrid is keyword alone. ``keyword``: the keyword ranking,
        computed beforehand by :meth:`keyword_ranking` with the same text, filters and
        limit (while the query was being embedded).
        """
        pool = _pool(limit)
        semantic: list[tuple[int, float]] = []
        if mode is Mode.SEMANTIC:
            keyword = []
        elif keyword is None:
            keyword = self._keyword(text, filters, pool)
        if mode is not Mode.KEYWORD and query_vector is not None and self.embedder is not None:
            semantic = self._semantic(query_vector, filters, pool)
        if mode is Mode.KEYWORD:
            ranked = [(r, s, {"keyword": i}) for i, (r, s) in enumerate(keyword[:limit], 1)]
        elif mode is Mode.SEMANTIC:
            ranked = [(r, s, {"semantic": i}) for i, (r, s) in enumerate(semantic[:limit], 1)]
        elif fusion is Fusion.RRF:
            ranked = rrf({"keyword": [r for r, _ in keyword], "semantic": [r for r, _ in semantic]})
        else:
            ranked = convex(keyword, semantic)
        ranked = ranked[:limit]
        entries = self._entries([r for r, _, _ in ranked])
        sims = dict(semantic)
        return [
            SearchHit(entries[r], score, ranks.get("keyword"), ranks.get("semantic"), sims.get(r))
            for r, score, ranks in ranked
            if r in entries
        ]

    def keyword_ranking(
        self, text: str, *, filters: Filters = NO_FILTERS, limit: int = 20
    ) -> list[tuple[int, float]]:
        """The keyword ranking that :meth:`search_hits` fuses, as (rowid, BM25 score)."""
        return self._keyword(text, filters, _pool(limit))

    _LIVE = (
        "e.kind != ? AND NOT EXISTS (SELECT 1 FROM entries t WHERE t.target = e.id "
        "AND t.author = e.author AND t.space = e.space) "
        "AND NOT EXISTS (SELECT 1 FROM suppressed s WHERE s.id = e.id)"
    )

    @staticmethod
    def _where(filters: Filters) -> tuple[str, tuple[object, ...]]:
        """SQL conditions (on ``e``) and their arguments for the filters SQL can apply."""
        return (
            "(? IS NULL OR e.space = ?) AND (? IS NULL OR e.author = ?) "
            "AND (? IS NULL OR e.ts >= ?) AND (? IS NULL OR e.ts <= ?)",
            (filters.space, filters.space, filters.author, filters.author,
             filters.since_ms, filters.since_ms, filters.until_ms, filters.until_ms),
        )  # fmt: skip

    def _keyword(self, text: str, filters: Filters, pool: int) -> list[tuple[int, float]]:
        """(rowid, BM25 score, higher is better) of live entries holding any word of
        ``text``, best first."""
        words = self._selective([w.replace('"', '""') for w in keyword_terms(text)])
        if not words:
            return []
        query = " OR ".join(f'"{w}"' for w in words)
        where, args = self._where(filters)
        decode = filters.on_content
        sql = (
            f"SELECT e.rowid, f.rank{', e.raw' if decode else ''} "  # noqa: S608
            "FROM entries_fts f JOIN entries e ON e.rowid = f.rowid "
            f"WHERE entries_fts MATCH ? AND {self._LIVE} AND {where} ORDER BY f.rank LIMIT ?"
        )
        rows = self._rows(sql, (query, int(Kind.TOMBSTONE), *args, pool))
        return [
            (int(str(row[0])), -float(str(row[1])))
            for row in rows
            if not decode or filters.admits(decode_entry(_blob(row[2])))
        ]

    def _selective(self, words: list[str]) -> list[str]:
        """``words`` without those held by more than COMMON_SHARE of the entries, unless
        that leaves none (then the two rarest)."""
        n = len(self._leaves)
        if n < COMMON_FROM or len(words) < 2:
            return words
        if n > self._df_at * 1.1 or len(self._df) > 10_000:
            self._df.clear()  # counts drift as the store grows: count again
            self._df_at = n
        for w in words:
            if w not in self._df:
                rows = self._rows("SELECT COUNT(*) FROM entries_fts WHERE entries_fts MATCH ?",
                                  (f'"{w}"',))  # fmt: skip
                self._df[w] = int(str(rows[0][0]))
        rare = [w for w in words if self._df[w] <= COMMON_SHARE * n]
        return rare or sorted(words, key=lambda w: self._df[w])[:2]

    def _semantic(self, vector: Vectors, filters: Filters, pool: int) -> list[tuple[int, float]]:
        """(rowid, cosine similarity) of live entries nearest to ``vector``, best first.

        The sign-bit scan (limited by space, author and time as it scans) picks
        candidates; their float vectors rank them exactly.
        """
        import numpy as np

        from gateway.memory import vecindex

        assert self.embedder is not None
        dim = self.embedder.dim
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape != (dim,):
            raise StoreError(f"a query vector has {query.size} dimensions, the model {dim}")
        scan = self._scan_index()
        candidates = scan.nearest(
            query, max(CANDIDATES, 10 * pool), space=filters.space, author=filters.author,
            since_ms=filters.since_ms, until_ms=filters.until_ms,
        )  # fmt: skip
        if candidates.size == 0:
            return []
        rowids: list[int] = []
        blobs: list[bytes] = []
        for part in _chunks([int(r) for r in candidates]):
            for rowid, blob in self._rows(
                f"SELECT rowid, vec FROM entry_vectors WHERE rowid IN ({_marks(part)})",  # noqa: S608
                tuple(part),
            ):
                rowids.append(int(str(rowid)))
                blobs.append(_blob(blob))
        sims = vecindex.from_blobs(blobs, dim) @ query
        order = [int(i) for i in np.argsort(-sims, kind="stable") if sims[i] >= MIN_SIMILARITY]
        ranked = [(rowids[i], float(sims[i])) for i in order]
        found: list[tuple[int, float]] = []
        for start in range(0, len(ranked), pool):
            chunk = ranked[start : start + pool]
            admitted = self._admitted([r for r, _ in chunk], filters)
            found += [(r, sim) for r, sim in chunk if r in admitted]
            if len(found) >= pool:
                break
        return found[:pool]

    def _admitted(self, rowids: list[int], filters: Filters) -> set[int]:
        """Which of ``rowids`` are live entries that pass the topic and tag filters."""
        decode = filters.on_content
        rows = self._rows(
            f"SELECT e.rowid{', e.raw' if decode else ''} FROM entries e "  # noqa: S608
            f"WHERE e.rowid IN ({_marks(rowids)}) AND {self._LIVE}",
            (*rowids, int(Kind.TOMBSTONE)),
        )
        return {
            int(str(row[0]))
            for row in rows
            if not decode or filters.admits(decode_entry(_blob(row[1])))
        }

    def _entries(self, rowids: list[int]) -> dict[int, Entry]:
        """The entries at ``rowids``, decoded."""
        found: dict[int, Entry] = {}
        for part in _chunks(rowids):
            rows = self._rows(
                f"SELECT rowid, raw FROM entries WHERE rowid IN ({_marks(part)})",  # noqa: S608
                tuple(part),
            )
            found.update((int(str(r)), decode_entry(_blob(raw))) for r, raw in rows)
        return found

    def _scan_index(self) -> vecindex.ScanIndex:
        """The in-memory sign-bit scan, loaded from the vectors table at first use."""
        if self._scan is not None:
            return self._scan
        import numpy as np

        from gateway.memory import vecindex

        assert self.embedder is not None
        scan = vecindex.ScanIndex(self.embedder.dim)
        join = "FROM entry_vectors v JOIN entries e ON e.rowid = v.rowid"
        missing = self._rows(f"SELECT v.rowid, v.vec {join} WHERE v.bits IS NULL")
        if missing:  # written by a version that kept the bits elsewhere
            with self._transaction() as db:
                db.executemany(
                    "UPDATE entry_vectors SET bits = ? WHERE rowid = ?",
                    [(vecindex.sign_bits(np.frombuffer(_blob(v), np.float32)), r)
                     for r, v in missing],
                )  # fmt: skip
        with map_exceptions(_SQL_ERRORS):
            cursor = self._db.execute(
                f"SELECT v.rowid, v.bits, e.space, e.author, e.ts {join} ORDER BY v.rowid"
            )
            while batch := cursor.fetchmany(10_000):
                scan.add(batch)
        self._scan = scan
        return scan

    def suppress(self, entry_id: bytes, reason: str) -> bool:
        """Hide an entry from search and :meth:`recent` on this node, whoever wrote it (a
        circle's quorum tombstone); whether it was not hidden already. The entry itself
        stays stored (and synced): its author's chain must stay whole."""
        with self._transaction() as db:
            cur = db.execute("INSERT OR IGNORE INTO suppressed VALUES (?, ?)", (entry_id, reason))
            return cur.rowcount == 1

    def suppressed(self, entry_id: bytes) -> str | None:
        """Why the entry is hidden on this node (see :meth:`suppress`), if it is."""
        rows = self._rows("SELECT reason FROM suppressed WHERE id = ?", (entry_id,))
        return str(rows[0][0]) if rows else None

    def recent(
        self, *, space: str | None = None, limit: int = 50, before_ms: int | None = None
    ) -> list[Entry]:
        """Live entries, newest first (tombstones, entries their author replaced and
        entries hidden here left out)."""
        sql = (
            f"SELECT e.raw FROM entries e WHERE {self._LIVE} AND (? IS NULL OR e.space = ?) "  # noqa: S608
            "AND (? IS NULL OR e.ts < ?) ORDER BY e.ts DESC, e.id LIMIT ?"
        )
        args = (int(Kind.TOMBSTONE), space, space, before_ms, before_ms, limit)
        return [decode_entry(_blob(r[0])) for r in self._rows(sql, args)]

    def replaced_by(self, entry_id: bytes) -> Entry | None:
        """The entry by the same author that supersedes or deletes ``entry_id``, if any."""
        sql = (
            "SELECT t.raw FROM entries t JOIN entries e ON e.id = t.target "
            "AND e.author = t.author AND e.space = t.space WHERE t.target = ? "
            "ORDER BY t.seq DESC LIMIT 1"
        )
        rows = self._rows(sql, (entry_id,))
        return decode_entry(_blob(rows[0][0])) if rows else None

    # --- Merkle log -----------------------------------------------------------

    def log_size(self) -> int:
        """Number of leaves in the acceptance log."""
        return len(self._leaves)

    def log_leaves(self) -> list[bytes]:
        """Leaf hashes of the acceptance log, in order."""
        return list(self._leaves)

    def tree_root(self, size: int | None = None) -> bytes:
        """Root hash of the log (of its first ``size`` leaves)."""
        n = len(self._leaves) if size is None else size
        return merkle.subtree_root(self._leaves, 0, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 consistency proof from ``old_size`` to ``new_size`` (default: now)."""
        n = len(self._leaves) if new_size is None else new_size
        return merkle.consistency_proof(self._leaves[:n], old_size)

    def inclusion_proof(self, entry_id: bytes, size: int | None = None) -> tuple[int, list[bytes]]:
        """(log index, audit path) of an entry in the tree of ``size`` leaves."""
        rows = self._rows("SELECT log_index FROM entries WHERE id=?", (entry_id,))
        if not rows:
            raise StoreError("entry not in the log")
        index = int(str(rows[0][0]))
        n = len(self._leaves) if size is None else size
        return index, merkle.inclusion_proof(self._leaves[:n], index)

    def tree_head(self, owner: bytes, role: str) -> SignedTreeHead | None:
        """A recorded STH: role ``own``, or ``seen``/``sent`` for the peer ``owner``."""
        rows = self._rows(
            "SELECT size, root, ts, signer, sig FROM tree_heads WHERE owner=? AND role=?",
            (owner, role),
        )
        if not rows:
            return None
        size, root, ts, signer, sig = rows[0]
        return SignedTreeHead(int(str(size)), _blob(root), int(str(ts)), _blob(signer), _blob(sig))

    def record_tree_head(self, owner: bytes, role: str, sth: SignedTreeHead) -> None:
        """Remember an STH under (owner, role), replacing the previous one."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO tree_heads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (owner, role, sth.size, sth.root, sth.timestamp_ms, sth.signer, sth.signature),
            )


def embed_text(entry: Entry) -> str:
    """What is embedded of an entry: its topic, tags and body, a line each."""
    return text_to_embed(entry.topic, entry.tags, entry.body)


def text_to_embed(topic: str, tags: Iterable[str], body: str) -> str:
    """What is embedded of an entry with this topic, these tags and this body."""
    return "\n".join(p for p in (topic, " ".join(tags), body) if p)


def _pool(limit: int) -> int:
    """Candidates each ranking gives the fusion for ``limit`` results."""
    return max(POOL, 5 * limit)


def _marks(items: list[int]) -> str:
    return ",".join("?" * len(items))


def _chunks(items: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _blob(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise StoreError(f"expected a blob, got {type(value).__name__}")
    return value
