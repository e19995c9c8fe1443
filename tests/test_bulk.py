"""The bulk lane: its encoder answers as the model does, in the callers' order, from a thread at
the lowest CPU priority; and over HTTP, bulk requests beyond half a worker's threads are turned
away at once (503, Retry-After) instead of taking the threads that searches need."""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import requests

from embeddings.bulk import SLICE, BulkLane
from embeddings.corpus import read_corpus
from embeddings.encoders import load_bulk_encoder
from embeddings.runtime import BACKGROUND_NICE
from embeddings.search import MAX_QUERY_CHARS
from service.process import ServerProcess
from service.validation import MAX_BATCH_CHARS
from tests.conftest import SEEDS


def _texts(n: int) -> list[str]:
    paragraphs = [p for doc in read_corpus(SEEDS) for p in doc.text.split("\n") if p.strip()]
    return [paragraphs[i % len(paragraphs)][: 40 + (i * 37) % 400] for i in range(n)]


def test_the_lane_encodes_as_the_model_does_in_the_callers_order(encoder):
    lane = BulkLane(load_bulk_encoder(encoder))
    texts = _texts(3 * SLICE + 5)  # several slices, lengths out of order
    assert np.allclose(lane.encoder.encode_queries(texts), encoder.encode_queries(texts), atol=1e-5)
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] for t in texts]
    vectors, sentence_vectors = lane.encoder.encode_passages(texts, spans)
    expected, expected_sentences = encoder.encode_passages(texts, spans)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert all(np.allclose(a, b, atol=1e-2) for a, b in zip(sentence_vectors, expected_sentences, strict=True))
    assert lane.encoder.identity == encoder.identity and lane.encoder.token_count(texts[0]) == encoder.token_count(
        texts[0]
    )


def test_the_lane_runs_at_the_lowest_priority_and_leaves_the_caller_as_it_was(encoder):
    lane = BulkLane(encoder)
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    lane_nice = lane.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert lane_nice == BACKGROUND_NICE
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller


def test_bulk_requests_beyond_half_the_threads_are_turned_away_at_once(seed_index_dir, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir, symlinks=True)
    # One worker with 2 threads: one bulk request at a time, the other thread for searches.
    server = ServerProcess(index_dir, tmp_path / "server.log", WORKERS="1", THREADS="2").wait_ready()
    text = " ".join(doc.text.replace("\n", " ") for doc in read_corpus(SEEDS))
    size = MAX_QUERY_CHARS
    # The largest batch the service takes: long enough to be in flight when the second comes.
    batch = {"queries": [{"query": text[i * size : (i + 1) * size]} for i in range(MAX_BATCH_CHARS // size)]}
    answers: list[requests.Response] = []
    try:
        first = threading.Thread(
            target=lambda: answers.append(requests.post(server.url + "/v1/search/batch", json=batch, timeout=120))
        )
        first.start()
        time.sleep(0.15)  # the first batch is being encoded
        second = requests.post(server.url + "/v1/search/batch", json=batch, timeout=120)
        search = requests.get(server.url + "/v1/search", params={"q": "Лукашенко торговля"}, timeout=30)
        first.join(timeout=120)
    finally:
        server.stop()
    assert answers[0].status_code == 200, answers[0].text
    assert second.status_code == 503 and second.headers["Retry-After"] == "1"
    assert second.json()["error"]["code"] == "busy"
    assert search.status_code == 200 and search.json()["results"]
