"""A sharded index in one process (embeddings/shards.py, shards as LocalShard): the answers of one
index, each document on one shard, a write reaching its shard and the next query, a shard's
compaction, and a shard that does not answer turned into a clear 503."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embeddings.index import Index
from embeddings.search import Searcher
from embeddings.shards import (
    LocalShard,
    Shard,
    ShardedIndex,
    ShardUnavailableError,
    check_shards,
    shard_of,
)
from tests.conftest import MINSK_KK, MINSK_RU

SHARDS = 3
QUERIES = (
    "Қазақстан мен Беларусь депутаттары",
    "встреча депутатов в Минске",
    "trade between Kazakhstan and Belarus",
    "Маулен Ашимбаев",
)


@pytest.fixture
def shards(index_copy) -> list[Shard]:
    return [Shard(index_copy, i, SHARDS) for i in range(SHARDS)]


@pytest.fixture
def sharded(index_copy, encoder, shards) -> Searcher:
    return Searcher(ShardedIndex(index_copy, encoder.identity, [LocalShard(s) for s in shards]), encoder)


@pytest.fixture
def one(index_copy, encoder) -> Searcher:
    return Searcher(Index(index_copy, encoder.identity), encoder)


def _answers(searcher: Searcher, query: str, **options) -> list[tuple]:
    return [
        (
            r.passage_id,
            r.score,
            r.highlight.sentence,
            [m.passage_id for m in r.more or []],
            [c.doc_id for c in r.counterparts or []],
        )
        for r in searcher.search(query, 10, **options).results
    ]


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert [row[0] for row in a] == [row[0] for row in b]
    assert np.allclose([row[1] for row in a], [row[1] for row in b], atol=1e-5)
    assert [row[2:] for row in a] == [row[2:] for row in b]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_a_sharded_index_answers_as_one_index(one, sharded, mode):
    for query in QUERIES:
        for options in (
            {},
            {"langs": ["ru"]},
            {"langs": ["kk"]},
            {"doc_ids": [MINSK_KK]},
            {"date_from": "2026-02-01", "date_to": "2026-02-28"},
            {"group": "article"},
        ):
            _same(_answers(one, query, mode=mode, **options), _answers(sharded, query, mode=mode, **options))


def _shard_info(searcher: Searcher) -> list[dict]:
    return searcher.index.vector_info()["shards"]


def test_each_document_lives_on_one_shard(sharded, shards, one):
    sharded.search("Минск", 3)  # the shards open the split at their first call
    store = one.index.store
    held = [s.vectors.live_keys() for s in shards]
    assert sorted(np.concatenate(held).tolist()) == store.live_keys().tolist()  # every passage, once
    doc_of = store.passage_documents(store.live_keys().tolist())
    for i, keys in enumerate(held):
        assert {shard_of(doc_of[k], SHARDS) for k in keys.tolist()} <= {i}
        assert set(shards[i].articles.live_keys().tolist()) <= set(keys.tolist())
        assert shards[i].facts.keys.tolist() == keys.tolist()  # what it filters with
    assert sum(len(s.articles.live_keys()) for s in shards) == store.counts()[0]  # an article each


def test_a_write_reaches_its_shard_and_the_next_query(sharded, shards, encoder):
    owner = shard_of(MINSK_RU.id, SHARDS)
    passages, _ = sharded.index.write_document(MINSK_RU, encoder)
    deltas = [s["delta_passages"] for s in _shard_info(sharded)]
    assert deltas == [len(passages) if i == owner else 0 for i in range(SHARDS)]
    top = sharded.search("Ерлан Қошанов Минскіде", 3, langs=["ru"]).results
    assert top and top[0].doc_id == MINSK_RU.id

    assert sharded.index.delete_document(MINSK_RU.id)
    assert all(r.doc_id != MINSK_RU.id for r in sharded.search("Ерлан Қошанов Минскіде", 10).results)
    assert _shard_info(sharded)[owner]["delta_passages"] == 0


def test_a_shard_folds_its_delta_into_a_snapshot_that_a_restart_opens(sharded, shards, encoder, index_copy):
    owner = shard_of(MINSK_RU.id, SHARDS)
    sharded.index.write_document(MINSK_RU, encoder)
    before = _answers(sharded, "Ерлан Қошанов Минскіде", langs=["ru"])
    assert MINSK_RU.id in {row[0].split(":")[0] for row in before}
    version = shards[owner].compact()
    assert version is not None and _shard_info(sharded)[owner]["delta_passages"] == 0
    assert shards[owner].compact() is None  # nothing left to fold
    assert _answers(sharded, "Ерлан Қошанов Минскіде", langs=["ru"]) == before

    restarted = Shard(index_copy, owner, SHARDS)  # a replica started again opens the new snapshot
    handles = [LocalShard(restarted if i == owner else shard) for i, shard in enumerate(shards)]
    after_restart = Searcher(ShardedIndex(index_copy, encoder.identity, handles), encoder)
    assert _answers(after_restart, "Ерлан Қошанов Минскіде", langs=["ru"]) == before
    info = _shard_info(after_restart)[owner]
    assert info["snapshot"]["version"] == version and info["delta_passages"] == 0


def test_a_restarted_shard_is_sent_what_came_after_its_snapshot(sharded, shards, encoder, index_copy, one):
    sharded.search("Минск", 3)
    owner = shard_of(MINSK_RU.id, SHARDS)
    sharded.index.write_document(MINSK_RU, encoder)  # after the shard's snapshot, before its restart
    handles = [LocalShard(Shard(index_copy, i, SHARDS)) for i in range(SHARDS)]
    restarted = Searcher(ShardedIndex(index_copy, encoder.identity, handles), encoder)
    for options in ({}, {"langs": ["ru"]}, {"date_from": "2026-02-01"}):
        _same(
            _answers(one, "Ерлан Қошанов Минскіде", **options), _answers(restarted, "Ерлан Қошанов Минскіде", **options)
        )
    assert handles[owner].shard.vectors.delta_size > 0


def test_bad_shard_numbers_are_refused():
    for shard, shards in ((0, 0), (2, 2), (-1, 3), (0, 1000)):
        with pytest.raises(ValueError, match="shard"):
            check_shards(shard, shards)


class _Down:
    """A shard whose replica died: its answer fails when awaited, as a Ray Serve handle's does."""

    def call(self, method: str, *args: object) -> _Down:
        return self

    def result(self) -> object:
        raise ShardUnavailableError("shard 0: the replica died")


