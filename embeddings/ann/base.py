"""The contract of a FAISS index kind: what the rest of the project may ask of one.

A kind is a class beside this module that imports only this module (and FAISS, numpy): how to
make an empty index of it, what the manifest records about it, how to recognise a loaded one,
where its full vectors are and which parameters a search takes. :mod:`embeddings.vector_index`
searches any kind through this contract; :mod:`embeddings.ann.factory` lists them.

Every kind holds normalised vectors by position (0..n-1, inner product = cosine) and keeps the
full float32 vectors readable in place (a numpy view, memory-mapped when the file is), so a
filter that leaves a few passages, a delta merge or a re-rank can score them exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import faiss
import numpy as np

METRIC = "inner_product"


@dataclass(frozen=True)
class Effort:
    """How far an approximate search looks, in each kind's own terms; None: the index's setting.
    A kind reads only its own field (a flat index, neither)."""

    ef_search: int | None = None  # hnsw: candidates kept while walking the graph
    nprobe: int | None = None  # ivfpq: cells scanned
    rerank: int | None = None  # ivfpq: candidates scored exactly (the bench sweeps it)


class Kind(ABC):
    """One FAISS index kind. Instances hold no state: one per kind, shared."""

    name: ClassVar[str]
    # Compaction may add the delta to a copy of the previous snapshot's index (a graph, trained
    # lists), rather than building it anew from every vector.
    grows_in_place: ClassVar[bool] = False
    # A filter leaving at most this many passages is scored exactly over them instead: an
    # approximate search would wade through everything the filter hides. 0: never.
    exact_filter_max: ClassVar[int] = 0
    # The fewest vectors a build of this kind can be made from (a kind that trains needs a sample).
    min_vectors: ClassVar[int] = 0

    def training_size(self, total: int) -> int:
        """How many sample vectors :meth:`new` needs to make an index for ``total`` vectors (0: none)."""
        return 0

    @abstractmethod
    def new(self, dimension: int, total: int, sample: np.ndarray | None = None) -> faiss.Index:
        """An empty index ready to ``add`` about ``total`` vectors, trained on ``sample`` (drawn
        from them, :meth:`training_size` rows) when the kind needs training."""

    def empty_like(self, index: faiss.Index) -> faiss.Index:
        """An empty index built as ``index`` was (its training kept), for compaction to fill anew."""
        return self.new(index.d, index.ntotal)

    def parameters(self, index: faiss.Index) -> dict:
        """The build parameters the manifest records beside the kind and metric."""
        return {}

    @abstractmethod
    def holds(self, index: faiss.Index) -> bool:
        """Whether a loaded FAISS index is of this kind."""

    @abstractmethod
    def full_vectors(self, index: faiss.Index) -> faiss.IndexFlat:
        """The flat index inside ``index`` that stores its full vectors by position."""

    def search_parameters(
        self, index: faiss.Index, effort: Effort, k: int, selector: faiss.IDSelector | None, kept_share: float
    ) -> faiss.SearchParameters | None:
        """FAISS's parameters for a search of ``index`` for the top ``k``, with ``effort``
        resolved (a None field: the kind's default), among the positions ``selector`` keeps
        (None: all), which are ``kept_share`` of them."""
        return faiss.SearchParameters(sel=selector) if selector is not None else None


def flat_view(flat: faiss.IndexFlat) -> np.ndarray:
    """A flat index's vectors as a read-only numpy view (no copy: over a mapped file it stays one)."""
    if not flat.ntotal:
        return np.empty((0, flat.d), dtype=np.float32)
    view = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
    view.flags.writeable = False
    return view
