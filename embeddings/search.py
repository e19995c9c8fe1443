"""Query → ranked passages with their documents' metadata and the best-matching sentence.

Three modes: ``dense`` (the passage's cosine with the query, the bare model), ``lexical`` (BM25
over folded, stemmed words; embeddings/lexical.py) and ``hybrid``, the default: the cosine lifted
toward the passage's article's and boosted by the query's words (embeddings/fusion.py). The
default is the mode that measured best over every evaluation set (README, "Search modes").
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings import alignment, lexical
from embeddings import articles as article_vectors
from embeddings.ann import Effort
from embeddings.ann.hnsw import check_ef_search
from embeddings.ann.ivfpq import check_nprobe
from embeddings.checks import QueryError, check_choice, check_count, check_dates, check_languages
from embeddings.config import Settings
from embeddings.encoders import Encoder, load_encoder
from embeddings.fusion import TUNED, Fusion, article_shift, coverages, hybrid_score, term_weights
from embeddings.index import Index
from embeddings.store import PassageRow
from embeddings.text import detect_language, normalize
from embeddings.vector_index import within

MAX_K = 100
MAX_QUERY_CHARS = 2000
# A query needs one character that is not white space as str.strip() sees it. Spelled out, not \S: the
# regex engines of Python, pydantic (Rust) and JSON Schema (ECMA) each count different characters
# as \s (U+001C-U+001F, U+0085, U+FEFF), and the spec must say exactly what the server accepts.
NOT_BLANK = (
    "[^"
    + "".join(f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in range(sys.maxunicode + 1) if chr(c).isspace())
    + "]"
)
MODES = ("dense", "lexical", "hybrid")
DEFAULT_MODE = "hybrid"  # chosen by the numbers: README, "Search modes"
# The candidates hybrid scores: the best passages by their own cosine and by BM25 in the query's
# language, and every passage of the best articles by theirs (a passage that says little alone
# may belong to the right article).
CANDIDATE_DEPTH = 50
ARTICLE_DEPTH = 10
# Hybrid ranks in rounds of CANDIDATE_DEPTH: a candidate's tier is its place in the dense or
# lexical list // CANDIDATE_DEPTH (article passages: 0), and round t takes the best not yet
# ranked among tiers 0..t. A search D deep (a multiple of CANDIDATE_DEPTH) keeps its first D
# ranks, which any deeper search ranks the same: a later page or a larger k never reorders what
# an earlier one showed, and pages neither repeat nor skip.
MAX_OFFSET = 1000
SORTS = ("relevance", "date")
GROUPS = ("article",)
DEFAULT_PASSAGES_PER_ARTICLE = 2
MAX_PASSAGES_PER_ARTICLE = 5
DATE_SORT_POOL = 10  # sort=date orders the best k × this many matches newest first
# A grouped search ranks this many passages per article it must show, at first, and searches
# twice as deep while too few articles came back, down to MAX_RANK_DEPTH passages.
GROUP_DEPTH_PER_ARTICLE = 5
MAX_RANK_DEPTH = 4000
# How much a sentence's share of the query's words adds to its cosine when picking the highlight:
# cosines of one passage's sentences differ by a few hundredths, so this decides near-ties.
HIGHLIGHT_LEXICAL_WEIGHT = 0.1


@dataclass
class Highlight:
    sentence: str
    start: int  # offsets into the passage text
    end: int
    terms: list[tuple[int, int]]  # the query's words found in the passage, offsets into its text

    def as_dict(self) -> dict:
        return {"sentence": self.sentence, "start": self.start, "end": self.end, "terms": list(self.terms)}


@dataclass
class PassageMatch:
    """Another matching passage of a grouped article."""

    score: float
    passage_id: str
    text: str
    highlight: Highlight

    def as_dict(self) -> dict:
        highlight = self.highlight.as_dict()
        return {"score": self.score, "passage_id": self.passage_id, "text": self.text, "highlight": highlight}


@dataclass
class Counterpart:
    """A document in another language that reports the same story."""

    doc_id: str
    title: str
    date: str | None
    lang: str
    margin: float  # the document margin (embeddings.alignment.counterparts); above 1 stands out

    def as_dict(self) -> dict:
        return dict(vars(self))


GROUP_FIELDS = ("more", "counterparts")  # what a grouped result adds


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
    more: list[PassageMatch] | None = None  # group=article: the article's next best passages
    counterparts: list[Counterpart] | None = None  # group=article: its versions in other languages

    def as_dict(self) -> dict:
        """The JSON form; an ungrouped result has no ``more`` or ``counterparts`` (not null: absent).
        Written out, not dataclasses.asdict, whose deep copies took 0.7 ms of a 6 ms search."""
        out = {name: value for name, value in vars(self).items() if name not in GROUP_FIELDS}
        out["highlight"] = self.highlight.as_dict()
        if self.more is not None:
            out["more"] = [match.as_dict() for match in self.more]
        if self.counterparts is not None:
            out["counterparts"] = [counterpart.as_dict() for counterpart in self.counterparts]
        return out


@dataclass
class SearchResponse:
    query: str
    query_lang: str
    took_ms: float
    offset: int
    has_more: bool  # whether the next page (offset + k) holds results
    results: list[SearchResult]

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "query_lang": self.query_lang,
            "took_ms": self.took_ms,
            "offset": self.offset,
            "has_more": self.has_more,
            "results": [r.as_dict() for r in self.results],
        }


def check_query(query: object, k: object) -> tuple[str, int]:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
    return query, check_count("k", k, 1, MAX_K)


def check_mode(mode: object) -> str:
    return check_choice("mode", mode, MODES)


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
    nprobe: int | None = None  # an ivfpq index's cells scanned; None: the index's setting
    fusion: Fusion | None = None  # the hybrid mode's weights; None: the searcher's
    date_from: str | None = None  # ISO dates, inclusive: keep documents dated in this range
    date_to: str | None = None
    sort: str = "relevance"  # or "date": the best k × DATE_SORT_POOL matches, newest first
    offset: int = 0  # results (articles, when grouped) to skip: the page's start
    group: str | None = None  # "article": one result per document
    passages_per_article: int = DEFAULT_PASSAGES_PER_ARTICLE

    @property
    def effort(self) -> Effort:
        return Effort(self.ef_search, self.nprobe)


@dataclass
class _Plan:
    """One query, checked, with what its ranking needs."""

    request: SearchQuery
    text: str
    k: int
    langs: list[str] | None
    mode: str
    dates: tuple[str | None, str | None]
    fusion: Fusion
    vector: np.ndarray
    lang: str = ""
    terms: list[tuple[str, ...]] = field(default_factory=list)  # the query's words' lexical keys
    allowed: np.ndarray | None = None  # the keys the filters keep; None: every passage

    @property
    def keys(self) -> list[str]:
        """Every lexical key of the query's terms (a name in Latin letters has two)."""
        return [key for term in self.terms for key in term]

    @property
    def needed(self) -> int:
        """Results (or articles) to rank by relevance: the page and one more, to know whether a
        next page exists; sort=date orders a fixed pool, whatever the page."""
        if self.request.sort == "date":
            return self.k * DATE_SORT_POOL
        return self.request.offset + self.k + 1

    def depth(self, passages: int) -> int:
        """How deep the dense and lexical lists go to rank ``passages``: hybrid ranks whole tiers."""
        if self.mode != "hybrid":
            return passages
        return CANDIDATE_DEPTH * math.ceil(passages / CANDIDATE_DEPTH)


