"""Cross-lingual alignment with margin scoring (as in bitext mining).

Plain cosine is a poor judge of "says the same thing" with this model: its cosines are
compressed, and some passages sit close to everything (hubs). The ratio margin of Artetxe &
Schwenk (2019) divides the cosine of a pair by the mean cosine of each side's k nearest
neighbours on the other side::

    margin(x, y) = cos(x, y) / ((mean_kNN_T(x) + mean_kNN_S(y)) / 2)

so a pair counts only when it stands out from both neighbourhoods. A margin above 1 means the
pair is closer than the typical neighbour; translations score clearly above, topical neighbours
near 1.

Two entry points:
- :func:`related_passages` for one passage (the HTTP route): two FAISS searches restricted by
  ID selectors, cheap enough per request;
- :func:`align` for a whole corpus, passage by passage or document by document
  (``scripts/related.py``): every vector loaded once, k-NN in both directions in batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from embeddings import runtime
from embeddings.checks import QueryError, check_languages
from embeddings.index import Index
from embeddings.store import PassageVectors
from embeddings.text import LANGUAGES

DEFAULT_NEIGHBOURS = 4  # k of the margin's neighbourhoods; 4 is the bitext-mining default
# Candidates per source in the corpus-wide jobs: the margin re-ranks them, and on FLORES the
# translation is sometimes below the 4th cosine (the margin then still finds it).
DEFAULT_CANDIDATES = 16
COUNTERPART_LANGUAGES = ("kk", "ru", "en")
# The document margin a counterpart must reach: the best F1 on FLORES dev pseudo-articles with every
# other Russian version left out (`scripts/evaluate.py --only counterparts-dev`; README, "One
# result per article").
COUNTERPART_MIN_MARGIN = 1.005
SEARCH_BATCH = 1024  # query vectors per FAISS call in the corpus-wide jobs
LEVELS = ("passage", "document")  # what align() pairs


class PassageNotFound(LookupError):
    """No passage with that key or id in the index."""


@dataclass
class RelatedPassage:
    key: int
    passage_id: str
    margin: float
    cosine: float


@dataclass
class MarginPair:
    """Two passages (or documents) that say the same thing, as the margin judges them."""

    source_id: str
    target_id: str
    margin: float
    cosine: float

    def as_dict(self) -> dict:
        return {"source_id": self.source_id, "target_id": self.target_id, "margin": self.margin, "cosine": self.cosine}


def ratio_margin(cosine: np.ndarray, source_mean: np.ndarray, target_mean: np.ndarray) -> np.ndarray:
    """``cos / ((mean_kNN(x) + mean_kNN(y)) / 2)``, elementwise (broadcasting)."""
    return cosine / np.maximum((source_mean + target_mean) / 2.0, 1e-6)


def passage_key(index: Index, passage_id: str) -> int:
    """The integer key of the passage with user-facing id ``"<doc_id>:<ordinal>"``."""
    key = index.store.passage_key(passage_id)
    if key is None:
        raise PassageNotFound(f"no passage {passage_id!r} in the index")
    return key


def related_passages(
    index: Index,
    passage_key: int,
    k: int = 5,
    langs: list[str] | None = None,
    *,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> list[RelatedPassage]:
    """Passages that say what passage ``passage_key`` says, best margin first.

    ``langs`` are the target languages (None: every language but the passage's own). The
    forward neighbourhood is the passage's k-NN among the targets; each candidate's backward
    neighbourhood is its k-NN among the passages of the source passage's language. The passage
    itself is never returned. Raises PassageNotFound for an unknown key and QueryError for an
    unknown language code.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise QueryError("k must be a positive integer")
    langs = check_languages(langs)
    index.refresh()
    own_lang = index.store.passage_lang(passage_key)
    if own_lang is None:
        raise PassageNotFound(f"no passage with key {passage_key} in the index")
    targets = langs if langs is not None else [lang for lang in LANGUAGES if lang != own_lang]
    target_keys = index.language_keys(targets)
    target_keys = target_keys[target_keys != passage_key]
    if not len(target_keys):
        return []
    source_keys = index.language_keys([own_lang])

    # A few more candidates than asked for: the margin may promote one from below the top k.
    n_fetch = min(max(2 * k, neighbours), len(target_keys))
    with index.vectors_guard():  # FAISS must not change under a search (writes replay onto it)
        vector = index.vectors.reconstruct(int(passage_key))
        if vector is None:  # committed by another process after the refresh above: catch up once more
            index.refresh()
            vector = index.vectors.reconstruct(int(passage_key))
        if vector is None:  # deleted meanwhile
            raise PassageNotFound(f"no passage with key {passage_key} in the index")
        vector = vector.reshape(1, -1)
        cos, keys = index.vectors.search(vector, n_fetch, target_keys)
        found = keys[0] >= 0
        cos, keys = cos[0][found], keys[0][found]
        if not len(keys):
            return []
        candidates = np.stack([index.vectors.reconstruct(int(key)) for key in keys])
        # source_keys holds the passage itself, so it is never empty and every search is full.
        back_cos, back_keys = index.vectors.search(candidates, min(neighbours, len(source_keys)), source_keys)
    forward_mean = float(cos[: min(neighbours, len(cos))].mean())
    # An approximate (hnsw) search may come back with fewer neighbours than asked: average those found.
    found_back = back_keys >= 0
    backward_mean = np.where(found_back, back_cos, 0.0).sum(axis=1) / np.maximum(found_back.sum(axis=1), 1)

    margins = ratio_margin(cos, forward_mean, backward_mean)
    order = np.argsort(-margins, kind="stable")[:k]
    ids = index.store.passage_ids([int(keys[i]) for i in order])
    return [
        RelatedPassage(
            key=int(keys[i]),
            passage_id=ids[int(keys[i])],
            margin=round(float(margins[i]), 6),
            cosine=round(float(cos[i]), 6),
        )
        for i in order
    ]


# ---------------------------------------------------------------------------------------------
# Corpus-wide alignment


def knn(
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    progress: Callable[[int], None] | None = None,
    exclude_self: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product k-NN of each query row among ``base`` rows: (cosines, row indices).

    With ``exclude_self`` (queries == base), row i never lists itself: a self-match is dropped
    by position, not by score, so an exact copy elsewhere still counts.
    """
    k_fetch = min(k + (1 if exclude_self else 0), len(base))
    if k_fetch == 0 or not len(queries):
        return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(np.ascontiguousarray(base, dtype=np.float32))
    cos_parts, idx_parts = [], []
    with runtime.faiss_on_every_core():
        for lo in range(0, len(queries), SEARCH_BATCH):
            batch = np.ascontiguousarray(queries[lo : lo + SEARCH_BATCH], dtype=np.float32)
            cos, idx = flat.search(batch, k_fetch)
            if exclude_self:
                cos, idx = _drop_self(cos, idx, np.arange(lo, lo + len(batch)), k)
            cos_parts.append(cos)
            idx_parts.append(idx)
            if progress:
                progress(len(batch))
    if not cos_parts:
        width = min(k, max(len(base) - (1 if exclude_self else 0), 0))
        return np.empty((0, width), np.float32), np.empty((0, width), np.int64)
    return np.vstack(cos_parts), np.vstack(idx_parts)


def _drop_self(cos: np.ndarray, idx: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    keep = idx != rows[:, None]
    width = min(k, idx.shape[1] - 1)
    out_cos = np.empty((len(idx), width), dtype=np.float32)
    out_idx = np.empty((len(idx), width), dtype=np.int64)
    for i in range(len(idx)):
        out_cos[i] = cos[i][keep[i]][:width]
        out_idx[i] = idx[i][keep[i]][:width]
    return out_cos, out_idx


def _check_pair(source_lang: str, target_lang: str) -> None:
    check_languages([source_lang, target_lang])
    if source_lang == target_lang:
        raise QueryError("the source and target languages must differ")


@dataclass
class _Neighbourhoods:
    source: PassageVectors
    target: PassageVectors
    fwd_cos: np.ndarray  # (n_source, K): each source row's nearest targets
    fwd_idx: np.ndarray
    bwd_cos: np.ndarray  # (n_target, K): each target row's nearest sources
    bwd_idx: np.ndarray
    fwd_mean: np.ndarray  # mean cosine of the `neighbours` nearest: the margin's denominators
    bwd_mean: np.ndarray


def _neighbourhoods(
    index: Index,
    source_lang: str,
    target_lang: str,
    by_document: bool,
    neighbours: int,
    progress: Callable[[int], None] | None,
    on_total: Callable[[int], None] | None,
) -> _Neighbourhoods:
    _check_pair(source_lang, target_lang)
    if neighbours < 1:
        raise QueryError("neighbours must be at least 1")
    source = index.store.passage_vectors([source_lang], by_document_language=by_document)
    target = index.store.passage_vectors([target_lang], by_document_language=by_document)
    if on_total:
        on_total(len(source.keys) + len(target.keys))
    width = max(neighbours, DEFAULT_CANDIDATES)
    fwd_cos, fwd_idx = knn(source.vectors, target.vectors, width, progress)
    bwd_cos, bwd_idx = knn(target.vectors, source.vectors, width, progress)
    return _Neighbourhoods(
        source,
        target,
        fwd_cos,
        fwd_idx,
        bwd_cos,
        bwd_idx,
        fwd_cos[:, :neighbours].mean(axis=1) if fwd_cos.size else np.zeros(len(source.keys), np.float32),
        bwd_cos[:, :neighbours].mean(axis=1) if bwd_cos.size else np.zeros(len(target.keys), np.float32),
    )


def align(
    index: Index,
    source_lang: str,
    target_lang: str,
    level: str = "passage",
    *,
    neighbours: int = DEFAULT_NEIGHBOURS,
    mutual: bool = False,
    threshold: float | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> list[MarginPair]:
    """For every ``source_lang`` passage (``level`` "passage") or document ("document"), its best
    ``target_lang`` counterpart by margin; the margin's neighbourhoods are the ``neighbours`` nearest.

    ``mutual`` keeps a pair only when the target's own best source is the pair's source;
    ``threshold`` drops pairs whose margin is below it.
    """
    if level not in LEVELS:
        raise QueryError(f"level must be one of {', '.join(LEVELS)}")
    nb = _neighbourhoods(index, source_lang, target_lang, level == "document", neighbours, progress, on_total)
    if not nb.fwd_cos.size:
        return []
    best = _best_documents if level == "document" else _best_passages
    return best(nb, mutual, threshold)


def _best_passages(nb: _Neighbourhoods, mutual: bool, threshold: float | None) -> list[MarginPair]:
    """Each source passage's best target passage. Candidates are its nearest targets
    (``DEFAULT_CANDIDATES`` of them, by cosine), re-ranked by margin; ``mutual`` compares with the
    target's best source by the same margin."""
    fwd_margin = ratio_margin(nb.fwd_cos, nb.fwd_mean[:, None], nb.bwd_mean[nb.fwd_idx])
    best = np.argmax(fwd_margin, axis=1)
    bwd_margin = ratio_margin(nb.bwd_cos, nb.bwd_mean[:, None], nb.fwd_mean[nb.bwd_idx])
    target_best = nb.bwd_idx[np.arange(len(nb.bwd_idx)), np.argmax(bwd_margin, axis=1)]
    pairs = []
    for i, j in enumerate(best):
        t = int(nb.fwd_idx[i, j])
        margin = float(fwd_margin[i, j])
        if mutual and target_best[t] != i:
            continue
        if threshold is not None and margin < threshold:
            continue
        pairs.append(
            MarginPair(nb.source.ids[i], nb.target.ids[t], round(margin, 6), round(float(nb.fwd_cos[i, j]), 6))
        )
    return pairs


def _best_documents(nb: _Neighbourhoods, mutual: bool, threshold: float | None) -> list[MarginPair]:
    """Each source document's best target document, from the passages.

    Candidate documents are those holding one of a passage's nearest passages on the other side
    (in either direction). A pair's score is the mean, over the passages of both documents, of
    each passage's best margin against the other document's passages: two versions of one
    article score high because nearly every paragraph finds its counterpart, while a document
    that only shares one topical paragraph does not. ``cosine`` is the same mean over plain
    cosines. Documents are those whose language (not their passages') is the one asked for.
    """
    source_rows = _rows_by_doc(nb.source.doc_ids)
    target_rows = _rows_by_doc(nb.target.doc_ids)
    candidates: set[tuple[str, str]] = set()
    for i, row in enumerate(nb.fwd_idx):
        candidates.update((nb.source.doc_ids[i], nb.target.doc_ids[int(t)]) for t in row)
    for t, row in enumerate(nb.bwd_idx):
        candidates.update((nb.source.doc_ids[int(i)], nb.target.doc_ids[t]) for i in row)

    scores: dict[tuple[str, str], tuple[float, float]] = {}
    for source_doc, target_doc in candidates:
        s_rows, t_rows = source_rows[source_doc], target_rows[target_doc]
        scores[(source_doc, target_doc)] = document_margin(
            nb.source.vectors[s_rows], nb.target.vectors[t_rows], nb.fwd_mean[s_rows], nb.bwd_mean[t_rows]
        )

    best_for_source: dict[str, tuple[str, float]] = {}
    best_for_target: dict[str, tuple[str, float]] = {}
    for (source_doc, target_doc), (margin, _) in sorted(scores.items()):
        if margin > best_for_source.get(source_doc, ("", -np.inf))[1]:
            best_for_source[source_doc] = (target_doc, margin)
        if margin > best_for_target.get(target_doc, ("", -np.inf))[1]:
            best_for_target[target_doc] = (source_doc, margin)
    pairs = []
    for source_doc in source_rows:  # in index order
        target_doc, margin = best_for_source[source_doc]
        if mutual and best_for_target[target_doc][0] != source_doc:
            continue
        if threshold is not None and margin < threshold:
            continue
        cosine = scores[(source_doc, target_doc)][1]
        pairs.append(MarginPair(source_doc, target_doc, round(margin, 6), round(cosine, 6)))
    return pairs


def document_margin(
    source: np.ndarray, target: np.ndarray, source_mean: np.ndarray, target_mean: np.ndarray
) -> tuple[float, float]:
    """(margin, cosine) of two documents from their passages' vectors and neighbourhood means: the
    mean, over the passages of both, of each passage's best margin (cosine) against the other's."""
    cos = source @ target.T
    margin = ratio_margin(cos, source_mean[:, None], target_mean[None, :])
    n = len(source) + len(target)
    return (
        float((margin.max(axis=1).sum() + margin.max(axis=0).sum()) / n),
        float((cos.max(axis=1).sum() + cos.max(axis=0).sum()) / n),
    )


def _neighbour_means(index: Index, vectors: np.ndarray, among: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    """(cosines, keys, mean of the best ``neighbours``) of each row's ``width`` nearest passages
    among the keys ``among``; an approximate search may find fewer: the mean is over those found."""
    with index.vectors_guard():
        cos, keys = index.vectors.search(vectors, width, among)
    found = keys >= 0
    near = found[:, :DEFAULT_NEIGHBOURS]
    mean = np.where(near, cos[:, :DEFAULT_NEIGHBOURS], 0.0).sum(axis=1) / np.maximum(near.sum(axis=1), 1)
    return cos, keys, mean


def counterparts(index: Index, doc_id: str, min_margin: float = COUNTERPART_MIN_MARGIN) -> list[MarginPair]:
    """The documents in the other languages (kk, ru, en) that report what ``doc_id`` reports: in
    each language the best by the same document margin as ``align(level="document")``, when it
    reaches ``min_margin``; best first. Candidates are the documents holding one of the
    ``DEFAULT_CANDIDATES`` nearest passages of one of its passages; the margin's neighbourhoods
    are computed for these documents alone, so one call costs two FAISS searches per language."""
    store = index.store
    own = store.document_passages([doc_id]).get(doc_id)
    card = store.document_cards([doc_id]).get(doc_id)
    if own is None or card is None:
        return []
    own_lang = card[2]
    own_vectors = _stored(index, own)
    if own_vectors is None:  # rewritten or deleted meanwhile
        return []
    pairs = []
    for lang in COUNTERPART_LANGUAGES:
        targets = index.language_keys([lang])
        if lang == own_lang or not len(targets):
            continue
        _, near, own_mean = _neighbour_means(index, own_vectors, targets, DEFAULT_CANDIDATES)
        doc_of = store.passage_documents(np.unique(near[near >= 0]).tolist())
        named = list(dict.fromkeys(doc_of[key] for key in near.ravel().tolist() if key in doc_of))
        cards = store.document_cards(named)
        candidates = [d for d in named if d != doc_id and cards[d][2] == lang]
        passages = store.document_passages(candidates)
        candidates = [d for d in candidates if d in passages]
        if not candidates:
            continue
        keys = np.concatenate([passages[d] for d in candidates])
        vectors = _stored(index, keys)
        if vectors is None:  # a candidate rewritten or deleted meanwhile: decided at the next ask
            continue
        _, _, means = _neighbour_means(index, vectors, index.language_keys([own_lang]), DEFAULT_NEIGHBOURS)
        scored, start = [], 0
        for d in candidates:
            end = start + len(passages[d])
            margin, cosine = document_margin(own_vectors, vectors[start:end], own_mean, means[start:end])
            scored.append((margin, cosine, d))
            start = end
        margin, cosine, best = max(scored)
        if margin >= min_margin:
            pairs.append(MarginPair(doc_id, best, round(margin, 6), round(cosine, 6)))
    return sorted(pairs, key=lambda pair: -pair.margin)


def _rows_by_doc(doc_ids: Sequence[str]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, doc_id in enumerate(doc_ids):
        rows[doc_id].append(i)
    return rows


def _stored(index: Index, keys: np.ndarray) -> np.ndarray | None:
    """The vectors of these passages, in order; None when the index does not hold them all, even
    after catching up with the store once (a document written or deleted meanwhile)."""
    for attempt in range(2):
        with index.vectors_guard():
            held, vectors = index.vectors.reconstruct_batch(keys)
        if len(held) == len(keys):
            return vectors
        if attempt == 0:
            index.refresh()
    return None
