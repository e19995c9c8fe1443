"""The FAISS index kinds: flat (exact) and hnsw (approximate, for large corpora).

An hnsw index must answer like a flat one where the graph search is exhaustive (a small index),
keep deleted passages out of every answer although the graph keeps them, be recorded in the
manifest and refused when the file does not match, and take its search effort per request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import orjson
import pytest
import requests

from embeddings import vector_index
from embeddings.checks import QueryError
from embeddings.corpus import make_document, read_corpus
from embeddings.index import Index, IndexDirError, build, current_generation_dir
from embeddings.search import Searcher
from embeddings.vector_index import VectorIndex, build_faiss_index, choose_kind
from tests.conftest import ROOT, SEEDS

QUERIES = [
    ("Қошанов Кочановамен кездесті", None),
    ("Токаев встретился с президентом", ["ru"]),
    ("Senate speaker Ashimbaev CIS assembly", ["kk", "ru"]),
]


@pytest.fixture(scope="module")
def hnsw_index_dir(tmp_path_factory, encoder):
    path = tmp_path_factory.mktemp("hnsw") / "index"
    build(read_corpus(SEEDS), path, encoder, kind="hnsw")
    return path


@pytest.fixture
def hnsw_copy(hnsw_index_dir, tmp_path):
    import shutil

    target = tmp_path / "index"
    shutil.copytree(hnsw_index_dir, target, symlinks=True)
    return target


def _manifest(index_dir) -> dict:
    return orjson.loads((current_generation_dir(index_dir) / "manifest.json").read_bytes())


def test_auto_chooses_flat_for_small_corpora_and_hnsw_for_large():
    assert choose_kind("auto", 1_000) == "flat"
    assert choose_kind("auto", vector_index.AUTO_HNSW_FROM) == "hnsw"
    assert choose_kind("flat", 10**7) == "flat"
    with pytest.raises(ValueError, match="unknown index kind"):
        choose_kind("ivf", 10)


def test_the_manifest_records_the_kind_and_its_parameters(hnsw_index_dir, seed_index_dir):
    assert _manifest(seed_index_dir)["faiss"] == {"kind": "flat", "metric": "inner_product"}
    assert _manifest(hnsw_index_dir)["faiss"] == {
        "kind": "hnsw",
        "metric": "inner_product",
        "M": vector_index.HNSW_M,
        "ef_construction": vector_index.HNSW_EF_CONSTRUCTION,
    }


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_small_hnsw_index_answers_exactly_like_flat(hnsw_index_dir, searcher, encoder, mode):
    hnsw = Searcher(Index(hnsw_index_dir, encoder.identity), encoder)
    for query, langs in QUERIES:
        flat_hits = [(r.passage_id, r.score) for r in searcher.search(query, 8, langs, mode=mode).results]
        hnsw_hits = [(r.passage_id, r.score) for r in hnsw.search(query, 8, langs, mode=mode).results]
        assert [p for p, _ in hnsw_hits] == [p for p, _ in flat_hits]
        assert np.allclose([s for _, s in hnsw_hits], [s for _, s in flat_hits], atol=1e-5)


def test_deleted_passages_never_come_back_from_an_hnsw_index(hnsw_copy, encoder):
    index = Index(hnsw_copy, encoder.identity)
    hnsw = Searcher(index, encoder)
    first = hnsw.search("Қошанов Кочановамен кездесті", 3).results[0]
    _, passages = index.counts()
    assert index.delete_document(first.doc_id)

    for langs in (None, [first.lang]):  # the graph search and the exact filtered search
        results = hnsw.search(first.text, 20, langs).results
        assert results and all(r.doc_id != first.doc_id for r in results)
    assert index.vectors.size == index.counts()[1] < passages
    assert index.vector_info()["deleted_not_compacted"] == passages - index.counts()[1]
    # Another process opening the index replays the delete and agrees on the count.
    reopened = Searcher(Index(hnsw_copy, encoder.identity), encoder)
    assert all(r.doc_id != first.doc_id for r in reopened.search(first.text, 20).results)


def test_a_document_added_to_an_hnsw_index_is_found_and_replaced(hnsw_copy, encoder):
    index = Index(hnsw_copy, encoder.identity)
    hnsw = Searcher(index, encoder)
    text = "Алматыда жаңа метро станциясы ашылды. Станция қала тұрғындарына қызмет көрсетеді."
    index.write_document(make_document("metro", text), encoder)
    assert hnsw.search("Алматы метросы", 1).results[0].doc_id == "metro"
    replaced = "В Алматы открылась новая станция метро для жителей южной части города."
    index.write_document(make_document("metro", replaced), encoder)
    hits = [r for r in hnsw.search("метро Алматы", 10).results if r.doc_id == "metro"]
    assert [r.text for r in hits] == [replaced]
    assert Index(hnsw_copy, encoder.identity).vectors.size == index.counts()[1]


def test_ef_search_is_checked(searcher):
    with pytest.raises(QueryError, match="ef_search must be an integer from 1 to"):
        searcher.search("Тоқаев", ef_search=0)
    assert searcher.search("Тоқаев", ef_search=vector_index.MAX_EF_SEARCH).results  # no effect on flat


@pytest.mark.parametrize(
    ("recorded", "message"),
    [("hnsw", "not the hnsw index that manifest.json records"), ("ivf", "unknown FAISS index kind 'ivf'")],
)
def test_a_kind_that_does_not_match_the_file_is_refused(index_copy, encoder, recorded, message):
    path = current_generation_dir(index_copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["faiss"]["kind"] = recorded
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexDirError, match=message):
        Index(index_copy, encoder.identity)


def _random_unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_hnsw_tombstones_and_filters_against_exact_search(monkeypatch):
    vectors = _random_unit(3000)
    keys = np.arange(3000, dtype=np.int64) * 7  # keys need not be positions
    hnsw = VectorIndex(build_faiss_index("hnsw", vectors), keys, "hnsw", ef_search=200)
    queries = _random_unit(50, seed=1)
    removed = keys[::3]
    hnsw.remove(removed)
    hnsw.remove(np.array([5, 10**9]))  # not in the index: ignored
    hnsw.add(keys[:10], vectors[:10])  # already there: not added twice
    assert hnsw.size == 3000 - len(removed) and hnsw.tombstones == len(removed)

    live = np.setdiff1d(keys, removed)
    exact = (queries @ vectors[np.isin(keys, live)].T).argsort(axis=1)[:, ::-1][:, :10]
    _, found = hnsw.search(queries, 10)
    assert not np.isin(found, removed).any()
    recall = np.mean([len(set(f) & set(live[e])) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.9

    allowed = live[live % 2 == 0]  # a filter over a third of the passages
    for limit in (10**6, 10):  # scored exactly, then through the graph
        monkeypatch.setattr(vector_index, "EXACT_FILTER_MAX", limit)
        scores, found = hnsw.search(queries, 10, allowed)
        assert np.isin(found, allowed).all()
        assert np.all(np.diff(scores, axis=1) <= 1e-6)
    monkeypatch.setattr(vector_index, "EXACT_FILTER_MAX", 10**6)
    exact_allowed = (queries @ vectors[np.isin(keys, allowed)].T).argsort(axis=1)[:, ::-1][:, :10]
    _, found = hnsw.search(queries, 10, allowed)
    assert all(set(f) == set(allowed[e]) for f, e in zip(found, exact_allowed, strict=True))


def _run_build(index_dir, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/build_index.py", "--corpus", str(SEEDS), "--index", str(index_dir), *args],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_build_if_missing_rebuilds_an_index_of_another_kind(index_copy):
    kept = _run_build(index_copy, "--if-missing")
    assert kept.returncode == 0 and "not rebuilt" in kept.stdout
    rebuilt = _run_build(index_copy, "--if-missing", INDEX_KIND="hnsw")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "it is a flat index, hnsw asked for" in rebuilt.stderr and "hnsw index" in rebuilt.stdout
    assert _manifest(index_copy)["faiss"]["kind"] == "hnsw"
    bad = _run_build(index_copy, INDEX_KIND="ivf")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: INDEX_KIND='ivf': use auto, flat, hnsw"


def test_ef_search_over_http(live_server):
    url = f"{live_server.url}/v1/search"
    assert requests.get(url, params={"q": "Тоқаев", "ef_search": 64}, timeout=30).status_code == 200
    assert requests.post(url, json={"query": "Тоқаев", "ef_search": 64}, timeout=30).status_code == 200
    batch = {"queries": [{"query": "Тоқаев", "ef_search": 32}, {"query": "Токаев"}]}
    assert requests.post(f"{url}/batch", json=batch, timeout=30).status_code == 200
    for bad in ("0", "x", str(vector_index.MAX_EF_SEARCH + 1)):
        response = requests.get(url, params={"q": "Тоқаев", "ef_search": bad}, timeout=30)
        assert response.status_code == 400 and "ef_search" in response.json()["error"]["message"]
    health = requests.get(f"{live_server.url}/health", timeout=30).json()
    assert health["index"]["kind"] == "flat"
