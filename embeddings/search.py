"""Query → ranked passages with their documents' metadata and the best-matching sentence.

Three modes: ``dense`` (the passage's cosine with the query, the bare model), ``lexical`` (BM25
over folded, stemmed words; embeddings/lexical.py) and ``hybrid``, the default: the cosine lifted
toward the passage's article's and boosted by the query's words (embeddings/fusion.py). The
default is the mode that measured best over every evaluation set (README, "Search modes").
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embeddings import lexical
from embeddings.config import Settings
from embeddings.encoders import Encoder, load_encoder
from embeddings.fusion import TUNED, Fusion, article_shift, coverage, hybrid_score, term_weights
from embeddings.index import Index
from embeddings.store import PassageRow
from embeddings.text import LANGUAGES, detect_language, normalize
from embeddings.vector_index import DEFAULT_EF_SEARCH, check_ef_search

MAX_K = 100
MAX_QUERY_CHARS = 2000
NOT_BLANK = r"\S"  # a query needs one character that is not white space (as a regex for schemas)
MODES = ("dense", "lexical", "hybrid")
DEFAULT_MODE = "hybrid"  # chosen by the numbers: README, "Search modes"
# The candidates hybrid scores: the best passages by their own cosine and by BM25 in the query's
# language, and every passage of the best articles by theirs (a passage that says little alone
# may belong to the right article).
CANDIDATE_DEPTH = 50
ARTICLE_DEPTH = 10
# How much a sentence's share of the query's words adds to its cosine when picking the highlight:
# cosines of one passage's sentences differ by a few hundredths, so this decides near-ties.
HIGHLIGHT_LEXICAL_WEIGHT = 0.1


class QueryError(ValueError):
    """The request itself is wrong (empty query, k out of range, unknown language)."""


@dataclass
class Highlight:
    sentence: str
    start: int  # offsets into the passage text
    end: int
    terms: list[tuple[int, int]]  # the query's words found in the passage, offsets into its text


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


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; use {', '.join(MODES)}")
    return mode


def highlight(row: PassageRow, query_vector: np.ndarray | None, query_keys: set[str]) -> Highlight:
    """The passage's best sentence by both signals, and the query's words found in the passage."""
    spans = lexical.token_spans(row.text, row.lang)
    terms = [(start, end) for start, end, key in spans if key in query_keys]
    sentences = row.sentences or [(0, len(row.text))]
    scores = np.zeros(len(sentences), dtype=np.float32)
    if query_vector is not None and len(row.sentence_vectors) == len(sentences):
        scores += row.sentence_vectors.astype(np.float32) @ query_vector
    if query_keys:
        for i, (start, end) in enumerate(sentences):
            found = {key for s, e, key in spans if start <= s and e <= end and key in query_keys}
            scores[i] += HIGHLIGHT_LEXICAL_WEIGHT * len(found) / len(query_keys)
    start, end = sentences[int(np.argmax(scores))]
    return Highlight(sentence=row.text[start:end], start=start, end=end, terms=terms)


@dataclass
class SearchQuery:
    query: str
    k: int = 10
    langs: Sequence[str] | None = None
    doc_ids: Sequence[str] | None = None
    min_score: float | None = None
    mode: str = DEFAULT_MODE
    ef_search: int | None = None  # an hnsw index's search effort; None: the index's setting
    fusion: Fusion | None = None  # the hybrid mode's weights; None: the searcher's


class Searcher:
    """Search over one opened index with one encoder; safe to share between threads."""

    def __init__(self, index: Index, encoder: Encoder, fusion: Fusion = TUNED) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion = fusion

    @classmethod
    def open(
        cls, index_dir: Path, encoder: Encoder, ef_search: int = DEFAULT_EF_SEARCH, fusion: Fusion = TUNED
    ) -> Searcher:
        """A searcher over the index at ``index_dir``, which must have been built by ``encoder``'s model."""
        return cls(Index(index_dir, encoder.identity, ef_search), encoder, fusion)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        index_dir: Path | None = None,
        model: str | None = None,
        engine: str = "local",
        ray_address: str | None = None,
    ) -> Searcher:
        """The model and index the settings name (the service, the scripts); arguments override them."""
        encoder = load_encoder(model or settings.model, settings.backend, engine=engine, ray_address=ray_address)
        return cls.open(index_dir or settings.index_dir, encoder, settings.ef_search, settings.fusion)

    def search(
        self,
        query: str,
        k: int = 10,
        langs: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        min_score: float | None = None,
        mode: str = DEFAULT_MODE,
        ef_search: int | None = None,
    ) -> SearchResponse:
        return self.search_many([SearchQuery(query, k, langs, doc_ids, min_score, mode, ef_search)])[0]

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResponse]:
        """Answer many queries, those that need the model encoded in one batch, in order."""
        started = time.perf_counter()
        checked = self._check(queries)
        vectors = np.zeros((len(queries), self.encoder.identity.dimension), dtype=np.float32)
        dense_rows = [i for i, c in enumerate(checked) if c[3] != "lexical"]
        if dense_rows:
            vectors[dense_rows] = self.encoder.encode_queries([checked[i][0] for i in dense_rows])
        return self._answer(queries, checked, vectors, started)

    def search_encoded(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        k: int,
        langs: Sequence[str] | None = None,
        mode: str = DEFAULT_MODE,
        fusion: Fusion | None = None,
    ) -> list[list[SearchResult]]:
        """Results for queries whose vectors are already made: bulk jobs encode once and then
        search in several modes, weights or indexes."""
        queries = [SearchQuery(text, k, langs, mode=mode, fusion=fusion) for text in texts]
        responses = self._answer(queries, self._check(queries), vectors, time.perf_counter())
        return [response.results for response in responses]

    def _check(self, queries: Sequence[SearchQuery]) -> list[tuple[str, int, list[str] | None, str]]:
        checked = []
        for position, q in enumerate(queries):
            try:
                text, k = check_query(q.query, q.k)
                if q.ef_search is not None:
                    try:
                        check_ef_search(q.ef_search)
                    except ValueError as exc:
                        raise QueryError(str(exc)) from None
                checked.append((normalize(text).strip(), k, check_languages(q.langs), check_mode(q.mode)))
            except QueryError as exc:
                if len(queries) == 1:
                    raise
                raise QueryError(f"queries.{position}: {exc}") from None
        return checked

    def _answer(
        self,
        queries: Sequence[SearchQuery],
        checked: list[tuple[str, int, list[str] | None, str]],
        vectors: np.ndarray,
        started: float,
    ) -> list[SearchResponse]:
        self.index.refresh()
        dense_hits: dict[int, list[tuple[int, float]]] = {}
        allowed_keys: dict[int, np.ndarray | None] = {}
        # Queries with the same filters and depth share one FAISS call and one filter.
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, (_, k, langs, mode) in enumerate(checked):
            if mode != "lexical":
                depth = k if mode == "dense" else max(k, CANDIDATE_DEPTH)
                groups[(depth, tuple(langs or ()), tuple(queries[i].doc_ids or ()), queries[i].ef_search)].append(i)
        for (depth, langs, doc_ids, ef_search), rows in groups.items():
            allowed = self.index.filter_keys(langs, doc_ids)
            for i, hits in zip(rows, self._dense(vectors[rows], depth, allowed, ef_search), strict=True):
                dense_hits[i], allowed_keys[i] = hits, allowed

        ranked: list[list[tuple[int, float]]] = []
        query_keys: list[set[str]] = []
        query_langs: list[str] = []
        for i, (text, k, langs, mode) in enumerate(checked):
            query_langs.append(detect_language(text))
            keys = lexical.tokens(text, query_langs[-1])
            query_keys.append(set(keys))
            lexical_hits: list[tuple[int, float]] = []
            expression = lexical.match_expression(keys)
            fusion = queries[i].fusion or self.fusion
            if expression and (mode == "lexical" or (mode == "hybrid" and fusion.uses_words)):
                depth = k if mode == "lexical" else max(k, CANDIDATE_DEPTH)
                lexical_hits = self.index.store.lexical_search(expression, depth, langs, queries[i].doc_ids)
            if mode == "hybrid":
                hits = self._fused(
                    vectors[i], dense_hits[i], lexical_hits, keys, query_langs[-1], fusion, allowed_keys[i]
                )
            else:
                hits = dense_hits[i] if mode == "dense" else lexical_hits
            min_score = queries[i].min_score
            ranked.append([(key, score) for key, score in hits if min_score is None or score >= min_score][:k])

        rows = self.index.store.passages_by_key(sorted({key for hits in ranked for key, _ in hits}))
        took = round((time.perf_counter() - started) * 1000, 2)
        responses = []
        for i, (q, (_, _, _, mode), hits) in enumerate(zip(queries, checked, ranked, strict=True)):
            qv = vectors[i] if mode != "lexical" else None
            results = [
                _result(rank, score, rows[key], qv, query_keys[i])
                for rank, (key, score) in enumerate((h for h in hits if h[0] in rows), 1)
            ]
            responses.append(SearchResponse(query=q.query, query_lang=query_langs[i], took_ms=took, results=results))
        return responses

    def _cosines(self, vector: np.ndarray, keys: list[int], known: list[tuple[int, float]]) -> list[float]:
        """The cosine of each passage with the query: from the dense hits, or from its stored vector."""
        cosine = dict(known)
        with self.index.lock:
            return [
                cosine[key] if key in cosine else float(self.index.vectors.reconstruct(key) @ vector) for key in keys
            ]

    def _fused(
        self,
        vector: np.ndarray,
        hits: list[tuple[int, float]],
        lexical_hits: list[tuple[int, float]],
        query_keys: list[str],
        query_lang: str,
        fusion: Fusion,
        allowed: np.ndarray | None,
    ) -> list[tuple[int, float]]:
        """The dense candidates, the passages of the nearest articles (within ``allowed``, the
        filter's keys; None: every passage) and the lexical ones, scored by embeddings.fusion,
        best first; passages of equal score in the order of their own cosine."""
        store = self.index.store
        candidates = [key for key, _ in hits]
        if fusion.article_weight > 0:
            with self.index.lock:
                nearest = self.index.articles.nearest(vector, ARTICLE_DEPTH)
            extra = store.article_passages(nearest.tolist())
            if allowed is not None:
                extra = extra[np.isin(extra, allowed)]
            candidates += extra.tolist()
        candidates = list(dict.fromkeys(candidates + [key for key, _ in lexical_hits]))
        known = store.candidates(candidates)
        keys = [key for key in candidates if key in known]  # a passage deleted since is left out
        if not keys:
            return []
        passage_cosines = np.asarray(self._cosines(vector, keys, hits), dtype=np.float32)
        coverages = np.zeros_like(passage_cosines)
        if fusion.uses_words and query_keys:
            passages = self.index.vectors.size  # the IDFs' N (an hnsw index counts its tombstones too)
            weights = term_weights(query_keys, store.document_frequencies(query_keys), passages)
            coverages[:] = [coverage(weights, known[key][2]) for key in keys]
        same_language = np.asarray([known[key][1] == query_lang for key in keys], dtype=bool)
        article_cosines, shift = np.zeros_like(passage_cosines), 0.0
        if fusion.article_weight > 0:
            articles = [known[key][0] for key in keys]
            distinct = list(dict.fromkeys(articles))
            with self.index.lock:
                distinct_cosines = self.index.articles.cosines(vector, distinct)
            cosine_of = dict(zip(distinct, distinct_cosines.tolist(), strict=True))
            article_cosines = np.asarray([cosine_of[a] for a in articles], dtype=np.float32)
            shift = article_shift(passage_cosines, distinct_cosines)
        scores = hybrid_score(passage_cosines, article_cosines, shift, coverages, same_language, fusion)
        order = np.lexsort((-passage_cosines, -scores))
        return [(keys[i], float(scores[i])) for i in order]

    def _dense(
        self, vectors: np.ndarray, k: int, allowed: np.ndarray | None, ef_search: int | None
    ) -> list[list[tuple[int, float]]]:
        """(key, cosine) lists for each row of ``vectors``, among the keys ``allowed`` (None: all).

        Filters run inside the vector search (embeddings.vector_index), so a filter never costs
        recall the way over-fetching and dropping would.
        """
        with self.index.lock:
            scores, keys = self.index.vectors.search(vectors, k, allowed, ef_search)
        return [
            [(int(key), float(score)) for score, key in zip(row_scores, row_keys, strict=True) if key >= 0]
            for row_scores, row_keys in zip(scores, keys, strict=True)
        ]


def _result(
    rank: int, score: float, row: PassageRow, query_vector: np.ndarray | None, query_keys: set[str]
) -> SearchResult:
    return SearchResult(
        rank=rank,
        score=round(score, 6),
        passage_id=row.id,
        doc_id=row.doc_id,
        title=row.title,
        date=row.date,
        lang=row.lang,
        text=row.text,
        highlight=highlight(row, query_vector, query_keys),
    )
