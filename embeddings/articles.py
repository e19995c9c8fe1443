"""Article vectors: each document's whole text as one vector, beside its passages' vectors.

Every document gets one vector, its text encoded with the passage prompt up to the model's
sequence length (what the bare model does with a whole article); the default mode lifts a
passage's score toward its article's (embeddings/fusion.py). An article is known by its *article
key*, the key of its document's first passage: the changes table that replays passage writes
into every process then replays article writes too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embeddings.corpus import Document
from embeddings.encoders import Encoder

# What an index's article vectors are; recorded in its manifest, checked at open.
FORM = {"version": 1, "text": "the document's text", "prompt": "passage", "truncated_to": "max_seq_length"}
ARTICLE_BATCH = 32  # documents per encode call: whole articles are long


def encode_articles(encoder: Encoder, documents: Sequence[Document]) -> np.ndarray:
    """One article vector per document (float32, normalised), in order."""
    out = np.empty((len(documents), encoder.identity.dimension), dtype=np.float32)
    for lo in range(0, len(documents), ARTICLE_BATCH):
        texts = [doc.text for doc in documents[lo : lo + ARTICLE_BATCH]]
        out[lo : lo + len(texts)] = encoder.encode_passages(texts, [[] for _ in texts])[0]
    return out


class ArticleVectors:
    """Every article vector of an index in memory, by article key; exact search over them.

    Not thread-safe by itself: the index calls it under its lock.
    """

    def __init__(self, dimension: int) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self.vectors = np.empty((0, dimension), dtype=np.float32)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def put(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add these articles; one already held is replaced (replaying a change twice is harmless)."""
        fresh = []
        for i, key in enumerate(keys.tolist()):
            if key in self._row:
                self.vectors[self._row[key]] = vectors[i]
            else:
                self._row[key] = len(self.keys) + len(fresh)
                fresh.append(i)
        if fresh:
            self.keys = np.concatenate([self.keys, keys[fresh]])
            self.vectors = np.concatenate([self.vectors, vectors[fresh]])

    def remove(self, keys: np.ndarray) -> None:
        """Drop these articles; keys that are not article keys are ignored."""
        gone = {int(k) for k in keys.tolist()} & self._row.keys()
        if not gone:
            return
        keep = np.fromiter((k not in gone for k in self.keys.tolist()), dtype=bool, count=len(self.keys))
        self.keys, self.vectors = self.keys[keep], self.vectors[keep]
        self._row = {int(k): i for i, k in enumerate(self.keys.tolist())}

    def get(self, article_key: int) -> np.ndarray | None:
        """The vector of this article, or None when the index holds none by that key."""
        row = self._row.get(int(article_key))
        return None if row is None else self.vectors[row]

    def cosines(self, query: np.ndarray, article_keys: Sequence[int]) -> np.ndarray:
        """The cosine of ``query`` with each of these articles (0 for one not held)."""
        rows = [self._row.get(int(k), -1) for k in article_keys]
        held = np.asarray([r >= 0 for r in rows], dtype=bool)
        out = np.zeros(len(rows), dtype=np.float32)
        if held.any():
            out[held] = self.vectors[[r for r in rows if r >= 0]] @ query
        return out

    def nearest(self, query: np.ndarray, m: int) -> np.ndarray:
        """The article keys of the ``m`` articles closest to ``query``, best first."""
        if not len(self.keys):
            return np.empty(0, dtype=np.int64)
        scores = self.vectors @ query
        m = min(m, len(scores))
        top = np.argpartition(-scores, m - 1)[:m]
        return self.keys[top[np.argsort(-scores[top])]]