class Searcher:
    """Search over one opened index with one encoder; safe to share between threads."""

    def __init__(self, index: Index, encoder: Encoder, fusion: Fusion = TUNED) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion = fusion
        # Counterparts by document, valid while the index is at one version (a write may change them).
        self._counterparts: dict[str, list[Counterpart]] = {}
        self._counterparts_version = -1
        self._counterparts_lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: Path, encoder: Encoder, effort: Effort | None = None, fusion: Fusion = TUNED) -> Searcher:
        """A searcher over the index at ``index_dir``, which must have been built by ``encoder``'s
        model; ``effort``: how far an approximate index searches when a request does not say."""
        return cls(Index(index_dir, encoder.identity, effort), encoder, fusion)

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
        return cls.open(index_dir or settings.index_dir, encoder, settings.effort, settings.fusion)

    def search(
        self,
        query: str,
        k: int = 10,
        langs: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        min_score: float | None = None,
        mode: str = DEFAULT_MODE,
        ef_search: int | None = None,
        **options: object,
    ) -> SearchResponse:
        """One query; ``options`` are the other fields of :class:`SearchQuery` (dates, sort, page, group)."""
        request = SearchQuery(query, k, langs, doc_ids, min_score, mode, ef_search, **options)
        return self.search_many([request])[0]

    def search_many(self, queries: Sequence[SearchQuery], encoder: Encoder | None = None) -> list[SearchResponse]:
        """Answer many queries, those that need the model encoded in one batch, in order;
        ``encoder``: another instance of the index's model to encode them with (the bulk lane's)."""
        started = time.perf_counter()
        encoder = encoder or self.encoder
        plans = self._plan(queries, np.zeros((len(queries), encoder.identity.dimension), dtype=np.float32))
        dense_rows = [i for i, plan in enumerate(plans) if plan.mode != "lexical"]
        if dense_rows:
            vectors = encoder.encode_queries([plans[i].text for i in dense_rows])
            for i, vector in zip(dense_rows, vectors, strict=True):
                plans[i].vector = vector
        return self._answer(plans, started)

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
        responses = self._answer(self._plan(queries, vectors), time.perf_counter())
        return [response.results for response in responses]

    def _plan(self, queries: Sequence[SearchQuery], vectors: np.ndarray) -> list[_Plan]:
        plans = []
        for position, q in enumerate(queries):
            try:
                text, k = check_query(q.query, q.k)
                for value, check in ((q.ef_search, check_ef_search), (q.nprobe, check_nprobe)):
                    if value is not None:
                        try:
                            check(value)
                        except ValueError as exc:
                            raise QueryError(str(exc)) from None
                check_choice("sort", q.sort, SORTS)
                check_count("offset", q.offset, 0, MAX_OFFSET)
                if q.group is not None:
                    check_choice("group", q.group, GROUPS)
                check_count("passages_per_article", q.passages_per_article, 0, MAX_PASSAGES_PER_ARTICLE)
                plans.append(
                    _Plan(
                        request=q,
                        text=normalize(text).strip(),
                        k=k,
                        langs=check_languages(q.langs),
                        mode=check_mode(q.mode),
                        dates=check_dates(q.date_from, q.date_to),
                        fusion=q.fusion or self.fusion,
                        vector=vectors[position],
                    )
                )
            except QueryError as exc:
                if len(queries) == 1:
                    raise
                raise QueryError(f"queries.{position}: {exc}") from None
        return plans

    def _answer(self, plans: list[_Plan], started: float) -> list[SearchResponse]:
        self.index.refresh()
        # Queries with the same filters share one filter and, at the same depth, one FAISS call.
        filters: dict[tuple, np.ndarray | None] = {}
        first_depth: dict[tuple, list[int]] = defaultdict(list)
        for i, plan in enumerate(plans):
            q = plan.request
            key = (tuple(plan.langs or ()), tuple(q.doc_ids or ()), plan.dates)
            if key not in filters:
                filters[key] = self.index.filter_keys(plan.langs, q.doc_ids, plan.dates)
            plan.allowed = filters[key]
            plan.lang = detect_language(plan.text)
            plan.terms = lexical.query_terms(plan.text, plan.lang)
            if plan.mode != "lexical":
                first_depth[(key, plan.depth(self._passages_for(plan)), q.effort)].append(i)
        dense: dict[int, list[tuple[int, float]]] = {}
        for (_, depth, effort), rows in first_depth.items():
            allowed = plans[rows[0]].allowed
            for i, hits in zip(rows, self._dense([plans[i].vector for i in rows], depth, allowed, effort), strict=True):
                dense[i] = hits

        pages = [self._page(plan, dense.get(i)) for i, plan in enumerate(plans)]
        wanted = {key for page, _ in pages for entry in page for key, _ in entry}
        rows = self.index.store.passages_by_key(sorted(wanted))
        grouped = [
            d
            for plan, (page, _) in zip(plans, pages, strict=True)
            if plan.request.group
            for d in self._doc_ids(page, rows)
        ]
        counterparts = self.counterparts(list(dict.fromkeys(grouped))) if grouped else {}
        took = round((time.perf_counter() - started) * 1000, 2)
        responses = []
        for plan, (page, has_more) in zip(plans, pages, strict=True):
            qv = plan.vector if plan.mode != "lexical" else None
            query_keys = set(plan.keys)  # a transliterated name is highlighted too
            results = []
            for entry in page:
                hits = [(key, score) for key, score in entry if key in rows]  # a passage deleted since: left out
                if not hits:
                    continue
                (key, score), more = hits[0], hits[1:]
                result = _result(plan.request.offset + len(results) + 1, score, rows[key], qv, query_keys)
                if plan.request.group:
                    result.more = [_match(s, rows[m], qv, query_keys) for m, s in more]
                    result.counterparts = counterparts.get(result.doc_id, [])
                results.append(result)
            responses.append(
                SearchResponse(
                    query=plan.request.query,
                    query_lang=plan.lang,
                    took_ms=took,
                    offset=plan.request.offset,
                    has_more=has_more,
                    results=results,
                )
            )
        return responses

    @staticmethod
    def _passages_for(plan: _Plan) -> int:
        """Passages to rank, at first, for the results the plan needs."""
        return plan.needed * (GROUP_DEPTH_PER_ARTICLE if plan.request.group else 1)

    @staticmethod
    def _doc_ids(page: list[list[tuple[int, float]]], rows: dict[int, PassageRow]) -> list[str]:
        return [rows[entry[0][0]].doc_id for entry in page if entry and entry[0][0] in rows]

    def _page(self, plan: _Plan, dense: list[tuple[int, float]] | None) -> tuple[list[list[tuple[int, float]]], bool]:
        """The page's entries (each a result's passages: one, or a grouped article's best first)
        and whether more follow."""
        q = plan.request
        passages = self._passages_for(plan)
        while True:
            depth = plan.depth(passages)
            if dense is None and plan.mode != "lexical":
                dense = self._dense([plan.vector], depth, plan.allowed, q.effort)[0]
            ranked, exhausted = self._ranked(plan, dense or [], depth)
            if q.group:
                entries = _by_document(ranked, self.index.store.passage_documents([key for key, _ in ranked]))
            else:
                entries = [[hit] for hit in ranked]
            if len(entries) >= plan.needed or exhausted or depth >= MAX_RANK_DEPTH:
                break
            passages, dense = min(MAX_RANK_DEPTH, 2 * depth), None
        if q.sort == "date":
            entries = entries[: plan.needed]
            dates = self.index.store.document_dates([entry[0][0] for entry in entries])
            entries.sort(key=lambda entry: dates.get(entry[0][0]) or "", reverse=True)  # stable: ties by relevance
        page = entries[q.offset : q.offset + plan.k]
        if q.group:
            page = [entry[: 1 + q.passages_per_article] for entry in page]
        return page, len(entries) > q.offset + plan.k

    def _ranked(self, plan: _Plan, dense: list[tuple[int, float]], depth: int) -> tuple[list[tuple[int, float]], bool]:
        """(key, score) best first, at most ``depth`` of them, above min_score; and whether the
        ranking is exhausted (a deeper one would add nothing)."""
        lexical_hits: list[tuple[int, float]] = []
        expression = lexical.match_expression(plan.keys)
        if expression and (plan.mode == "lexical" or (plan.mode == "hybrid" and plan.fusion.uses_words)):
            lexical_hits = self.index.store.lexical_search(
                expression, depth, plan.langs, plan.request.doc_ids, plan.dates
            )
            if plan.allowed is not None:  # the filter's own keys decide, as for the dense list
                inside = within(np.asarray([key for key, _ in lexical_hits], dtype=np.int64), plan.allowed)
                lexical_hits = [hit for hit, keep in zip(lexical_hits, inside.tolist(), strict=True) if keep]
        if plan.mode == "hybrid":
            ranked = self._fused(plan, dense, lexical_hits)
        else:
            ranked = dense if plan.mode == "dense" else lexical_hits
        exhausted = len(dense if plan.mode != "lexical" else lexical_hits) < depth
        ranked = ranked[:depth]
        min_score = plan.request.min_score
        if min_score is not None:
            kept = [(key, score) for key, score in ranked if score >= min_score]
            exhausted = exhausted or len(kept) < len(ranked)
            ranked = kept
        return ranked, exhausted

    def _cosines(
        self, vector: np.ndarray, keys: list[int], known: list[tuple[int, float]]
    ) -> tuple[list[int], list[float]]:
        """The cosine of each passage with the query: from the dense hits, or from its stored vector;
        a passage whose vector this process has not caught up with yet (written meanwhile) is left out."""
        cosine = dict(known)
        missing = np.asarray([key for key in keys if key not in cosine], dtype=np.int64)
        if len(missing):
            with self.index.vectors_guard():
                held, stored = self.index.vectors.reconstruct_batch(missing)
            cosine |= zip(held.tolist(), (stored @ vector).tolist(), strict=True)
        kept = [key for key in keys if key in cosine]
        return kept, [cosine[key] for key in kept]

    def _fused(
        self, plan: _Plan, hits: list[tuple[int, float]], lexical_hits: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """The dense candidates, the passages of the nearest articles (within the filters) and the
        lexical ones, scored by embeddings.fusion and ranked in tiers (see CANDIDATE_DEPTH);
        passages of equal score in the order of their own cosine."""
        store, fusion, vector = self.index.store, plan.fusion, plan.vector
        # The tier in which each candidate enters: by its place in the dense and lexical lists.
        tier: dict[int, int] = {}
        for place, (key, _) in enumerate(hits):
            tier.setdefault(key, place // CANDIDATE_DEPTH)
        for place, (key, _) in enumerate(lexical_hits):
            tier[key] = min(tier.get(key, place // CANDIDATE_DEPTH), place // CANDIDATE_DEPTH)
        if fusion.article_weight > 0:
            with self.index.vectors_guard():
                nearest = article_vectors.nearest(self.index.articles, vector, ARTICLE_DEPTH)
            extra = store.article_passages(nearest.tolist())
            if plan.allowed is not None:
                extra = extra[within(extra, plan.allowed)]
            for key in extra.tolist():
                tier[key] = 0
        known = store.candidates(list(tier))
        keys = [key for key in tier if key in known]  # a passage deleted since is left out
        keys, cosines = self._cosines(vector, keys, hits)
        if not keys:
            return []
        passage_cosines = np.asarray(cosines, dtype=np.float32)
        tiers = np.asarray([tier[key] for key in keys])
        covered = np.zeros_like(passage_cosines)
        if fusion.uses_words and plan.terms:
            passages = self.index.vectors.size  # the IDFs' N (an hnsw index counts its tombstones too)
            weights = term_weights(plan.terms, store.document_frequencies(plan.keys), passages)
            covered = coverages(weights, [known[key][2] for key in keys])
        same_language = np.asarray([known[key][1] == plan.lang for key in keys], dtype=bool)
        article_cosines, shift = np.zeros_like(passage_cosines), 0.0
        if fusion.article_weight > 0:
            article_of = [known[key][0] for key in keys]
            distinct = list(dict.fromkeys(article_of))
            with self.index.vectors_guard():
                distinct_cosines = article_vectors.cosines(self.index.articles, vector, distinct)
            cosine_of = dict(zip(distinct, distinct_cosines.tolist(), strict=True))
            article_cosines = np.asarray([cosine_of[a] for a in article_of], dtype=np.float32)
            first = tiers == 0  # the shift comes from the first tier alone: a deeper search keeps it
            first_articles = np.asarray([cosine_of[a] for a in dict.fromkeys(np.asarray(article_of)[first].tolist())])
            shift = article_shift(passage_cosines[first], first_articles)
        scores = hybrid_score(passage_cosines, article_cosines, shift, covered, same_language, fusion)
        order = np.lexsort((-passage_cosines, -scores))
        ranked: list[tuple[int, float]] = []
        taken = np.zeros(len(keys), dtype=bool)
        # Round t ranks the best CANDIDATE_DEPTH not yet ranked among tiers 0..t, until none is left
        # (the article passages, all tier 0, may outnumber one round).
        t = 0
        while not taken.all():
            pool = order[(tiers[order] <= t) & ~taken[order]][:CANDIDATE_DEPTH]
            taken[pool] = True
            ranked += [(keys[i], float(scores[i])) for i in pool]
            t += 1
        return ranked

    def _dense(
        self, vectors: Sequence[np.ndarray], k: int, allowed: np.ndarray | None, effort: Effort
    ) -> list[list[tuple[int, float]]]:
        """(key, cosine) lists for each of ``vectors``, among the keys ``allowed`` (None: all).

        Filters run inside the vector search (embeddings.vector_index), so a filter never costs
        recall the way over-fetching and dropping would.
        """
        with self.index.vectors_guard():
            scores, keys = self.index.vectors.search(np.stack(vectors), k, allowed, effort)
        return [
            [(int(key), float(score)) for score, key in zip(row_scores, row_keys, strict=True) if key >= 0]
            for row_scores, row_keys in zip(scores, keys, strict=True)
        ]

    def counterparts(self, doc_ids: Sequence[str]) -> dict[str, list[Counterpart]]:
        """The documents in other languages that report what each of ``doc_ids`` reports
        (embeddings.alignment.counterparts), computed at first ask and kept until the next write."""
        with self._counterparts_lock:
            if self._counterparts_version != self.index.applied_version:
                self._counterparts, self._counterparts_version = {}, self.index.applied_version
            missing = [d for d in doc_ids if d not in self._counterparts]
        found = {d: alignment.counterparts(self.index, d) for d in missing}
        cards = self.index.store.document_cards([p.target_id for pairs in found.values() for p in pairs])
        with self._counterparts_lock:
            for doc_id, pairs in found.items():
                self._counterparts[doc_id] = [
                    Counterpart(p.target_id, *cards[p.target_id], margin=p.margin)
                    for p in pairs
                    if p.target_id in cards
                ]
            return {d: self._counterparts[d] for d in doc_ids}


def _by_document(ranked: list[tuple[int, float]], doc_of: dict[int, str]) -> list[list[tuple[int, float]]]:
    """The ranked passages grouped by document, documents in the order of their best passage."""
    groups: dict[str, list[tuple[int, float]]] = {}
    for key, score in ranked:
        if key in doc_of:
            groups.setdefault(doc_of[key], []).append((key, score))
    return list(groups.values())


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


def _match(score: float, row: PassageRow, query_vector: np.ndarray | None, query_keys: set[str]) -> PassageMatch:
    return PassageMatch(
        score=round(score, 6), passage_id=row.id, text=row.text, highlight=highlight(row, query_vector, query_keys)
    )
