"""Vector snapshots and compaction (embeddings/snapshots.py, embeddings/compaction.py), on the real
model, FAISS and SQLite: writes since the snapshot are searched from a delta, compaction folds
them in while writes go on, every process follows, nothing acknowledged is lost, and the answers
are the same before and after."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from embeddings import articles as article_vectors
from embeddings import compaction, snapshots
from embeddings import store as store_mod
from embeddings.ann import factory
from embeddings.benchmark.synthetic import add_synthetic_passages
from embeddings.compaction import AutoCompaction, compact
from embeddings.corpus import make_document, read_corpus
from embeddings.index import Index, build, current_generation_dir, read_manifest
from embeddings.search import Searcher, SearchQuery
from service.process import ServerProcess
from tests.conftest import ROOT, SEEDS

QUERIES = ["Лукашенко торговля с Казахстаном", "Қошанов Минскіге барды", "метро в Алматы", "Astana floods"]
METRO_KK = "Алматыда жаңа метро станциясы ашылды.\nСтанция қала тұрғындарына қызмет көрсетеді."
METRO_RU = "В Алматы открылась новая станция метро.\nОна обслуживает жителей южной части города."
FLOOD_KK = "Атырау облысында су тасқыны басталды.\nҚұтқарушылар тұрғындарды көшіріп жатыр."


def _answers(searcher: Searcher, mode: str = "dense") -> list[list[tuple[str, float]]]:
    responses = searcher.search_many([SearchQuery(q, 10, mode=mode) for q in QUERIES])
    return [[(r.passage_id, r.score) for r in response.results] for response in responses]


def _same(before: list, after: list) -> None:
    for b, a in zip(before, after, strict=True):
        assert [p for p, _ in a] == [p for p, _ in b]
        assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)


def _write_and_delete(index: Index, encoder) -> None:
    index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
    index.write_document(make_document("metro-ru", METRO_RU, lang="ru", source="api"), encoder)
    first_seed = sorted(p.stem for p in SEEDS.glob("*.txt"))[0]
    assert index.delete_document(first_seed)


@pytest.fixture(scope="module", params=["hnsw", "ivfpq"])
def grown_index_dir(request, tmp_path_factory, encoder):
    """The seeds as an index of each kind that compaction grows in place."""
    path = tmp_path_factory.mktemp(f"{request.param}-compaction") / "index"
    build(read_corpus(SEEDS), path, encoder, kind=request.param)
    return path


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_compaction_folds_writes_and_deletes_and_answers_the_same(index_copy, encoder, mode):
    index = Index(index_copy, encoder.identity)
    searcher = Searcher(index, encoder)
    _write_and_delete(index, encoder)
    info = index.vector_info()
    written = len(index.store.keys_matching(None, ["metro-kk", "metro-ru"]))
    assert info["delta_passages"] == written and info["deleted_not_compacted"] > 0 and info["last_compaction"] is None
    before = _answers(searcher, mode)

    result = compact(index_copy)
    assert result is not None and result.previous == 0 and result.version > 0
    assert (result.folded_passages, result.dropped_tombstones) == (written, info["deleted_not_compacted"])
    _same(before, _answers(searcher, mode))  # this process moved to the new snapshot
    info = index.vector_info()
    assert (info["delta_passages"], info["deleted_not_compacted"]) == (0, 0)
    assert info["snapshot"]["version"] == result.version
    assert info["last_compaction"]["folded_passages"] == written
    _same(before, _answers(Searcher(Index(index_copy, encoder.identity), encoder), mode))  # and a new one
    assert compact(index_copy) is None  # nothing left to fold


def test_the_changes_a_snapshot_holds_are_dropped_and_old_snapshots_removed(index_copy, encoder):
    index = Index(index_copy, encoder.identity)
    gen = current_generation_dir(index_copy)
    index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
    first = compact(index_copy)
    assert index.store.changes_since(0) == []
    index.write_document(make_document("flood", FLOOD_KK, source="api"), encoder)
    flood = len(index.store.keys_matching(None, ["flood"]))
    assert len(index.store.changes_since(0)) == flood  # the flood's passages, recorded after the snapshot
    second = compact(index_copy)
    # The current snapshot and the one before it (a reader may still be opening it); nothing else.
    assert snapshots.versions(gen) == [first.version, second.version]
    names = sorted(p.name for p in gen.glob("vectors-*"))
    kinds = (".faiss", ".keys.npy", ".articles.faiss", ".articles.keys.npy", ".json")
    assert names == sorted(f"{snapshots.stem(v)}{ext}" for v in (first.version, second.version) for ext in kinds)


def test_a_snapshot_compacted_by_an_older_version_reports_rebuilt(index_copy, encoder):
    """Before ivfpq, the record said graph_rebuilt; /health says rebuilt for every snapshot."""
    index = Index(index_copy, encoder.identity)
    index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
    result = compact(index_copy)
    record_path = snapshots.record_path(current_generation_dir(index_copy), result.version)
    record = json.loads(record_path.read_text())
    record["compacted"]["graph_rebuilt"] = record["compacted"].pop("rebuilt")
    record_path.write_text(json.dumps(record))
    last = Index(index_copy, encoder.identity).vector_info()["last_compaction"]
    assert last["rebuilt"] is False and "graph_rebuilt" not in last
    assert last["folded_passages"] == result.folded_passages and last["at"]


def test_article_vectors_take_the_kind_their_number_calls_for(index_copy, tmp_path, encoder, monkeypatch):
    """Articles are searched in every hybrid query: from AUTO_HNSW_FROM of them they are a graph,
    whatever the passages' kind, grown by compaction and built anew when their kind changes."""
    flat_answers = _answers(Searcher(Index(index_copy, encoder.identity), encoder), "hybrid")
    monkeypatch.setattr(factory, "AUTO_HNSW_FROM", 3)  # the five seed articles count as many
    path = tmp_path / "graph-articles"
    build(read_corpus(SEEDS), path, encoder, kind="flat")
    gen = current_generation_dir(path)
    assert (snapshots.read_record(gen, 0)["kind"], snapshots.read_record(gen, 0)["articles_kind"]) == ("flat", "hnsw")
    index = Index(path, encoder.identity)
    assert index.articles.kind == "hnsw"
    _same(flat_answers, _answers(Searcher(index, encoder), "hybrid"))  # a graph of five is exact

    index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
    grown = compact(path)
    record = snapshots.read_record(gen, grown.version)
    assert record["articles_kind"] == "hnsw" and record["articles"] == 6
    reopened = Index(path, encoder.identity)
    assert reopened.articles.kind == "hnsw" and reopened.articles.size == 6
    metro = reopened.store.keys_matching(None, ["metro-kk"])
    assert np.isin(article_vectors.nearest(reopened.articles, encoder.encode_queries(["метро"])[0], 6), metro).any()

    monkeypatch.setattr(factory, "AUTO_HNSW_FROM", 200_000)
    reopened.write_document(make_document("flood", FLOOD_KK, source="api"), encoder)
    rebuilt = compact(path)
    assert snapshots.read_record(gen, rebuilt.version)["articles_kind"] == "flat"
    assert Index(path, encoder.identity).articles.kind == "flat"


