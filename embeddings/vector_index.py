"""The FAISS side of an index directory: which kind of index holds the vectors, and how to search it.

Two kinds, recorded in the manifest:

- ``flat``: exact inner product over every vector (``IndexFlatIP``). The default
  below :data:`AUTO_HNSW_FROM` passages, where scoring everything takes a few milliseconds.
- ``hnsw``: an approximate graph index (``IndexHNSWFlat``) for large corpora. Its
  search effort ``ef_search`` is a setting (``HNSW_EF_SEARCH``) and a per-request parameter:
  more is slower and finds more of the exact top k (README, "Large corpora").

Neither kind is changed in place (:class:`VectorIndex`): a deleted passage is a tombstone, filtered
out of every result (in a graph still a stepping stone for the search), until compaction drops it.
A filter that leaves only a few passages (a document, a small language) is scored
exactly over those passages instead: a graph search would wander through millions of excluded
vectors to find them. A broader filter goes through the graph with the search effort raised in
proportion to what it hides (a filter keeping a third of the passages searches three times as far).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import faiss
import numpy as np

from embeddings import runtime

KINDS = ("flat", "hnsw")
AUTO = "auto"
AUTO_HNSW_FROM = 200_000  # passages; one exact query over 200k vectors of 384 floats: ~25 ms on one core here
HNSW_M = 32  # graph links per vector: 32 keeps recall high at 384 dimensions (README)
HNSW_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 256  # recall@10 0.967 at 1.6 ms over a million vectors; 128 gives 0.90 (README)
MAX_EF_SEARCH = 4096
# A filtered hnsw search whose filter leaves at most this many passages scores them exactly: it
# costs about as much as a graph search and never misses one.
EXACT_FILTER_MAX = 20_000


def choose_kind(requested: str, passages: int) -> str:
    """The kind to build: ``requested``, or under ``auto`` the one that suits ``passages``."""
    if requested == AUTO:
        return "hnsw" if passages >= AUTO_HNSW_FROM else "flat"
    if requested not in KINDS:
        raise ValueError(f"unknown index kind {requested!r}; use {AUTO}, {', '.join(KINDS)}")
    return requested


def new_faiss_index(kind: str, dimension: int) -> faiss.Index:
    """An empty index of ``kind`` over normalised vectors (inner product = cosine), by position."""
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = DEFAULT_EF_SEARCH
        return graph
    return faiss.IndexFlatIP(dimension)


def build_faiss_index(kind: str, vectors: np.ndarray) -> faiss.Index:
    """A new index of ``kind`` holding ``vectors`` at positions 0..n-1, built on every core."""
    index = new_faiss_index(kind, vectors.shape[1])
    add_vectors(index, vectors)
    return index


def add_vectors(index: faiss.Index, vectors: np.ndarray) -> None:
    """Append ``vectors`` to ``index`` (the next positions), on every core."""
    with runtime.faiss_on_every_core():
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))


def describe(kind: str) -> dict:
    """The manifest's record of the kind and its build parameters."""
    record = {"kind": kind, "metric": "inner_product"}
    if kind == "hnsw":
        record |= {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}
    return record


