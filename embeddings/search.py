"""Query → ranked passages with their documents' metadata and the best-matching sentence."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import faiss
import numpy as np

from embeddings.encoder import Encoder
from embeddings.index import Index
from embeddings.store import PassageRow
from embeddings.text import LANGUAGES, detect_language, normalize

MAX_K = 100
MAX_QUERY_CHARS = 2000


class QueryError(ValueError):
    """The request itself is wrong (empty query, k out of range, unknown language)."""


@dataclass
class Highlight:
    sentence: str
    start: int  # offsets into the passage text
    end: int


@dataclass
class SearchResult:
    rank: int
    score: float
    passage_id: str
    doc_id: str
    title: str
    date: str | None
    lang: str
    text: str
    highlight: Highlight

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResponse:
    query: str
    query_lang: str
    took_ms: float
    results: list[SearchResult]

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "query_lang": self.query_lang,
            "took_ms": self.took_ms,
            "results": [r.as_dict() for r in self.results],
        }


def check_languages(langs: Sequence[str] | None) -> list[str] | None:
    if not langs:
        return None
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise QueryError(f"unknown language code(s) {', '.join(map(repr, unknown))}; use {', '.join(LANGUAGES)}")
    return list(dict.fromkeys(langs))


def check_query(query: object, k: object) -> tuple[str, int]:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}")
    return query, k


def best_sentence(row: PassageRow, query_vector: np.ndarray) -> Highlight:
    scores = row.sentence_vectors.astype(np.float32) @ query_vector
    start, end = row.sentences[int(np.argmax(scores))] if len(row.sentences) else (0, len(row.text))
    return Highlight(sentence=row.text[start:end], start=start, end=end)


@dataclass
class SearchQuery:
    query: str
    k: int = 10
    langs: Sequence[str] | None = None
    doc_ids: Sequence[str] | None = None
    min_score: float | None = None


class Searcher:
    """Search over one opened index with one encoder; safe to share between threads."""

    def __init__(self, index: Index, encoder: Encoder) -> None:
        self.index = index
        self.encoder = encoder

    def search(
        self,
        query: str,
        k: int = 10,
        langs: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        min_score: float | None = None,
    ) -> SearchResponse:
        return self.search_many([SearchQuery(query, k, langs, doc_ids, min_score)])[0]

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResponse]:
        """Answer many queries, encoded in one batch, in order."""
        started = time.perf_counter()
        checked = []
        for position, q in enumerate(queries):
            try:
                text, k = check_query(q.query, q.k)
                checked.append((normalize(text).strip(), k, check_languages(q.langs)))
            except QueryError as exc:
                if len(queries) == 1:
                    raise
                raise QueryError(f"queries.{position}: {exc}") from None
        vectors = self.encoder.encode_queries([text for text, _, _ in checked])
        answers: list[list[SearchResult]] = [[] for _ in queries]
        # Queries with the same filters share one FAISS call.
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, (q, (_, k, langs)) in enumerate(zip(queries, checked, strict=True)):
            key = (k, tuple(langs or ()), tuple(q.doc_ids or ()), q.min_score)
            groups[key].append(i)
        for (k, langs, doc_ids, min_score), rows in groups.items():
            found = self.search_vectors(vectors[rows], k, list(langs), list(doc_ids), min_score)
            for i, results in zip(rows, found, strict=True):
                answers[i] = results
        took = round((time.perf_counter() - started) * 1000, 2)
        return [
            SearchResponse(query=q.query, query_lang=detect_language(text), took_ms=took, results=results)
            for q, (text, _, _), results in zip(queries, checked, answers, strict=True)
        ]

    def search_vectors(
        self,
        vectors: np.ndarray,
        k: int,
        langs: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        min_score: float | None = None,
    ) -> list[list[SearchResult]]:
        """Results for each row of ``vectors`` (encoded queries).

        Filters run inside FAISS (an ID selector over the allowed passages), so a filter never
        costs recall the way over-fetching and dropping would.
        """
        self.index.refresh()
        params = None
        if langs or doc_ids:
            allowed = self.index.store.keys_matching(langs, doc_ids)
            if not len(allowed):
                return [[] for _ in range(len(vectors))]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        with self.index.lock:
            k_eff = min(k, self.index.faiss.ntotal)
            if k_eff == 0:
                return [[] for _ in range(len(vectors))]
            scores, keys = self.index.faiss.search(vectors, k_eff, params=params)
        wanted = sorted({int(key) for key in keys.ravel() if key >= 0})
        rows = self.index.store.passages_by_key(wanted)
        out: list[list[SearchResult]] = []
        for q, (row_scores, row_keys) in enumerate(zip(scores, keys, strict=True)):
            results: list[SearchResult] = []
            for score, key in zip(row_scores, row_keys, strict=True):
                row = rows.get(int(key))
                if key < 0 or row is None or (min_score is not None and score < min_score):
                    continue
                results.append(
                    SearchResult(
                        rank=len(results) + 1,
                        score=round(float(score), 6),
                        passage_id=row.id,
                        doc_id=row.doc_id,
                        title=row.title,
                        date=row.date,
                        lang=row.lang,
                        text=row.text,
                        highlight=best_sentence(row, vectors[q]),
                    )
                )
            out.append(results)
        return out
