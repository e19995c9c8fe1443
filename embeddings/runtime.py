"""The one thread policy of the project: how torch, OpenMP and FAISS share the cores.

- Serving: the encoder gets every core; FAISS runs on one thread. FAISS's OpenMP threads keep
  spinning after a search and slow the next query's encoding on a 2-core machine, and a single
  query's search over a flat index gains nothing from them.
- Batch work (building a graph, corpus-wide k-NN): FAISS on every core for the duration
  (:func:`faiss_on_every_core`), then back to one.
- Bulk work of the service (query batches, document writes): an encoder of its own on half the
  cores (:func:`bulk_threads`, embeddings/bulk.py), so that searches keep the other half; it and
  background compaction run on threads at the lowest priority (:func:`yield_this_thread_to_searches`).

torch and FAISS share one OpenMP runtime here, so setting FAISS's threads also sets torch's:
every change of FAISS's threads gives torch its own count back.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) or os.cpu_count() or 1


BACKGROUND_NICE = 19


def yield_this_thread_to_searches() -> None:
    """The calling thread at the lowest CPU priority, for good (on Linux a thread has its own nice
    value; CFS then gives a nice-0 search thread about 98 % of a core it shares with it, and
    threads started from this one inherit it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)  # this thread only
    except OSError:  # a platform without per-thread priorities
        pass


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
