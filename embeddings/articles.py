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

from embeddings.ann import AUTO, choose_kind
from embeddings.chunking import Passage
from embeddings.corpus import Document
from embeddings.encoders import Encoder
from embeddings.vector_index import VectorIndex

# What an index's article vectors are; recorded in its manifest, checked at open.
FORM = {"version": 1, "text": "the document's text", "prompt": "passage", "truncated_to": "max_seq_length"}
ARTICLE_BATCH = 32  # documents per encode call: whole articles are long


def index_kind(articles: int) -> str:
    """The FAISS kind of a snapshot's article vectors: chosen by their own number, as ``auto``
    chooses for passages (whatever kind the passages have): every query of the default mode
    searches them, and one query's flat search over a million reads all 1.5 GB (118 ms here; hnsw 1.9 ms)."""
    return choose_kind(AUTO, articles)


def encode_articles(encoder: Encoder, documents: Sequence[Document]) -> np.ndarray:
    """One article vector per document (float32, normalised), in order."""
    out = np.empty((len(documents), encoder.identity.dimension), dtype=np.float32)
    for lo in range(0, len(documents), ARTICLE_BATCH):
        texts = [doc.text for doc in documents[lo : lo + ARTICLE_BATCH]]
        out[lo : lo + len(texts)] = encoder.encode_passages(texts, [[] for _ in texts])[0]
    return out


def first_passages(passages: Sequence[Sequence[Passage]]) -> np.ndarray:
    """The position of each document's first passage among all documents' passages in order: its
    article key in a new generation, whose keys are the positions."""
    return np.cumsum([0] + [len(ps) for ps in passages[:-1]], dtype=np.int64)


def article_vectors_for(
    encoder: Encoder,
    documents: Sequence[Document],
    passages: Sequence[Sequence[Passage]],
    passage_vectors: np.ndarray,
) -> np.ndarray:
    """The article vector of each document, given its passages and their vectors (all documents'
    passages in order, one row each). A document that is one passage of its whole text already
    has it: that passage's vector is the same text through the same prompt, so only the others are
    encoded (most short news items are one passage: encoding them twice doubled a build's time)."""
    out = np.empty((len(documents), encoder.identity.dimension), dtype=np.float32)
    first = first_passages(passages)
    whole = [len(ps) == 1 and ps[0].text == doc.text for doc, ps in zip(documents, passages, strict=True)]
    rest = [i for i, is_whole in enumerate(whole) if not is_whole]
    reused = np.flatnonzero(whole)
    out[reused] = passage_vectors[first[reused]]
    if rest:
        out[rest] = encode_articles(encoder, [documents[i] for i in rest])
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