def test_a_snapshot_from_before_article_kinds_opens_its_articles_as_flat(index_copy, encoder):
    gen = current_generation_dir(index_copy)
    record_path = snapshots.record_path(gen, 0)
    record = json.loads(record_path.read_text())
    del record["articles_kind"]
    record_path.write_text(json.dumps(record))
    index = Index(index_copy, encoder.identity)
    assert index.articles.kind == "flat" and index.articles.size == len(list(SEEDS.glob("*.txt")))


def test_a_write_made_during_compaction_is_kept(index_copy, encoder, monkeypatch):
    index = Index(index_copy, encoder.identity)
    writer = Index(index_copy, encoder.identity)  # another worker, writing while compaction reads
    index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
    read = store_mod.Store.vectors_after
    written = []

    def read_then_write(self, key, limit):
        if not written:
            writer.write_document(make_document("flood", FLOOD_KK, source="api"), encoder)
            written.append(True)
        return read(self, key, limit)

    monkeypatch.setattr(store_mod.Store, "vectors_after", read_then_write)
    result = compact(index_copy)
    monkeypatch.setattr(store_mod.Store, "vectors_after", read)
    metro, flood = (len(index.store.keys_matching(None, [d])) for d in ("metro-kk", "flood"))
    assert written and result.folded_passages == metro  # not the flood's: written after the read began
    for reader in (index, Index(index_copy, encoder.identity)):
        reader.refresh()
        assert reader.vector_info()["delta_passages"] == flood  # replayed onto the new snapshot
        hits = Searcher(reader, encoder).search("су тасқыны Атырау", 3, mode="dense").results
        assert hits[0].doc_id == "flood"
    assert compact(index_copy).folded_passages == flood


