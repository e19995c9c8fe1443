"""What a process searches: a vector snapshot of any FAISS index kind, its tombstones and a delta.

The kinds themselves (flat, hnsw, ivfpq: how each is made, recorded and searched) are in
:mod:`embeddings.ann`. Neither kind is changed in place (:class:`VectorIndex`): a deleted passage
is a tombstone, filtered out of every result (in a graph still a stepping stone for the search),
until compaction drops it. A filter that leaves only a few passages (a document, a small
language) is scored exactly over those passages when the kind asks for it
(``Kind.exact_filter_max``): an approximate search would wander through millions of excluded
vectors to find them. A broader filter goes through the approximate search, told the share of
passages it keeps.
"""

from __future__ import annotations

import weakref

import faiss
import numpy as np

from embeddings.ann import Effort, flat_view, kind

FILTERS_KEPT = 8  # recent filters whose selectors are kept: a few languages and their pairs
_SnapshotFilter = tuple[np.ndarray, "faiss.IDSelector | None"]


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

    def __init__(self, index: faiss.Index, keys: np.ndarray, kind_name: str, effort: Effort | None = None) -> None:
        if index.ntotal != len(keys):
            raise ValueError(f"{index.ntotal} vectors but {len(keys)} keys")
        self.faiss = index
        self.keys = keys
        self.kind = kind_name
        self._kind = kind(kind_name)
        self.effort = effort or Effort()  # the search effort of a request that names none
        self.dimension = index.d
        self._stored = flat_view(self._kind.full_vectors(index))  # the (memory-mapped) full vectors, by position
        self._first = int(keys[0]) if len(keys) else 0
        self._contiguous = not len(keys) or int(keys[-1]) - self._first + 1 == len(keys)
        self._deleted = np.zeros(len(keys), dtype=bool)  # tombstones, by position
        self._n_deleted = 0
        self._not_deleted: faiss.IDSelector | None = None  # cached selector; rebuilt on delete
        self._delta_keys = np.empty(0, dtype=np.int64)
        self._delta = np.empty((0, self.dimension), dtype=np.float32)
        # The snapshot side of recent filters, by the filter's array: a language's keys are one
        # array until the next write (Index.language_keys), and remaking its selector costs more
        # than the search at ten million (a mask of every position, at every query). An entry
        # lives as long as its array: one replaced after a write, or a one-off document or date
        # filter, takes its entry (tens of MB at ten million) with it.
        self._filters: dict[int, tuple[weakref.ref, _SnapshotFilter]] = {}

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
        effort: Effort | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` (cosines, keys) for each query row, among ``allowed`` keys when given
        (keys of live passages, sorted), searching as far as ``effort`` says (None, or a None
        field: this index's setting). Missing places hold key -1, as in FAISS."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.size)
        if k <= 0 or (allowed is not None and not len(allowed)):
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        effort = effort or Effort()
        effort = Effort(
            effort.ef_search or self.effort.ef_search,
            effort.nprobe or self.effort.nprobe,
            effort.rerank or self.effort.rerank,
        )
        scores, keys = self._search_snapshot(queries, k, allowed, effort)
        if len(self._delta_keys):
            delta_keys, delta = self._delta_keys, self._delta
            if allowed is not None:
                inside = within(delta_keys, allowed)
                delta_keys, delta = delta_keys[inside], delta[inside]
            scores, keys = _merge(k, scores, keys, *_exact(queries, k, delta, delta_keys))
        return scores, keys

    def _search_snapshot(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, effort: Effort
    ) -> tuple[np.ndarray, np.ndarray]:
        empty = np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        if not len(self.keys):
            return empty
        kept_share = 1.0
        if allowed is not None:
            positions, selector = self._snapshot_filter(allowed)
            if not len(positions):
                return empty
            if selector is None:
                return _exact(queries, k, self._stored[positions], self.keys[positions])
            kept_share = len(positions) / len(self.keys)
        else:
            selector = self._not_deleted
        k = min(k, len(self.keys))
        params = self._kind.search_parameters(self.faiss, effort, k, selector, kept_share)
        scores, positions = self.faiss.search(queries, k, params=params)
        return scores, np.where(positions >= 0, self.keys[np.maximum(positions, 0)], -1)

    def _snapshot_filter(self, allowed: np.ndarray) -> _SnapshotFilter:
        """The snapshot positions of the ``allowed`` keys, and their FAISS selector (None when so few
        that they are scored exactly). Passages in ``allowed`` are live (they come from the store),
        so tombstones matter only for an unfiltered search."""
        # Keyed by id: an entry goes when its array does, before another array can take the id.
        cached = self._filters.pop(id(allowed), None)
        if cached is not None:
            self._filters[id(allowed)] = cached  # the most recent last
            return cached[1]
        positions, held = self._positions(np.asarray(allowed, dtype=np.int64))
        positions = positions[held]
        if len(positions) <= self._kind.exact_filter_max:
            return positions, None  # cheap to find again
        mask = np.zeros(len(self.keys), dtype=bool)
        mask[positions] = True
        selector = position_selector(mask)
        if len(self._filters) >= FILTERS_KEPT:
            self._filters.pop(next(iter(self._filters)))  # the least recently used
        key, filters = id(allowed), self._filters
        filters[key] = (weakref.ref(allowed, lambda _: filters.pop(key, None)), (positions, selector))
        return positions, selector


def position_selector(mask: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector of the positions where ``mask`` is true: a bitmap, which at a third of a
    million positions is built ~30 times faster than FAISS's hash-set IDSelectorBatch."""
    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # positions past the end: not members
    selector.referenced_bits = bits  # the selector reads this buffer: keep it alive as long
    return selector


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
