"""Sharded serving on a real local Ray instance (scripts/serve_sharded.py, 2 shards) over the
FLORES devtest articles in Kazakh and Russian (1,637 real passages): the same answers as one
index, filtered or not; a write visible at the next query, on the shard that owns it; a shard
replica killed is replaced by Ray Serve and the service answers again within RESTART_LIMIT_S."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import requests

from embeddings.corpus import read_jsonl
from embeddings.evaluation import devtest_articles
from embeddings.index import build
from embeddings.search import Searcher
from embeddings.shards import shard_of
from service.process import SHARDED_COMMAND, ServerProcess
from tests.conftest import MINSK_RU_BODY, WRITE_AUTH, WRITE_KEY

pytest.importorskip("ray.serve")

SHARDS = int(SHARDED_COMMAND[-1])
RESTART_LIMIT_S = 90  # measured: README, "Sharded serving"
FILTERS = ({}, {"lang": "ru"}, {"lang": "kk", "mode": "dense"}, {"group": "article"})


@pytest.fixture(scope="module")
def flores_index(eval_dir, encoder, tmp_path_factory):
    path = tmp_path_factory.mktemp("flores-sharded") / "index"
    build(devtest_articles(eval_dir), path, encoder)
    return path


@pytest.fixture(scope="module")
def one_index(flores_index, encoder) -> Searcher:
    return Searcher.open(flores_index, encoder)


@pytest.fixture(scope="module")
def server(flores_index):
    log = flores_index.parent / "server.log"
    server = ServerProcess(flores_index, log, SHARDED_COMMAND, RETRIEVAL_API_KEY=WRITE_KEY)
    yield server.wait_ready(timeout=240)
    server.stop()


@pytest.fixture(scope="module")
def headlines(eval_dir) -> list[str]:
    queries = read_jsonl(eval_dir / "derived" / "flores_wikinews_title2article.queries.jsonl")
    return [q["query"] for q in queries[:12]] + ["Қазақстан экономикасы", "выборы президента"]


def _http(server, query: str, options: dict) -> list[tuple]:
    response = requests.get(server.url + "/v1/search", params={"q": query, "k": 10} | options, timeout=60)
    assert response.status_code == 200, response.text
    return [(r["passage_id"], r["score"], r.get("more")) for r in response.json()["results"]]


def _local(searcher: Searcher, query: str, options: dict) -> list[tuple]:
    options = dict(options)
    if "lang" in options:
        options["langs"] = [options.pop("lang")]
    results = searcher.search(query, 10, **options).results
    more = [None if r.more is None else [m.as_dict() for m in r.more] for r in results]
    return [(r.passage_id, r.score, m) for r, m in zip(results, more, strict=True)]


def _same(http: list[tuple], local: list[tuple]) -> None:
    assert [row[0] for row in http] == [row[0] for row in local]
    assert np.allclose([row[1] for row in http], [row[1] for row in local], atol=1e-5)
    assert [[m["passage_id"] for m in row[2] or []] for row in http] == [
        [m["passage_id"] for m in row[2] or []] for row in local
    ]


def test_two_shards_answer_as_one_index(server, one_index, headlines):
    health = requests.get(server.url + "/health", timeout=30).json()
    shards = health["index"]["shards"]
    assert [s["shard"] for s in shards] == list(range(SHARDS))
    assert sum(s["passages"] for s in shards) == health["passages"] > 1500
    assert all(s["passages"] > 500 for s in shards)  # both hold a real share
    for query in headlines:
        for options in FILTERS:
            _same(_http(server, query, options), _local(one_index, query, options))


def test_a_write_reaches_its_shard_and_the_next_query(server, one_index):
    owner = shard_of(MINSK_RU_BODY["id"], SHARDS)
    response = requests.post(server.url + "/v1/documents", json=MINSK_RU_BODY, headers=WRITE_AUTH, timeout=60)
    assert response.status_code == 201, response.text
    written = len(response.json()["passages"])
    shards = requests.get(server.url + "/health", timeout=30).json()["index"]["shards"]
    assert [s["delta_passages"] for s in shards] == [written if i == owner else 0 for i in range(SHARDS)]
    query = "Казахстан и Беларусь: обмен опытом в законотворчестве"
    top = _http(server, query, {"lang": "ru"})
    assert top[0][0].startswith(MINSK_RU_BODY["id"] + ":")
    _same(top, _local(one_index, query, {"lang": "ru"}))


def test_a_killed_shard_replica_is_replaced_and_answers_again(server, one_index, headlines):
    query = headlines[0]
    expected = _local(one_index, query, {})
    victim = requests.get(server.url + "/health", timeout=30).json()["index"]["shards"][1]["process"]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    statuses = []
    while time.monotonic() - killed < RESTART_LIMIT_S:
        response = requests.get(server.url + "/v1/search", params={"q": query, "k": 10}, timeout=60)
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
        assert response.status_code == 503 and response.json()["error"]["code"] == "shard_unavailable"
        time.sleep(0.5)
    recovered = time.monotonic() - killed
    assert statuses[-1] == 200, f"no answer {RESTART_LIMIT_S} s after the kill: {statuses[-5:]}"
    print(f"answered again {recovered:.1f} s after the kill ({len(statuses)} tries)")
    _same(_http(server, query, {}), expected)
    replaced = requests.get(server.url + "/health", timeout=30).json()["index"]["shards"][1]["process"]
    assert replaced != victim
