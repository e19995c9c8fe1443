"""What the views work with: the app's searcher, its index caught up with other processes'
writes, and the bulk lane's encoder for requests that do bulk work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from embeddings.encoders import Encoder
from embeddings.index import Index
from embeddings.search import Searcher
from service import SEARCH_THREADS, worker_threads
from service.errors import BusyError

# Requests of this worker doing bulk work at once (query batches, document writes): they wait
# for the bulk lane on a thread each, so SEARCH_THREADS threads stay free for searches however
# many bulk clients come.
_bulk_requests = threading.BoundedSemaphore(max(1, worker_threads() - SEARCH_THREADS))


def searcher() -> Searcher:
    return current_app.extensions["searcher"]


def current_index() -> Index:
    """The index with every write committed so far, by this process or another worker."""
    index = searcher().index
    index.refresh()
    return index


@contextmanager
def bulk_work() -> Iterator[Encoder]:
    """The bulk lane's encoder (embeddings/bulk.py) for this request, or a 503 (busy, Retry-After)
    at once when all but SEARCH_THREADS of this worker's threads already do bulk work."""
    if not _bulk_requests.acquire(blocking=False):
        raise BusyError("the server is busy with other batches and writes; retry in a moment")
    try:
        yield current_app.extensions["bulk_lane"].encoder
    finally:
        _bulk_requests.release()
