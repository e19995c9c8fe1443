"""The SQLite store of an index: documents, passages (text, offsets, sentence spans and vectors).

One connection per thread (SQLite connections must not cross threads); WAL mode so readers in
other processes never block on a writer; ``synchronous=FULL`` so a committed write survives a
power cut or a kill -9.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from embeddings.chunking import Passage
from embeddings.corpus import Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    date TEXT,
    lang TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL
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
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_lang ON passages(lang);
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


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    return conn


def create(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    conn.executescript(SCHEMA)
    return conn


def insert_document(
    conn: sqlite3.Connection,
    doc: Document,
    passages: Sequence[Passage],
    vectors: np.ndarray,
    sentence_vectors: Sequence[np.ndarray],
    first_key: int,
) -> list[int]:
    """Insert a document and its passages (inside the caller's transaction); returns the keys."""
    conn.execute(
        "INSERT INTO documents (id, title, date, lang, source, text) VALUES (?, ?, ?, ?, ?, ?)",
        (doc.id, doc.title, doc.date, doc.lang, doc.source, doc.text),
    )
    keys = list(range(first_key, first_key + len(passages)))
    conn.executemany(
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
                np.asarray(v, dtype=np.float32).tobytes(),
            )
            for key, p, v, sv in zip(keys, passages, vectors, sentence_vectors, strict=True)
        ],
    )
    return keys


class Store:
    """Read access to a store, safe to share between threads."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        self.dimension = dimension
        self._local = threading.local()
        self.conn()  # fail now, not at the first query, if the file is unusable

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

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
        rows = self.conn().execute(f"SELECT key FROM passages WHERE {where}", params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def passages_by_key(self, keys: Sequence[int]) -> dict[int, PassageRow]:
        """The passages with these keys, with their documents' metadata, in one query."""
        if not len(keys):
            return {}
        placeholders = ",".join("?" * len(keys))
        rows = (
            self.conn()
            .execute(
                'SELECT p.key, p.id, p.doc_id, p.ordinal, p.lang, p.text, p.start, p."end", p.sentences, '
                "p.sentence_vectors, d.title, d.date, d.lang FROM passages p JOIN documents d ON d.id = p.doc_id "
                f"WHERE p.key IN ({placeholders})",
                [int(k) for k in keys],
            )
            .fetchall()
        )
        return {row[0]: self._row(row) for row in rows}

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

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of every passage, in key order."""
        rows = self.conn().execute("SELECT key, vector FROM passages ORDER BY key").fetchall()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, self.dimension)
        return keys, vectors

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
