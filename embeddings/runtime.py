"""The one thread policy of the project: how torch, OpenMP and FAISS share the cores.

- Serving: the encoder gets every core; FAISS runs on one thread. FAISS's OpenMP threads keep
  spinning after a search and slow the next query's encoding on a 2-core machine, and a single
  query's search over a flat index gains nothing from them.
- Batch work (building a graph, corpus-wide k-NN): FAISS on every core for the duration
  (:func:`faiss_on_every_core`), then back to one.
- Bulk work of the service (query batches, document writes): an encoder of its own on half the
  cores (:func:`bulk_threads`, embeddings/bulk.py), so that searches keep the other half.

torch and FAISS share one OpenMP runtime here, so setting FAISS's threads also sets torch's:
every change of FAISS's threads gives torch its own count back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) or os.cpu_count() or 1


def bulk_threads() -> int:
    """Inference threads of the service's bulk encoder: half the cores, at least one."""
    return max(1, cores() // 2)


def _set_faiss_threads(threads: int) -> None:
    import faiss

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    faiss.omp_set_num_threads(threads)
    if torch is not None and torch_threads:
        torch.set_num_threads(torch_threads)


def configure_torch(threads: int | None = None) -> None:
    """Serving policy for a torch encoder: FAISS on one thread, torch on ``threads`` (every core)."""
    import torch

    _set_faiss_threads(1)  # first: where the two share an OpenMP runtime, the last call sets the default
    torch.set_num_threads(threads or cores())


def keep_faiss_single_threaded() -> None:
    """Serving policy for the encoders that do not run on torch: FAISS on one thread, and a torch
    already loaded in this process (the benchmark holds both) keeps its count."""
    _set_faiss_threads(1)


@contextmanager
def faiss_on_every_core() -> Iterator[None]:
    """Batch FAISS work on every core, then the serving setting it found."""
    import faiss

    before = faiss.omp_get_max_threads()
    _set_faiss_threads(cores())
    try:
        yield
    finally:
        _set_faiss_threads(before)
