"""The FAISS side of an index directory: which kind of index holds the vectors, and how to search it.

Two kinds, recorded in the manifest:

- ``flat``: exact inner product over every vector (``IndexIDMap2(IndexFlatIP)``). The default
  below :data:`AUTO_HNSW_FROM` passages, where scoring everything takes a few milliseconds.
- ``hnsw``: an approximate graph index (``IndexIDMap2(IndexHNSWFlat)``) for large corpora. Its
  search effort ``ef_search`` is a setting (``HNSW_EF_SEARCH``) and a per-request parameter:
  more is slower and finds more of the exact top k (README, "Large corpora").

HNSW cannot remove vectors, so a deleted passage of an ``hnsw`` index is a tombstone: it stays in
the graph (still a stepping stone for the search) and is filtered out of every result. A rebuild
drops them. A filter that leaves only a few passages (a document, a small language) is scored
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
    """An empty index of ``kind`` over normalised vectors (inner product = cosine), keyed by passage key."""
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = DEFAULT_EF_SEARCH
        return faiss.IndexIDMap2(graph)
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def build_faiss_index(kind: str, vectors: np.ndarray, keys: np.ndarray) -> faiss.Index:
    """A new index of ``kind`` holding ``vectors`` under ``keys``, built on every core."""
    index = new_faiss_index(kind, vectors.shape[1])
    with runtime.faiss_on_every_core():
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(keys, dtype=np.int64))
    return index


def describe(kind: str) -> dict:
    """The manifest's record of the kind and its build parameters."""
    record = {"kind": kind, "metric": "inner_product"}
    if kind == "hnsw":
        record |= {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}
    return record


def key_selector(keys: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector of ``keys``: a bitmap over the key range, which at a third of a million
    keys is built ~30 times faster than FAISS's hash-set IDSelectorBatch and answers as fast."""
    if not len(keys):
        return faiss.IDSelectorNot(faiss.IDSelectorAll())
    mask = np.zeros(int(keys.max()) + 1, dtype=bool)
    mask[keys] = True
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # keys past the end: not members
    selector.referenced_bits = bits  # the selector reads this buffer: keep it alive as long
    return selector


def kind_of(index: faiss.Index) -> str | None:
    """The kind a loaded FAISS index is, or None when it is neither."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
    if isinstance(inner, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(inner, faiss.IndexFlatIP):
        return "flat"
    return None


def check_ef_search(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EF_SEARCH:
        raise ValueError(f"ef_search must be an integer from 1 to {MAX_EF_SEARCH}")
    return value


class VectorIndex:
    """A loaded FAISS index of either kind, with deletes and search effort handled per kind.

    Not thread-safe by itself: :class:`embeddings.index.Index` holds its lock around every call.
    """

    def __init__(self, index: faiss.Index, kind: str, ef_search: int = DEFAULT_EF_SEARCH) -> None:
        self.faiss = index
        self.kind = kind
        self.ef_search = check_ef_search(ef_search)
        self.dimension = self.faiss.d
        self._tombstones: set[int] = set()
        self._not_deleted: faiss.IDSelector | None = None  # cached selector; rebuilt on delete

    @property
    def size(self) -> int:
        """How many passages the index answers with (tombstones excluded)."""
        return self.faiss.ntotal - len(self._tombstones)

    @property
    def tombstones(self) -> int:
        return len(self._tombstones)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add passages by key, replacing any the index already holds (so a replay stays exact)."""
        keys = np.asarray(keys, dtype=np.int64)
        if self.kind == "flat":
            self.faiss.remove_ids(faiss.IDSelectorBatch(keys))
        else:  # a graph cannot drop a vector: skip the ones already there
            new = ~self._present(keys)
            keys, vectors = keys[new], vectors[new]
        if len(keys):
            self.faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), keys)

    def remove(self, keys: np.ndarray) -> None:
        """Remove passages by key; keys not in the index are ignored."""
        keys = np.asarray(keys, dtype=np.int64)
        if self.kind == "flat":
            self.faiss.remove_ids(faiss.IDSelectorBatch(keys))
            return
        keys = keys[self._present(keys)]
        if not len(keys):
            return
        self._tombstones.update(keys.tolist())
        deleted = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
        self._not_deleted = faiss.IDSelectorNot(key_selector(deleted))

    def _present(self, keys: np.ndarray) -> np.ndarray:
        """Which of ``keys`` the FAISS index holds (a scan of its key list: for rare paths only)."""
        return np.isin(keys, faiss.vector_to_array(self.faiss.id_map))

    def reconstruct(self, key: int) -> np.ndarray | None:
        """The stored vector of ``key``; None when this index does not hold it (a passage another
        thread or process committed after this index last caught up: the store is ahead of it)."""
        try:
            return self.faiss.reconstruct(int(key))
        except RuntimeError:  # FAISS: "key ... not found"
            return None

    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        ef_search: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` (cosines, keys) for each query row, among ``allowed`` keys when given
        (keys of live passages). Missing places hold key -1, as in FAISS."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.faiss.ntotal)
        if k <= 0 or (allowed is not None and not len(allowed)):
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        if self.kind == "hnsw" and allowed is not None and len(allowed) <= EXACT_FILTER_MAX:
            return self._exact(queries, k, np.asarray(allowed, dtype=np.int64))
        selector = key_selector(np.asarray(allowed, dtype=np.int64)) if allowed is not None else None
        if self.kind == "flat":
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        else:
            # Passages in ``allowed`` are live (they come from the store), so tombstones matter
            # only for an unfiltered search.
            selector = selector if selector is not None else self._not_deleted
            effort = max(self.ef_search if ef_search is None else ef_search, k)
            if allowed is not None:  # a filter hides most of the nodes the search visits: look further
                effort = min(MAX_EF_SEARCH, math.ceil(effort * self.faiss.ntotal / len(allowed)))
            params = faiss.SearchParametersHNSW(efSearch=effort, sel=selector)
        return self.faiss.search(queries, k, params=params)

    def _exact(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            vectors = self.faiss.reconstruct_batch(allowed)
        except RuntimeError:  # a passage committed to the store after this index last caught up
            allowed = allowed[self._present(allowed)]
            if not len(allowed):
                return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
            vectors = self.faiss.reconstruct_batch(allowed)
        scores = (vectors @ queries.T).T  # row-major rows times a vector: a fast gemv, not a transposed gemm
        k = min(k, len(allowed))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(scores, top, axis=1), allowed[top]


def kinds_help(choices: Sequence[str] = (AUTO, *KINDS)) -> str:
    return (
        f"FAISS index kind: {', '.join(choices)} (auto: flat below {AUTO_HNSW_FROM:,} passages, "
        "hnsw from there; default from INDEX_KIND, else auto)"
    )
