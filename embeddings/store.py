"""The SQLite store of an index: documents, passages (text, offsets, sentence spans and vectors).

:class:`Store` owns the file: every SQL statement of the project is one of its methods, or of the
:class:`WriteTransaction` it hands out for writes. One connection per thread (SQLite connections
must not cross threads); WAL mode so readers in other processes never block on a writer;
``synchronous=FULL`` so a committed write survives a power cut or a kill -9.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from embeddings import lexical
from embeddings.chunking import Passage
from embeddings.corpus import Document

# Keys go to SQLite in IN-lists of at most this many: standard builds allow 32,766 variables.
IN_LIST_CHUNK = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    date TEXT,
    lang TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    vector BLOB NOT NULL              -- float32 (dim): the article vector (embeddings/articles.py)
);
CREATE TABLE IF NOT EXISTS passages (
    key INTEGER PRIMARY KEY,          -- the FAISS id
    id TEXT NOT NULL UNIQUE,          -- "<doc_id>:<ordinal>", what users see
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    lang TEXT NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    sentences BLOB NOT NULL,          -- JSON [[start, end], ...] relative to text
    sentence_vectors BLOB NOT NULL,   -- float16 (n_sentences x dim)
    vector BLOB NOT NULL              -- float32 (dim): the source of truth FAISS is built from
);
-- Every change to the passages since the current vector snapshot (meta 'snapshot', a version of
-- this table; embeddings/snapshots.py), in order: how every process catches up.
CREATE TABLE IF NOT EXISTS changes (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    key INTEGER NOT NULL
);
-- BM25 over lexical keys (embeddings/lexical.py), rowid = passage key; written in the same
-- transactions as the passages, so it is as durable and as current as they are.
CREATE VIRTUAL TABLE IF NOT EXISTS lexical USING fts5(tokens, tokenize = 'unicode61 remove_diacritics 0');
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_lang ON passages(lang);
-- Article keys (a document's first passage), read at every open: without it, a scan of the table.
CREATE INDEX IF NOT EXISTS passages_first ON passages(key) WHERE ordinal = 0;
CREATE INDEX IF NOT EXISTS documents_lang ON documents(lang);
"""


@dataclass
class PassageRow:
    key: int
    id: str
    doc_id: str
    ordinal: int
    lang: str
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int]]
    sentence_vectors: np.ndarray
    title: str
    date: str | None
    doc_lang: str


@dataclass
class PassageVectors:
    """Passages in key order with their vectors: what the corpus-wide margin jobs compare."""

    keys: np.ndarray
    ids: list[str]
    doc_ids: list[str]
    langs: list[str]
    vectors: np.ndarray  # float32 (len(keys) x dim)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


class WriteTransaction:
    """One write transaction, begun with ``BEGIN IMMEDIATE``: the write lock is held from the start,
    so no other writer slips in between reading the next key and using it. As a context manager it
    commits when the block ends, and rolls back when the block (or the commit) raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute("BEGIN IMMEDIATE")

    def __enter__(self) -> WriteTransaction:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: object) -> None:
        if exc_type is not None:
            self.rollback()
            return
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            self.rollback()  # a failed COMMIT leaves the transaction open
            raise

    def rollback(self) -> None:
        # SQLite rolls back by itself on some errors (a full disk, SQLITE_FULL): rolling back again
        # would raise and hide the error that matters.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def document_exists(self, doc_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None

    def insert_document(
        self,
        doc: Document,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        sentence_vectors: Sequence[np.ndarray],
        first_key: int,
        article_vector: np.ndarray,
    ) -> list[int]:
        """Insert a document, its article vector and its passages; returns the passages' keys."""
        self._conn.execute(
            "INSERT INTO documents (id, title, date, lang, source, text, vector) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (doc.id, doc.title, doc.date, doc.lang, doc.source, doc.text, _float32_bytes(article_vector)),
        )
        keys = list(range(first_key, first_key + len(passages)))
        self._conn.executemany(
            "INSERT INTO lexical (rowid, tokens) VALUES (?, ?)",
            [(key, " ".join(lexical.tokens(p.text, p.lang))) for key, p in zip(keys, passages, strict=True)],
        )
        self._conn.executemany(
            'INSERT INTO passages (key, id, doc_id, ordinal, lang, text, start, "end", sentences, '
            "sentence_vectors, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    key,
                    p.id,
                    p.doc_id,
                    p.ordinal,
                    p.lang,
                    p.text,
                    p.start,
                    p.end,
                    orjson.dumps(p.sentences),
                    sv.astype(np.float16).tobytes(),
                    _float32_bytes(v),
                )
                for key, p, v, sv in zip(keys, passages, vectors, sentence_vectors, strict=True)
            ],
        )
        return keys

    def next_key(self) -> int:
        """The first unused passage key; keys are never reused, so replayed changes stay unambiguous."""
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'next_key'").fetchone()
        return int(row[0]) if row else 0

    def set_next_key(self, value: int) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('next_key', ?)", (value,))

    def delete_document(self, doc_id: str) -> list[int]:
        """Delete a document and its passages, recording the removals; returns the removed keys."""
        keys = [r[0] for r in self._conn.execute("SELECT key FROM passages WHERE doc_id = ?", (doc_id,))]
        self._conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
        self._conn.executemany("DELETE FROM lexical WHERE rowid = ?", [(k,) for k in keys])
        deleted = self._conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
        self._conn.executemany("INSERT INTO changes (op, key) VALUES ('remove', ?)", [(k,) for k in keys])
        return keys if deleted else []

    def record_added(self, keys: Sequence[int]) -> None:
        self._conn.executemany("INSERT INTO changes (op, key) VALUES ('add', ?)", [(k,) for k in keys])

    def set_snapshot(self, version: int) -> None:
        """Make the vector snapshot of ``version`` current and drop the changes it holds."""
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('snapshot', ?)", (version,))
        self._conn.execute("DELETE FROM changes WHERE version <= ?", (version,))


