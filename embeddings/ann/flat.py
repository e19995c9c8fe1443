"""``flat``: exact inner product over every vector (``IndexFlatIP``), the default for small
corpora, where scoring everything takes a few milliseconds."""

from __future__ import annotations

import faiss
import numpy as np

from embeddings.ann.base import Kind


class Flat(Kind):
    name = "flat"

    def new(self, dimension: int, total: int, sample: np.ndarray | None = None) -> faiss.Index:
        return faiss.IndexFlatIP(dimension)

    def holds(self, index: faiss.Index) -> bool:
        return isinstance(index, faiss.IndexFlatIP)

    def full_vectors(self, index: faiss.Index) -> faiss.IndexFlat:
        return index
