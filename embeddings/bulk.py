"""The bulk lane: expensive encoding (a batch of queries, a document write, a background job)
runs in small slices on one thread per process at the lowest CPU priority, with an encoder of
its own on half the cores, so that an interactive search takes the CPU whenever it needs it and
never waits for an encoder that bulk work holds.

Without it, four clients posting the largest batch in a loop held both cores and every
thread, and a single search took 165 × its idle time. On Linux a thread has its own nice value;
the lane's thread sets its own to 19 once (CFS then gives a nice-0 search thread about 98 % of
a core it shares with it), and threads the runtime starts from it inherit it. Slices queue in
order, so several batches take turns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from embeddings import runtime
from embeddings.encoders import Encoder

SLICE = 16  # texts encoded per turn: a batch behind another waits for at most this many
T = TypeVar("T")


class BulkLane:
    """Hands out :attr:`encoder`, an :class:`Encoder` whose encoding runs on the lane's thread.
    ``bulk``: the bulk work's own encoder (:func:`embeddings.encoders.load_bulk_encoder`)."""

    def __init__(self, bulk: Encoder) -> None:
        self.encoder = LaneEncoder(bulk, self)
        # Started at the first task, so in the process that uses it (after gunicorn's fork).
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix="bulk", initializer=runtime.yield_this_thread_to_searches
        )

    def run(self, task: Callable[..., T], *args: object) -> T:
        """``task(*args)`` on the lane's thread, after the slices queued before it."""
        return self._thread.submit(task, *args).result()


class LaneEncoder:
    """``inner``'s encoding, a :data:`SLICE` of texts at a time inside the lane's slot."""

    own_threads = False

    def __init__(self, inner: Encoder, lane: BulkLane) -> None:
        self.inner = inner
        self.lane = lane

    def __getattr__(self, name: str) -> object:  # identity, prompts, token counts: the inner encoder's
        return getattr(self.inner, name)

    def _slices(self, texts: Sequence[str]) -> Iterator[np.ndarray]:
        """Row numbers, SLICE at a time, in length order (little padding, as the encoder's own batches)."""
        order = np.argsort(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), kind="stable")
        for lo in range(0, len(order), SLICE):
            yield order[lo : lo + SLICE]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        vectors = np.empty((len(texts), self.inner.identity.dimension), dtype=np.float32)
        for rows in self._slices(texts):
            vectors[rows] = self.lane.run(self.inner.encode_queries, [texts[i] for i in rows], batch_size)
        return vectors

    def encode_passages(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]], batch_size: int = 16
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        if len(texts) != len(sentences):
            raise ValueError("texts and sentences differ in length")
        vectors = np.empty((len(texts), self.inner.identity.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [vectors[:0]] * len(texts)
        for rows in self._slices(texts):
            chunk, spans_of = [texts[i] for i in rows], [sentences[i] for i in rows]
            part, spans = self.lane.run(self.inner.encode_passages, chunk, spans_of, batch_size)
            vectors[rows] = part
            for row, span in zip(rows, spans, strict=True):
                sentence_vectors[row] = span
        return vectors, sentence_vectors
