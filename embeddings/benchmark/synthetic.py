"""Indexes at sizes encoding cannot reach here (a million passages take hours to encode on two
cores): documents of short generated paragraphs whose vectors are given (drawn by
:class:`embeddings.benchmark.vectors.VectorFaker`, or real ones reused), written through the
project's own writers, so what is measured or tested over them is the real storage: a whole
generation (:func:`write_synthetic_generation`, as a build writes it) or passages added since the
snapshot (:func:`add_synthetic_passages`, as API writes add them, recorded as changes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from embeddings import store as store_mod
from embeddings.chunking import ChunkerSettings, Passage
from embeddings.corpus import Document
from embeddings.encoders import ModelIdentity
from embeddings.index import STORE, EncodedCorpus, current_generation_dir, read_manifest, write_generation

PASSAGES_PER_DOCUMENT = 10
WRITE_DOCUMENTS = 2_000  # documents per store transaction when adding
# Words the generated paragraphs are made of: real Russian and Kazakh news words, so the lexical
# index holds ordinary terms of ordinary frequencies.
WORDS = (
    "правительство парламент экономика бюджет регион город область выборы закон реформа "
    "үкімет парламент экономика бюджет аймақ қала облыс сайлау заң реформа ауыл мектеп"
).split()


def _documents(count: int, prefix: str, first: int, source: str) -> Iterator[tuple[Document, list[Passage]]]:
    """``count`` documents of :data:`PASSAGES_PER_DOCUMENT` generated paragraphs, numbered from ``first``."""
    for number in range(first, first + count):
        doc_id = f"{prefix}-{number}"
        lines = [
            f"{WORDS[(number + i) % len(WORDS)]} {WORDS[(number * 7 + i * 3) % len(WORDS)]} {number} {i}."
            for i in range(PASSAGES_PER_DOCUMENT)
        ]
        text, start, passages = "\n".join(lines), 0, []
        for ordinal, line in enumerate(lines):
            passages.append(Passage(doc_id, ordinal, "ru", line, start, start + len(line), [(0, len(line))]))
            start += len(line) + 1
        day = f"2025-{1 + number % 12:02d}-{1 + number % 28:02d}"
        yield Document(doc_id, f"{prefix} {number}", day, "ru", text, source), passages


def _article_vectors(vectors: np.ndarray) -> np.ndarray:
    """Each document's article vector: the normalised mean of its passages' vectors."""
    means = vectors.reshape(-1, PASSAGES_PER_DOCUMENT, vectors.shape[1]).mean(axis=1)
    return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)


def _check(vectors: np.ndarray) -> None:
    if len(vectors) % PASSAGES_PER_DOCUMENT:
        raise ValueError(
            f"give a multiple of {PASSAGES_PER_DOCUMENT} vectors (one document per {PASSAGES_PER_DOCUMENT})"
        )


def write_synthetic_generation(
    index_dir: Path, vectors: np.ndarray, identity: ModelIdentity, kind: str = "flat", prefix: str = "synthetic"
) -> dict:
    """A new generation of ``index_dir`` holding one passage per row of ``vectors`` (normalised
    float32), as a build writes it; its manifest."""
    _check(vectors)
    pairs = list(_documents(len(vectors) // PASSAGES_PER_DOCUMENT, prefix, 0, ""))
    corpus = EncodedCorpus(
        documents=[doc for doc, _ in pairs],
        passages=[passages for _, passages in pairs],
        vectors=vectors,
        sentence_vectors=[vectors[i : i + 1] for i in range(len(vectors))],
        article_vectors=_article_vectors(vectors),
    )
    return write_generation(index_dir, corpus, identity, ChunkerSettings().as_dict(), kind)


def add_synthetic_passages(index_dir: Path, vectors: np.ndarray, prefix: str = "added") -> int:
    """Add one passage per row of ``vectors`` to the current generation's store as API writes do
    (documents of source "api", their passages recorded as changes), in transactions of
    :data:`WRITE_DOCUMENTS` documents; the number of documents added."""
    _check(vectors)
    gen_dir = current_generation_dir(index_dir)
    store = store_mod.Store(gen_dir / STORE, int(read_manifest(gen_dir)["dimension"]))
    articles = _article_vectors(vectors)
    documents = len(vectors) // PASSAGES_PER_DOCUMENT
    try:
        for lo in range(0, documents, WRITE_DOCUMENTS):
            count = min(WRITE_DOCUMENTS, documents - lo)
            with store.begin_write() as write:
                key = write.next_key()
                for number, (doc, passages) in enumerate(_documents(count, prefix, lo, "api"), start=lo):
                    rows = vectors[number * PASSAGES_PER_DOCUMENT : (number + 1) * PASSAGES_PER_DOCUMENT]
                    keys = write.insert_document(doc, passages, rows, [r[None] for r in rows], key, articles[number])
                    write.record_added(keys)
                    key += len(keys)
                write.set_next_key(key)
    finally:
        store.close()
    return documents


def delete_synthetic_documents(index_dir: Path, count: int, prefix: str = "synthetic") -> int:
    """Delete the first ``count`` documents of ``prefix`` as an API delete does (their passages
    recorded as removed), in one transaction; the number of passages deleted."""
    gen_dir = current_generation_dir(index_dir)
    store = store_mod.Store(gen_dir / STORE, int(read_manifest(gen_dir)["dimension"]))
    try:
        with store.begin_write() as write:
            return sum(len(write.delete_document(f"{prefix}-{number}")) for number in range(count))
    finally:
        store.close()
