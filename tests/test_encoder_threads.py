"""Every backend's encoder answers several threads at once exactly as it answers one: gunicorn's
threads share a worker's encoder for searches and writes alike."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embeddings.corpus import read_corpus
from embeddings.encoders import BACKENDS, load_encoder, prepared_backends
from tests.conftest import SEEDS

THREADS = 8
ROUNDS = 40


def _calls() -> list[tuple[str, list[str]]]:
    """Queries and passages of different lengths in batches that mix them (so each batch pads),
    between many token counts (which tokenize without padding): a tokenizer whose padding state
    is shared between threads pads some batch wrongly, about once in 500 such batches."""
    paragraphs = [p for doc in read_corpus(SEEDS) for p in doc.text.split("\n") if p.strip()]
    words = " ".join(paragraphs).split()
    texts = [" ".join(words[i : i + n]) for i, n in enumerate([1, 3, 7, 15, 40, 2, 5, 25] * 4)]
    calls: list[tuple[str, list[str]]] = []
    for round_ in range(ROUNDS):
        for i, text in enumerate(texts):
            other = texts[(i + round_ + 1) % len(texts)]
            calls.append(("passage", [text]) if (i + round_) % 8 == 0 else ("query", [text, other]))
            calls += [("count", [other])] * 3
    return calls


def _run(encoder, call: tuple[str, list[str]]) -> np.ndarray:
    kind, texts = call
    if kind == "query":
        return encoder.encode_queries(texts)
    if kind == "passage":
        vectors, sentences = encoder.encode_passages(texts, [[(0, len(t))] for t in texts])
        return np.vstack([vectors, *sentences])
    return np.asarray([encoder.token_count(texts[0])], dtype=np.float32)


# torch, no longer the default backend, takes 100 s here (its float32 model on 2 cores): `make test-slow`.
@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.slow) if b == "torch" else b for b in BACKENDS])
def test_one_encoder_shared_by_threads_answers_as_it_does_alone(backend):
    if backend not in prepared_backends():
        pytest.skip(f"{backend} is not prepared (make setup makes it)")
    encoder = load_encoder(None, backend)
    calls = _calls()
    alone = [_run(encoder, call) for call in calls]
    with ThreadPoolExecutor(THREADS) as pool:
        together = list(pool.map(lambda call: _run(encoder, call), calls))
    for call, expected, got in zip(calls, alone, together, strict=True):
        assert got.shape == expected.shape, call
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=str(call))
