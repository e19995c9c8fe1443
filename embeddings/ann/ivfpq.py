"""``ivfpq``: FAISS IVF with product quantisation, re-ranked exactly, for tens of millions of
passages on one machine.

The vectors are cut into ``nlist`` cells by k-means; a search scans the ``nprobe`` cells nearest
the query over compact PQ codes (FAISS's SIMD "fast scan" layout, 4 bits per sub-vector of 3
dimensions), takes
the best :data:`DEFAULT_RERANK` candidates (or ``k`` when more are asked for) and scores them
again exactly from the full vectors
(``IndexRefineFlat``). Both parts live in one FAISS file that a worker maps read-only, so in
memory it costs only the pages a search touches: the codes and cell lists are about
:data:`PQ_BYTES` + 8 bytes a vector, the full vectors 4 bytes a dimension, on disk.

The cells and codebooks are trained at build time on a sample of the corpus (up to
:data:`TRAIN_PER_CELL` vectors a cell); compaction adds new passages to the trained cells and
keeps the training, so a corpus that grows far past the one trained on is best re-indexed
(``scripts/build_index.py --reindex``), which trains anew. ``nprobe`` is a setting
(``IVF_NPROBE``) and a per-request parameter, like hnsw's ``ef_search``.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from embeddings.ann.base import Effort, Kind

PQ_BYTES = 64  # code bytes a vector at 384 dimensions: 128 sub-vectors of 3 dimensions, 4 bits each
TRAIN_PER_CELL = 32  # k-means sample per cell: FAISS suggests 39; 32 keeps training at 10M within minutes here
MIN_CELLS, MAX_CELLS = 1, 65_536
# Measured over 10M generated vectors (README, "Large corpora"): the codes' error, not the cells,
# limits recall there, so past 256 cells only a deeper re-rank finds more of the exact top 10.
# The cells are found by scanning every centroid: an HNSW graph of them measured slower at 16,384
# cells (p50 18.4 ms against 7.9) and lost recall (0.944 against 0.951).
DEFAULT_NPROBE = 512  # recall@10 0.951 with DEFAULT_RERANK, p50 7.9 ms on one core (256: 0.949, 5.3 ms)
DEFAULT_RERANK = 4000  # candidates scored exactly: 1000 gives 0.837, 2000 0.905
MAX_NPROBE = 4096


def check_nprobe(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NPROBE:
        raise ValueError(f"nprobe must be an integer from 1 to {MAX_NPROBE}")
    return value


def cells_for(total: int) -> int:
    """``nlist`` for ``total`` vectors: the power of two nearest 4·√total (FAISS's guideline is
    4·√n to 16·√n; the low end keeps k-means within minutes on 2 cores at ten million)."""
    if total < 1:
        return MIN_CELLS
    return int(min(MAX_CELLS, max(MIN_CELLS, 2 ** round(math.log2(4 * math.sqrt(total))))))


def sub_vectors(dimension: int) -> int:
    """PQ sub-vectors: of 3 dimensions where they divide evenly (384 → 128, 64 bytes a vector at
    4 bits), else 4, else 2; fast scan needs an even number of them."""
    for width in (3, 4, 2):
        if dimension % width == 0 and (dimension // width) % 2 == 0:
            return dimension // width
    raise ValueError(f"no PQ layout for dimension {dimension}: it must be even")


class IVFPQ(Kind):
    name = "ivfpq"
    grows_in_place = True
    exact_filter_max = 20_000  # as hnsw: scoring these few exactly costs less than scanning cells
    min_vectors = 16  # a codebook of 4 bits has 16 centroids to train

    def training_size(self, total: int) -> int:
        return min(total, max(TRAIN_PER_CELL * cells_for(total), 256))

    def new(self, dimension: int, total: int, sample: np.ndarray | None = None) -> faiss.Index:
        if sample is None or not len(sample):
            raise ValueError("an ivfpq index is trained on a sample of its vectors: none given")
        nlist = min(cells_for(total), len(sample))
        base = faiss.index_factory(dimension, f"IVF{nlist},PQ{sub_vectors(dimension)}x4fs", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(base).cp.min_points_per_centroid = TRAIN_PER_CELL  # FAISS warns below 39
        base.train(np.ascontiguousarray(sample, dtype=np.float32))
        return faiss.IndexRefineFlat(base)

    def empty_like(self, index: faiss.Index) -> faiss.Index:
        cells = faiss.clone_index(index.base_index)  # the trained cells and codebooks, and the codes
        cells.reset()
        return faiss.IndexRefineFlat(cells)

    def parameters(self, index: faiss.Index) -> dict:
        ivf = faiss.extract_index_ivf(index.base_index)
        pq = faiss.downcast_index(ivf).pq
        return {
            "nlist": int(ivf.nlist),
            "pq_m": int(pq.M),
            "pq_bits": int(pq.nbits),
            "rerank": "flat",
        }

    def holds(self, index: faiss.Index) -> bool:
        return isinstance(index, faiss.IndexRefineFlat)

    def full_vectors(self, index: faiss.Index) -> faiss.IndexFlat:
        return faiss.downcast_index(index.refine_index)

    def search_parameters(
        self, index: faiss.Index, effort: Effort, k: int, selector: faiss.IDSelector | None, kept_share: float
    ) -> faiss.SearchParameters:
        cells = faiss.SearchParametersIVF(nprobe=effort.nprobe or DEFAULT_NPROBE, sel=selector)
        rerank = effort.rerank or DEFAULT_RERANK
        params = faiss.IndexRefineSearchParameters(k_factor=max(1.0, rerank / k), base_index_params=cells)
        params.referenced_cells = cells  # FAISS keeps a bare pointer: keep the object alive as long
        return params
