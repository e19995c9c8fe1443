"""Article vectors: each document's whole text as one vector, beside its passages' vectors.

Every document gets one vector, its text encoded with the passage prompt up to the model's
sequence length (what the bare model does with a whole article); the default mode lifts a
passage's score toward its article's (embeddings/fusion.py). An article is known by its *article
key*, the key of its document's first passage: the changes table that replays passage writes
into every process then replays article writes too. The article vectors are a second set of each
vector snapshot (embeddings/snapshots.py), searched like the passages (a :class:`VectorIndex`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embeddings.corpus import Document
from embeddings.encoders import Encoder
from embeddings.vector_index import VectorIndex

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


def nearest(articles: VectorIndex, query: np.ndarray, m: int) -> np.ndarray:
    """The article keys of the ``m`` articles closest to ``query``, best first."""
    _, keys = articles.search(query.reshape(1, -1), m)
    return keys[0][keys[0] >= 0]


def cosines(articles: VectorIndex, query: np.ndarray, article_keys: Sequence[int]) -> np.ndarray:
    """The cosine of ``query`` with each of these articles (0 for one not held)."""
    keys = np.asarray(article_keys, dtype=np.int64)
    held, vectors = articles.reconstruct_batch(keys)  # those held, in the order given
    out = np.zeros(len(keys), dtype=np.float32)
    out[np.isin(keys, held)] = vectors @ query
    return out
