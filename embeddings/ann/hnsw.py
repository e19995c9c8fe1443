"""``hnsw``: an approximate graph index (``IndexHNSWFlat``) for large corpora. Its search effort
``ef_search`` is a setting (``HNSW_EF_SEARCH``) and a per-request parameter: more is slower and
finds more of the exact top k (README, "Large corpora"). A deleted passage stays in the graph as
a stepping stone, filtered out of answers, until compaction rebuilds it."""

from __future__ import annotations

import math

import faiss
import numpy as np

from embeddings.ann.base import Effort, Kind

M = 32  # graph links per vector: 32 keeps recall high at 384 dimensions (README)
EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 256  # recall@10 0.967 at 1.6 ms over a million vectors; 128 gives 0.90 (README)
MAX_EF_SEARCH = 4096


def check_ef_search(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EF_SEARCH:
        raise ValueError(f"ef_search must be an integer from 1 to {MAX_EF_SEARCH}")
    return value


class HNSW(Kind):
    name = "hnsw"
    grows_in_place = True
    # Scoring 20,000 passages exactly costs about as much as a graph search and never misses one.
    exact_filter_max = 20_000

    def new(self, dimension: int, total: int, sample: np.ndarray | None = None) -> faiss.Index:
        graph = faiss.IndexHNSWFlat(dimension, M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EF_CONSTRUCTION
        graph.hnsw.efSearch = DEFAULT_EF_SEARCH
        return graph

    def parameters(self, index: faiss.Index) -> dict:
        return {"M": M, "ef_construction": EF_CONSTRUCTION}

    def holds(self, index: faiss.Index) -> bool:
        return isinstance(index, faiss.IndexHNSWFlat)

    def full_vectors(self, index: faiss.Index) -> faiss.IndexFlat:
        return faiss.downcast_index(index.storage)

    def search_parameters(
        self, index: faiss.Index, effort: Effort, k: int, selector: faiss.IDSelector | None, kept_share: float
    ) -> faiss.SearchParameters:
        ef = max(effort.ef_search or DEFAULT_EF_SEARCH, k)
        if kept_share < 1:  # a filter hides most of the nodes the search visits: look further, in proportion
            ef = min(MAX_EF_SEARCH, math.ceil(ef / max(kept_share, 1e-9)))
        return faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