LANG_DTYPE = "<U8"  # a language code in numpy arrays


@dataclass
class PassageFacts:
    keys: np.ndarray  # ascending
    doc_ids: list[str]
    langs: np.ndarray
    days: np.ndarray  # day numbers, -1 for an undated document


def days_within(days: np.ndarray, date_from: str | None, date_to: str | None) -> np.ndarray:
    """Which of these day numbers fall within [date_from, date_to] (ISO dates, either end open);
    an undated one (-1) is outside every range."""
    low = day_number(date_from) if date_from else 0
    high = day_number(date_to) if date_to else np.iinfo(np.int64).max
    return (days >= max(low, 0)) & (days <= high)


def day_number(iso_date: str | None) -> int:
    """An ISO date as its proleptic Gregorian day number; -1 for none (an undated document), and
    for a day that does not exist, which a store written before dates were checked may hold."""
    try:
        return datetime.date.fromisoformat(iso_date).toordinal() if iso_date else -1
    except ValueError:
        return -1


def _float32_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


class Store:
    """The one way to an index's SQLite store, safe to share between threads."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        self.dimension = dimension
        self._local = threading.local()
        self.conn()  # fail now, not at the first query, if the file is unusable

    @classmethod
    def create(cls, path: Path, dimension: int) -> Store:
        """A new, empty store at ``path``."""
        store = cls(path, dimension)
        store.conn().executescript(SCHEMA)
        return store

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    def begin_write(self) -> WriteTransaction:
        """A write transaction on this thread's connection."""
        return WriteTransaction(self.conn())

    def quick_check(self) -> str:
        """SQLite's verdict on the file's structure (bad pages, broken indexes): "ok", or the first problem."""
        return self.conn().execute("PRAGMA quick_check").fetchone()[0]

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database file and truncate the log."""
        self.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def counts(self) -> tuple[int, int]:
        row = self.conn().execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM passages)").fetchone()
        return int(row[0]), int(row[1])

    def keys_matching(self, langs: Iterable[str] | None, doc_ids: Iterable[str] | None) -> np.ndarray:
        clauses, params = [], []
        if langs:
            langs = list(langs)
            clauses.append(f"lang IN ({','.join('?' * len(langs))})")
            params += langs
        if doc_ids:
            doc_ids = list(doc_ids)
            clauses.append(f"doc_id IN ({','.join('?' * len(doc_ids))})")
            params += doc_ids
        where = " AND ".join(clauses) or "1"
        # Sorted here, as filters are used (binary searches over them): read through the language
        # index, which covers the key (an ORDER BY key would scan the whole table: 2.5 GB at a
        # million passages, 1.7 s against 0.3 s).
        rows = self.conn().execute(f"SELECT key FROM passages WHERE {where}", params).fetchall()
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))

    def passage_dates(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, dates) of every passage in key order: its document's date as a day number
        (``date.toordinal``), -1 for an undated document; what date filters select from."""
        rows = (
            self.conn()
            .execute("SELECT p.key, d.date FROM passages p JOIN documents d ON d.id = p.doc_id ORDER BY p.key")
            .fetchall()
        )
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        days = np.fromiter((day_number(r[1]) for r in rows), dtype=np.int64, count=len(rows))
        return keys, days

    def passage_facts(self, keys: Sequence[int] | None = None) -> PassageFacts:
        """The document, language and day (as :meth:`passage_dates`) of every passage, or of those
        of ``keys`` that exist, in key order: what a shard filters with (embeddings/shards.py)."""
        sql = "SELECT p.key, p.doc_id, p.lang, d.date FROM passages p JOIN documents d ON d.id = p.doc_id"
        if keys is None:
            rows = self.conn().execute(sql + " ORDER BY p.key").fetchall()
        else:
            rows = sorted(self._keyed_rows(sql + " WHERE p.key IN ({keys})", keys))
        return PassageFacts(
            keys=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            doc_ids=[r[1] for r in rows],
            langs=np.asarray([r[2] for r in rows], dtype=LANG_DTYPE),
            days=np.fromiter((day_number(r[3]) for r in rows), dtype=np.int64, count=len(rows)),
        )

    def document_dates(self, keys: Sequence[int]) -> dict[int, str | None]:
        """The date of each of these passages' documents (None: undated)."""
        sql = "SELECT p.key, d.date FROM passages p JOIN documents d ON d.id = p.doc_id WHERE p.key IN ({keys})"
        return dict(self._keyed_rows(sql, keys))

    def passage_documents(self, keys: Sequence[int]) -> dict[int, str]:
        """The document id of each of these passages that still exists."""
        return dict(self._keyed_rows("SELECT key, doc_id FROM passages WHERE key IN ({keys})", keys))

    def document_passages(self, doc_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The passage keys of each of these documents, in order (absent: no such document)."""
        found: dict[str, list[int]] = {}
        sql = "SELECT doc_id, key FROM passages WHERE doc_id IN ({keys}) ORDER BY doc_id, ordinal"
        for doc_id, key in self._keyed_rows(sql, doc_ids):
            found.setdefault(doc_id, []).append(key)
        return {doc_id: np.asarray(keys, dtype=np.int64) for doc_id, keys in found.items()}

    def document_cards(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, str | None, str]]:
        """(title, date, language) of each of these documents that exists."""
        rows = self._keyed_rows("SELECT id, title, date, lang FROM documents WHERE id IN ({keys})", doc_ids)
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def passages_by_key(self, keys: Sequence[int]) -> dict[int, PassageRow]:
        """The passages with these keys, with their documents' metadata."""
        sql = (
            'SELECT p.key, p.id, p.doc_id, p.ordinal, p.lang, p.text, p.start, p."end", p.sentences, '
            "p.sentence_vectors, d.title, d.date, d.lang FROM passages p JOIN documents d ON d.id = p.doc_id "
            "WHERE p.key IN ({keys})"
        )
        return {row[0]: self._row(row) for row in self._keyed_rows(sql, keys)}

    def _row(self, row: tuple) -> PassageRow:
        vectors = np.frombuffer(row[9], dtype=np.float16).reshape(-1, self.dimension)
        return PassageRow(
            key=row[0],
            id=row[1],
            doc_id=row[2],
            ordinal=row[3],
            lang=row[4],
            text=row[5],
            start=row[6],
            end=row[7],
            sentences=[tuple(s) for s in orjson.loads(row[8])],
            sentence_vectors=vectors,
            title=row[10],
            date=row[11],
            doc_lang=row[12],
        )

    def lexical_search(
        self,
        expression: str,
        limit: int,
        langs: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        dates: tuple[str | None, str | None] = (None, None),
    ) -> list[tuple[int, float]]:
        """(key, BM25 score) of the best ``limit`` passages matching an FTS5 expression, best first,
        within the filters (``dates``: an inclusive ISO range, either end open; a range keeps only
        dated documents)."""
        clauses, params = ["lexical MATCH ?"], [expression]
        if langs:
            clauses.append(f"p.lang IN ({','.join('?' * len(langs))})")
            params += list(langs)
        if doc_ids:
            clauses.append(f"p.doc_id IN ({','.join('?' * len(doc_ids))})")
            params += list(doc_ids)
        date_from, date_to = dates
        if date_from is not None:  # ISO dates compare as text; NULL (undated) never passes
            clauses.append("d.date >= ?")
            params.append(date_from)
        if date_to is not None:
            clauses.append("d.date <= ?")
            params.append(date_to)
        join = " JOIN passages p ON p.key = lexical.rowid" if langs or doc_ids or any(dates) else ""
        join += " JOIN documents d ON d.id = p.doc_id" if any(dates) else ""
        rows = (
            self.conn()
            .execute(
                f"SELECT lexical.rowid, bm25(lexical) FROM lexical{join} WHERE {' AND '.join(clauses)} "
                "ORDER BY bm25(lexical) LIMIT ?",
                [*params, limit],
            )
            .fetchall()
        )
        return [(int(key), -float(score)) for key, score in rows]  # FTS5's bm25() is negated

    def passage_key(self, passage_id: str) -> int | None:
        row = self.conn().execute("SELECT key FROM passages WHERE id = ?", (passage_id,)).fetchone()
        return int(row[0]) if row else None

    def passage_lang(self, key: int) -> str | None:
        row = self.conn().execute("SELECT lang FROM passages WHERE key = ?", (int(key),)).fetchone()
        return row[0] if row else None

    def passage_ids(self, keys: Sequence[int]) -> dict[int, str]:
        """The user-facing ids of the passages with these keys, in one query."""
        if not len(keys):
            return {}
        sql = f"SELECT key, id FROM passages WHERE key IN ({','.join('?' * len(keys))})"
        return dict(self.conn().execute(sql, [int(k) for k in keys]).fetchall())

    def neighbours(self, doc_id: str, ordinal: int) -> tuple[str | None, str | None]:
        """Ids of the passages before and after this one in its document."""
        rows = (
            self.conn()
            .execute(
                "SELECT ordinal, id FROM passages WHERE doc_id = ? AND ordinal IN (?, ?)",
                (doc_id, ordinal - 1, ordinal + 1),
            )
            .fetchall()
        )
        by_ordinal = dict(rows)
        return by_ordinal.get(ordinal - 1), by_ordinal.get(ordinal + 1)

    def list_documents(self, lang: str | None, limit: int, offset: int) -> tuple[int, list[dict]]:
        """(total, one page of documents) in id order, optionally of one language."""
        where, params = ("WHERE d.lang = ?", [lang]) if lang else ("", [])
        total = self.conn().execute(f"SELECT count(*) FROM documents d {where}", params).fetchone()[0]
        rows = (
            self.conn()
            .execute(
                "SELECT d.id, d.title, d.date, d.lang, (SELECT count(*) FROM passages p WHERE p.doc_id = d.id) "
                f"FROM documents d {where} ORDER BY d.id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            .fetchall()
        )
        keys = ("id", "title", "date", "lang", "passages")
        return int(total), [dict(zip(keys, row, strict=True)) for row in rows]

    def documents(self, source: str | None = None) -> Iterator[Document]:
        """Every document as it was indexed (of this ``source`` only, e.g. "api"), in the order
        they were written: what a re-index builds from."""
        where, params = ("WHERE source = ?", [source]) if source is not None else ("", [])
        sql = f"SELECT id, title, date, lang, text, source FROM documents {where} ORDER BY rowid"
        for row in self.conn().execute(sql, params):
            yield Document(id=row[0], title=row[1], date=row[2], lang=row[3], text=row[4], source=row[5])

    def document(self, doc_id: str) -> dict | None:
        """A document's metadata and its passages in order."""
        conn = self.conn()
        row = conn.execute("SELECT id, title, date, lang, source FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        passages = conn.execute(
            'SELECT id, ordinal, lang, text, start, "end" FROM passages WHERE doc_id = ? ORDER BY ordinal', (doc_id,)
        ).fetchall()
        keys = ("passage_id", "ordinal", "lang", "text", "start", "end")
        return dict(zip(("id", "title", "date", "lang", "source"), row, strict=True)) | {
            "passages": [dict(zip(keys, p, strict=True)) for p in passages]
        }

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One read transaction on this thread's connection: every read inside sees the store as
        it was at the first (WAL keeps that state for it while writers go on)."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def versions(self) -> tuple[int, int]:
        """(the current vector snapshot's version, the latest change's version), in one read. The
        changes a snapshot holds are dropped with it, so the latest is never below the snapshot."""
        row = (
            self.conn()
            .execute("SELECT (SELECT value FROM meta WHERE name = 'snapshot'), (SELECT max(version) FROM changes)")
            .fetchone()
        )
        snapshot = int(row[0] or 0)
        return snapshot, max(snapshot, int(row[1] or 0))

    def live_keys(self) -> np.ndarray:
        """The key of every passage, in key order."""
        return self.keys_matching(None, None)

    def article_keys(self) -> np.ndarray:
        """The article key of every document (its first passage's key), in key order."""
        rows = self.conn().execute("SELECT key FROM passages WHERE ordinal = 0 ORDER BY key").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_after(self, key: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of up to ``limit`` passages with keys above ``key``, in key order: a
        whole index read a slice at a time (inside :meth:`reading` for one consistent state)."""
        sql = "SELECT key, vector FROM passages WHERE key > ? ORDER BY key LIMIT ?"
        return self._keys_and_vectors(self.conn().execute(sql, (int(key), limit)).fetchall())

    def changes_since(self, version: int) -> list[tuple[int, str, int]]:
        return (
            self.conn()
            .execute("SELECT version, op, key FROM changes WHERE version > ? ORDER BY version", (version,))
            .fetchall()
        )

    def _keyed_rows(self, sql: str, keys: Iterable[int | str]) -> list[tuple]:
        """The rows of ``sql``, whose ``{keys}`` stands for an IN-list, over ``keys`` (passage keys
        or document ids) in chunks."""
        keys = [k if isinstance(k, str) else int(k) for k in keys]
        rows: list[tuple] = []
        for lo in range(0, len(keys), IN_LIST_CHUNK):
            chunk = keys[lo : lo + IN_LIST_CHUNK]
            rows += self.conn().execute(sql.format(keys=",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def _matrix(self, blobs: Iterable[bytes]) -> np.ndarray:
        """Stored float32 vectors as one (n x dim) matrix."""
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, self.dimension)

    def _keys_and_vectors(self, rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), self._matrix(r[1] for r in rows)

    def vectors_by_key(self, keys: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of those passages that still exist."""
        return self._keys_and_vectors(self._keyed_rows("SELECT key, vector FROM passages WHERE key IN ({keys})", keys))

    def article_vectors(self, keys: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(article keys, article vectors) of every document, or of those whose first passage is
        among ``keys``. A document's article key is the key of its first passage."""
        sql = "SELECT p.key, d.vector FROM passages p JOIN documents d ON d.id = p.doc_id WHERE p.ordinal = 0"
        if keys is None:
            return self._keys_and_vectors(self.conn().execute(sql).fetchall())
        return self._keys_and_vectors(self._keyed_rows(sql + " AND p.key IN ({keys})", keys))

    def candidates(self, keys: Sequence[int]) -> dict[int, tuple[int, str, str]]:
        """(article key, language, lexical keys) of each of these passages that still exists: what
        the hybrid score needs of a candidate, in one read. The lexical keys come as stored, with a
        space around each (" a b c "): a query's few keys are looked up in that text, which is much
        cheaper than making a set of every candidate's dozens."""
        sql = (
            "SELECT p.key, f.key, p.lang, l.tokens FROM passages p "
            "JOIN passages f ON f.doc_id = p.doc_id AND f.ordinal = 0 JOIN lexical l ON l.rowid = p.key "
            "WHERE p.key IN ({keys})"
        )
        return {key: (article, lang, f" {tokens} ") for key, article, lang, tokens in self._keyed_rows(sql, keys)}

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many passages hold each of these lexical keys (absent: none)."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return {}
        conn = self.conn()
        # A temporary view of the FTS5 index's terms: made per connection, nothing written to the file.
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.lexical_terms USING fts5vocab(main, lexical, 'row')")
        rows = conn.execute(
            f"SELECT term, doc FROM temp.lexical_terms WHERE term IN ({','.join('?' * len(terms))})", terms
        ).fetchall()
        return {term: int(doc) for term, doc in rows}

    def article_passages(self, article_keys: Sequence[int]) -> np.ndarray:
        """The keys of every passage of the documents with these article keys."""
        sql = "SELECT p.key FROM passages f JOIN passages p ON p.doc_id = f.doc_id WHERE f.key IN ({keys})"
        rows = self._keyed_rows(sql, article_keys)
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def passage_vectors(self, langs: Sequence[str] | None, *, by_document_language: bool = False) -> PassageVectors:
        """The passages of ``langs`` (every passage for none) with their vectors, in key order, in one
        query; with ``by_document_language``, the passages of the documents of ``langs`` instead,
        whatever each passage's own language."""
        if by_document_language:
            source, column = "passages p JOIN documents d ON d.id = p.doc_id", "d.lang"
        else:
            source, column = "passages p", "p.lang"
        where = f"WHERE {column} IN ({','.join('?' * len(langs))})" if langs else ""
        sql = f"SELECT p.key, p.id, p.doc_id, p.lang, p.vector FROM {source} {where} ORDER BY p.key"
        rows = self.conn().execute(sql, list(langs or [])).fetchall()
        return PassageVectors(
            keys=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            ids=[r[1] for r in rows],
            doc_ids=[r[2] for r in rows],
            langs=[r[3] for r in rows],
            vectors=self._matrix(r[4] for r in rows),
        )

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of every passage, in key order."""
        return self._keys_and_vectors(self.conn().execute("SELECT key, vector FROM passages ORDER BY key").fetchall())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
