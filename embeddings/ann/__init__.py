"""FAISS index kinds: flat (exact), hnsw (a graph, to a few million passages) and ivfpq
(compressed cells, re-ranked exactly, for tens of millions).

:mod:`.base` spells out what a kind must do, each kind is a sibling module importing only it,
and :mod:`.factory` lists them. This module adds what every build does with any kind: make one
over a set of vectors (drawing its training sample), and describe it for the manifest.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import faiss
import numpy as np

from embeddings import runtime
from embeddings.ann.base import METRIC, Effort, Kind, flat_view
from embeddings.ann.factory import AUTO, AUTO_HNSW_FROM, AUTO_IVFPQ_FROM, KINDS, choose_kind, kind, kind_of, kinds_help

__all__ = [
    "AUTO",
    "AUTO_HNSW_FROM",
    "AUTO_IVFPQ_FROM",
    "KINDS",
    "Effort",
    "Kind",
    "add_vectors",
    "build_faiss_index",
    "choose_kind",
    "describe",
    "flat_view",
    "kind",
    "kind_of",
    "kinds_help",
    "training_sample",
]

SAMPLE_SEED = 20  # the training sample is drawn the same way at every build of the same vectors


def training_sample(kind_name: str, vectors: np.ndarray) -> np.ndarray | None:
    """The rows of ``vectors`` the kind trains on (a seeded uniform draw), or None when it needs none."""
    size = kind(kind_name).training_size(len(vectors))
    if not size:
        return None
    rows = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(vectors), size, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def build_faiss_index(kind_name: str, vectors: np.ndarray, every_core: bool = True) -> faiss.Index:
    """A new index of ``kind_name`` holding ``vectors`` at positions 0..n-1, built on every core
    (``every_core`` False: on FAISS's current threads, as background compaction does)."""
    with _threads(every_core):
        index = kind(kind_name).new(vectors.shape[1], len(vectors), training_sample(kind_name, vectors))
    add_vectors(index, vectors, every_core)
    return index


def add_vectors(index: faiss.Index, vectors: np.ndarray, every_core: bool = True) -> None:
    """Append ``vectors`` to ``index`` (the next positions), on every core unless ``every_core`` is False."""
    with _threads(every_core):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))


def _threads(every_core: bool) -> AbstractContextManager:
    return runtime.faiss_on_every_core() if every_core else nullcontext()


def describe(kind_name: str, index: faiss.Index) -> dict:
    """The manifest's record of an index: its kind, metric and build parameters."""
    return {"kind": kind_name, "metric": METRIC} | kind(kind_name).parameters(index)