def kind_of(index: faiss.Index) -> str | None:
    """The kind a loaded FAISS index is, or None when it is neither."""
    if isinstance(index, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(index, faiss.IndexFlatIP):
        return "flat"
    return None


def check_ef_search(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EF_SEARCH:
        raise ValueError(f"ef_search must be an integer from 1 to {MAX_EF_SEARCH}")
    return value


class VectorIndex:
    """What a process searches: a snapshot, its tombstones and a delta.

    The *snapshot* is an immutable FAISS file of either kind (positions 0..n-1) with the passage key
    of each position in ascending order (``keys``); both are memory-mapped, so every worker of a
    machine shares one copy in the page cache. Passages written since the snapshot live in the
    *delta*, a small exact index in this process's memory, and a snapshot passage deleted since is a
    *tombstone*, left out of every answer. Compaction (embeddings.compaction) folds both into the
    next snapshot. Keys are never reused, so a delta key is greater than every snapshot key.

    Not thread-safe by itself: :class:`embeddings.index.Index` holds its lock around every call.
    """

    def __init__(self, index: faiss.Index, keys: np.ndarray, kind: str, ef_search: int = DEFAULT_EF_SEARCH) -> None:
        if index.ntotal != len(keys):
            raise ValueError(f"{index.ntotal} vectors but {len(keys)} keys")
        self.faiss = index
        self.keys = keys
        self.kind = kind
        self.ef_search = check_ef_search(ef_search)
        self.dimension = index.d
        self._stored = _stored_vectors(index)  # a view of the (memory-mapped) vectors, by position
        self._first = int(keys[0]) if len(keys) else 0
        self._contiguous = not len(keys) or int(keys[-1]) - self._first + 1 == len(keys)
        self._deleted = np.zeros(len(keys), dtype=bool)  # tombstones, by position
        self._n_deleted = 0
        self._not_deleted: faiss.IDSelector | None = None  # cached selector; rebuilt on delete
        self._delta_keys = np.empty(0, dtype=np.int64)
        self._delta = np.empty((0, self.dimension), dtype=np.float32)

    @property
    def size(self) -> int:
        """How many passages the index answers with (tombstones excluded)."""
        return len(self.keys) - self._n_deleted + len(self._delta_keys)

    @property
    def tombstones(self) -> int:
        return self._n_deleted

    @property
    def delta_size(self) -> int:
        return len(self._delta_keys)

    @property
    def snapshot_max_key(self) -> int:
        """The largest key of the snapshot (-1 when empty): every later key belongs to the delta."""
        return int(self.keys[-1]) if len(self.keys) else -1

    def live_keys(self) -> np.ndarray:
        """Every key the index answers with, in order."""
        return np.sort(np.concatenate([np.asarray(self.keys)[~self._deleted], self._delta_keys]))

    def _positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions, held): the snapshot position of each key, and whether the snapshot holds it."""
        keys = np.asarray(keys, dtype=np.int64)
        if self._contiguous:
            positions = keys - self._first
            return positions, (positions >= 0) & (positions < len(self.keys))
        positions = np.searchsorted(self.keys, keys)
        held = positions < len(self.keys)
        held[held] = self.keys[positions[held]] == keys[held]
        return positions, held

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add passages by key to the delta, replacing any it holds; a key the snapshot holds is
        already there (keys are never reused), so a replay stays exact."""
        keys = np.asarray(keys, dtype=np.int64)
        fresh = ~self._positions(keys)[1]
        keys, vectors = keys[fresh], np.asarray(vectors, dtype=np.float32)[fresh]
        if not len(keys):
            return
        kept = ~np.isin(self._delta_keys, keys)
        delta_keys = np.concatenate([self._delta_keys[kept], keys])
        order = np.argsort(delta_keys, kind="stable")  # in key order, for binary searches
        self._delta_keys, self._delta = delta_keys[order], np.concatenate([self._delta[kept], vectors])[order]

    def remove(self, keys: np.ndarray) -> None:
        """Remove passages by key; keys the index does not hold are ignored."""
        keys = np.asarray(keys, dtype=np.int64)
        positions, held = self._positions(keys)
        positions = positions[held]
        positions = positions[~self._deleted[positions]]
        if len(positions):
            self._deleted[positions] = True
            self._n_deleted += len(np.unique(positions))
            self._not_deleted = faiss.IDSelectorNot(position_selector(self._deleted))
        if len(self._delta_keys):
            kept = ~np.isin(self._delta_keys, keys)
            self._delta_keys, self._delta = self._delta_keys[kept], self._delta[kept]

    def reconstruct(self, key: int) -> np.ndarray | None:
        """The stored vector of ``key``; None when this index does not hold it (a passage another
        thread or process committed after this index last caught up: the store is ahead of it)."""
        held, vectors = self.reconstruct_batch(np.asarray([key], dtype=np.int64))
        return vectors[0] if len(held) else None

    def reconstruct_batch(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(held keys, their vectors): those of ``keys`` this index holds, in the order given."""
        keys = np.asarray(keys, dtype=np.int64)
        positions, held = self._positions(keys)
        live = held.copy()
        live[held] = ~self._deleted[positions[held]]
        vectors = np.empty((len(keys), self.dimension), dtype=np.float32)
        vectors[live] = self._stored[positions[live]]
        in_delta = ~held & within(keys, self._delta_keys)
        if in_delta.any():
            vectors[in_delta] = self._delta[np.searchsorted(self._delta_keys, keys[in_delta])]
        found = live | in_delta
        return keys[found], vectors[found]

    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        ef_search: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` (cosines, keys) for each query row, among ``allowed`` keys when given
        (keys of live passages, sorted). Missing places hold key -1, as in FAISS."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.size)
        if k <= 0 or (allowed is not None and not len(allowed)):
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        scores, keys = self._search_snapshot(queries, k, allowed, ef_search)
        if len(self._delta_keys):
            delta_keys, delta = self._delta_keys, self._delta
            if allowed is not None:
                inside = within(delta_keys, allowed)
                delta_keys, delta = delta_keys[inside], delta[inside]
            scores, keys = _merge(k, scores, keys, *_exact(queries, k, delta, delta_keys))
        return scores, keys

    def _search_snapshot(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, ef_search: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        empty = np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        if not len(self.keys):
            return empty
        if allowed is not None:
            positions, held = self._positions(np.asarray(allowed, dtype=np.int64))
            positions = positions[held]
            if not len(positions):
                return empty
            if self.kind == "hnsw" and len(positions) <= EXACT_FILTER_MAX:
                return _exact(queries, k, self._stored[positions], self.keys[positions])
            mask = np.zeros(len(self.keys), dtype=bool)
            mask[positions] = True
            selector = position_selector(mask)
        else:
            selector = self._not_deleted
        k = min(k, len(self.keys))
        if self.kind == "flat":
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        else:
            # Passages in ``allowed`` are live (they come from the store), so tombstones matter
            # only for an unfiltered search.
            effort = max(self.ef_search if ef_search is None else ef_search, k)
            if allowed is not None:  # a filter hides most of the nodes the search visits: look further
                effort = min(MAX_EF_SEARCH, math.ceil(effort * len(self.keys) / max(len(positions), 1)))
            params = faiss.SearchParametersHNSW(efSearch=effort, sel=selector)
        scores, positions = self.faiss.search(queries, k, params=params)
        return scores, np.where(positions >= 0, self.keys[np.maximum(positions, 0)], -1)


def position_selector(mask: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector of the positions where ``mask`` is true: a bitmap, which at a third of a
    million positions is built ~30 times faster than FAISS's hash-set IDSelectorBatch."""
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # positions past the end: not members
    selector.referenced_bits = bits  # the selector reads this buffer: keep it alive as long
    return selector


def _stored_vectors(index: faiss.Index) -> np.ndarray:
    """The index's vectors as a read-only numpy view (no copy: over a memory-mapped file it stays one)."""
    flat = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    if not index.ntotal:
        return np.empty((0, index.d), dtype=np.float32)
    view = faiss.rev_swig_ptr(flat.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


def within(keys: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Which of ``keys`` are in ``allowed`` (sorted, as Index.filter_keys gives it): a binary search
    per key, where np.isin would sort the whole filter (a million keys) at every query."""
    if not len(allowed):
        return np.zeros(len(keys), dtype=bool)
    places = np.minimum(np.searchsorted(allowed, keys), len(allowed) - 1)
    return allowed[places] == keys


def _exact(queries: np.ndarray, k: int, vectors: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of ``vectors`` (with these ``keys``) for each query, scored exactly."""
    k = min(k, len(keys))
    if k <= 0:
        return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
    scores = (vectors @ queries.T).T  # row-major rows times a vector: a fast gemv, not a transposed gemm
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return np.take_along_axis(scores, top, axis=1), keys[top]


def _merge(
    k: int, scores: np.ndarray, keys: np.ndarray, more_scores: np.ndarray, more_keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two (scores, keys) answers per query as one: the best ``k``, missing places (key -1) last."""
    all_scores = np.concatenate([scores, more_scores], axis=1)
    all_keys = np.concatenate([keys, more_keys], axis=1)
    all_scores = np.where(all_keys >= 0, all_scores, -np.inf)
    order = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
    merged_scores, merged_keys = (
        np.take_along_axis(all_scores, order, axis=1),
        np.take_along_axis(all_keys, order, axis=1),
    )
    return np.where(np.isfinite(merged_scores), merged_scores, -1).astype(np.float32), merged_keys


def kinds_help(choices: Sequence[str] = (AUTO, *KINDS)) -> str:
    return (
        f"FAISS index kind: {', '.join(choices)} (auto: flat below {AUTO_HNSW_FROM:,} passages, "
        "hnsw from there; default from INDEX_KIND, else auto)"
    )
