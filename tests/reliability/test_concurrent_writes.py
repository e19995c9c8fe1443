"""8 threads writing and searching at once through the real server, for a bounded time: posting,
replacing and deleting the same 5 documents (texts of different lengths, so the encoder's
batches differ in width) between searches and batches of searches. Not one answer may be a 5xx
(the tokenizer once shared padding state between threads and answered 500)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import requests

from tests.reliability import summary
from tests.reliability.helpers import AUTH

THREADS = 8
DOC_IDS = [f"contended-{i}" for i in range(5)]
SENTENCES = [
    "Астанада жаңа көпір салынды.",
    "В Алматы открылся новый парк с детскими площадками и велодорожками вдоль реки.",
    "Үкімет отырысында ауыл шаруашылығын қолдаудың жаңа бағдарламасы талқыланып, министрлер "
    "өңірлердегі егін жинау науқанының барысы туралы баяндады.",
]
QUERIES = ["көпір құрылысы", "новый парк в Алматы", "ауыл шаруашылығы бағдарламасы", "Лукашенко торговля"]


def _hammer(url: str, seconds: float, seed: int) -> Counter:
    statuses: Counter = Counter()
    rng = random.Random(seed)
    session = requests.Session()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        action = rng.random()
        if action < 0.35:
            text = "\n".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 6)))
            response = session.post(
                url + "/v1/documents", json={"id": rng.choice(DOC_IDS), "text": text}, headers=AUTH, timeout=60
            )
        elif action < 0.5:
            response = session.delete(url + "/v1/documents/" + rng.choice(DOC_IDS), headers=AUTH, timeout=60)
        elif action < 0.9:
            response = session.get(url + "/v1/search", params={"q": rng.choice(QUERIES), "k": 5}, timeout=60)
        else:
            queries = [{"query": q} for q in rng.sample(QUERIES, 3)]
            response = session.post(url + "/v1/search/batch", json={"queries": queries}, timeout=60)
        statuses[response.status_code] += 1
    return statuses


def _run(server, seconds: float, run: str) -> None:
    totals: Counter = Counter()
    lock = threading.Lock()

    def worker(seed: int) -> None:
        counted = _hammer(server.url, seconds, seed)
        with lock:
            totals.update(counted)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    server_errors = sum(n for status, n in totals.items() if status >= 500)
    figures = (
        f"{THREADS} threads × {seconds:.0f} s: {sum(totals.values())} requests, "
        f"statuses {dict(sorted(totals.items()))}, {server_errors} × 5xx"
    )
    summary.record("concurrency", run, figures, "ok" if server_errors == 0 else "FAILED")
    assert server_errors == 0, figures
    assert set(totals) <= {200, 201, 204, 404}, figures  # 404: a delete of a document already deleted


def test_concurrent_writes_and_searches_never_answer_5xx_quick(rel_server):
    _run(rel_server, 10, "writes + searches, quick")


@pytest.mark.slow
@pytest.mark.reliability_full
def test_concurrent_writes_and_searches_never_answer_5xx_full(rel_server):
    _run(rel_server, 60, "writes + searches, full")