def test_a_shard_that_does_not_answer_is_a_clear_503(index_copy, encoder):
    from service import create_app

    searcher = Searcher(ShardedIndex(index_copy, encoder.identity, [_Down()]), encoder)
    response = create_app(searcher=searcher).test_client().get("/v1/search?q=Минск")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "shard_unavailable"
    assert response.headers["Retry-After"] == "5"


class _Counting(LocalShard):
    def __init__(self, shard: Shard) -> None:
        super().__init__(shard)
        self.calls: list[str] = []

    def call(self, method: str, *args: object):
        self.calls.append(method)
        return super().call(method, *args)


def test_a_default_query_asks_each_shard_once(index_copy, encoder, shards, one):
    counting = [_Counting(s) for s in shards]
    searcher = Searcher(ShardedIndex(index_copy, encoder.identity, counting), encoder)
    query = "встреча депутатов в Минске"
    _same(_answers(one, query), _answers(searcher, query))  # the articles come with the passages
    assert [c.calls for c in counting] == [["search"]] * SHARDS


class _Meeting(LocalShard):
    """A shard whose searches each wait until another search has reached it too."""

    def __init__(self, shard: Shard, barrier: threading.Barrier) -> None:
        super().__init__(shard)
        self.barrier = barrier

    def call(self, method: str, *args: object):
        if method == "search":
            self.barrier.wait()  # broken after its timeout when the other search cannot come
        return super().call(method, *args)


def test_the_front_waits_on_the_shards_for_several_searches_at_once(index_copy, encoder, shards, one):
    barrier = threading.Barrier(2, timeout=20)
    searcher = Searcher(ShardedIndex(index_copy, encoder.identity, [_Meeting(s, barrier) for s in shards]), encoder)
    with ThreadPoolExecutor(2) as pool:  # the front's threads, as gunicorn's or a2wsgi's
        answers = list(pool.map(lambda query: _answers(searcher, query), QUERIES[:2]))
    for query, answer in zip(QUERIES[:2], answers, strict=True):
        _same(_answers(one, query), answer)


def test_two_catch_ups_from_one_base_leave_each_passage_once(sharded, shards, encoder, one):
    from embeddings.corpus import make_document
    from embeddings.shards import Behind

    sharded.search("Минск", 3)  # the shards open the split
    owner = shard_of(MINSK_RU.id, SHARDS)
    shard = shards[owner]
    base = Behind(shard.generation, shard.applied, shard.vectors.snapshot_max_key)
    # Two searches at once found the shard behind at the same version; a write came between the
    # catch-ups they sent, so the second holds the first's passages again.
    sharded.index.write_document(MINSK_RU, encoder)
    first = sharded.index._catch_up(owner, base)
    doc_id = next(f"snow-{n}" for n in range(100) if shard_of(f"snow-{n}", SHARDS) == owner)
    sharded.index.write_document(make_document(doc_id, "В Минске ожидается сильный снегопад.", lang="ru"), encoder)
    second = sharded.index._catch_up(owner, base)
    assert set(first.added.keys.tolist()) < set(second.added.keys.tolist())
    shard.catch_up(first)
    shard.catch_up(second)
    assert shard.facts.keys.tolist() == shard.vectors.live_keys().tolist()  # once each, in order
    for options in ({}, {"langs": ["ru"]}):
        _same(_answers(one, "снегопад в Минске", **options), _answers(sharded, "снегопад в Минске", **options))