def test_an_approximate_index_grows_by_the_delta_and_is_rebuilt_past_its_tombstones(grown_index_dir, tmp_path, encoder):
    index_dir = tmp_path / "index"
    shutil.copytree(grown_index_dir, index_dir, symlinks=True)
    recorded = read_manifest(current_generation_dir(index_dir))["faiss"]
    index = Index(index_dir, encoder.identity)
    searcher = Searcher(index, encoder)
    _, passages = index.counts()
    index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
    grown = compact(index_dir)
    assert not grown.rebuilt and grown.vectors == passages + len(index.store.keys_matching(None, ["metro-kk"]))
    assert searcher.search("Алматы метросы", 1, mode="dense").results[0].doc_id == "metro-kk"

    first_seed = sorted(p.stem for p in SEEDS.glob("*.txt"))[0]
    index.delete_document(first_seed)  # a fifth of the passages: past REBUILD_SHARE
    before = _answers(searcher)
    rebuilt = compact(index_dir)
    assert rebuilt.rebuilt and rebuilt.vectors == index.counts()[1] and rebuilt.dropped_tombstones > 0
    _same(before, _answers(searcher))
    assert index.vector_info()["deleted_not_compacted"] == 0
    # Built anew as it was built (ivfpq: the trained cells kept), so the manifest still describes it.
    assert Index(index_dir, encoder.identity).vectors.size == index.counts()[1]
    assert read_manifest(current_generation_dir(index_dir))["faiss"] == recorded


def test_a_serving_process_compacts_by_itself_past_the_threshold(index_copy, encoder, monkeypatch):
    index = Index(index_copy, encoder.identity)
    auto = AutoCompaction(index, check_every=0.1).start()
    try:
        index.write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)
        monkeypatch.setattr(compaction, "DELTA_PASSAGES", len(index.store.keys_matching(None, ["metro-kk"])) + 1)
        time.sleep(1)
        assert index.vector_info()["snapshot"]["version"] == 0  # under the threshold
        index.write_document(make_document("flood", FLOOD_KK, source="api"), encoder)
        deadline = time.monotonic() + 20
        while index.vector_info()["snapshot"]["version"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        info = index.vector_info()
        assert info["snapshot"]["version"] > 0 and info["delta_passages"] == 0
    finally:
        auto.stop()


def test_compact_script(index_copy, encoder):
    Index(index_copy, encoder.identity).write_document(make_document("metro-kk", METRO_KK, source="api"), encoder)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "scripts/compact.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    done = run("--index", str(index_copy))
    assert done.returncode == 0 and "compacted into snapshot" in done.stdout, done.stderr
    assert "nothing to compact" in run("--index", str(index_copy)).stdout
    missing = run("--index", str(index_copy.parent / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "no index here" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.slow
def test_a_server_restarts_over_300000_passages_added_since_its_snapshot(index_copy, tmp_path, encoder):
    """Written through the store's own functions (as API writes, recorded as changes), reusing the
    seed passages' vectors: the server starts over them, compacts them in the background, and a
    restart opens the compacted snapshot with an empty delta."""
    added = 300_000
    keys, seed_vectors = Index(index_copy, encoder.identity).store.all_vectors()
    vectors = seed_vectors[np.arange(added) % len(keys)]
    add_synthetic_passages(index_copy, vectors)
    passages = len(keys) + added

    def start() -> tuple[ServerProcess, dict, float]:
        started = time.monotonic()
        server = ServerProcess(index_copy, tmp_path / "server.log", WORKERS="2").wait_ready(timeout=600)
        return server, requests.get(server.url + "/health", timeout=30).json(), time.monotonic() - started

    server, health, first_start = start()
    try:
        assert health["passages"] == passages
        hits = requests.get(server.url + "/v1/search", params={"q": "Лукашенко торговля"}, timeout=60).json()
        assert hits["results"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            health = requests.get(server.url + "/health", timeout=30).json()["index"]
            if health["last_compaction"] and health["delta_passages"] == 0:
                break
            time.sleep(2)
        assert health["last_compaction"]["folded_passages"] == added and health["delta_passages"] == 0
        assert requests.get(server.url + "/v1/documents/added-29999", timeout=30).status_code == 200
    finally:
        server.stop()
    server, health, second_start = start()
    try:
        assert health["passages"] == passages and health["index"]["delta_passages"] == 0
        assert requests.get(server.url + "/v1/search", params={"q": "Тоқаев"}, timeout=60).json()["results"]
    finally:
        server.stop()
    print(f"start over {added:,} added passages: {first_start:.1f} s; after compaction: {second_start:.1f} s")
