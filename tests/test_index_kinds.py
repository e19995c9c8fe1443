"""The FAISS index kinds: flat (exact), hnsw and ivfpq (approximate, for large corpora).

An approximate index must answer like a flat one where its search is exhaustive (a small index),
keep deleted passages out of every answer although its file keeps them, be recorded in the
manifest and refused when the file does not match, and take its search effort per request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import orjson
import pytest
import requests

from embeddings import ann
from embeddings.ann import build_faiss_index, choose_kind, ivfpq
from embeddings.ann import hnsw as HNSW
from embeddings.checks import QueryError
from embeddings.config import Settings, SettingsError
from embeddings.corpus import make_document, read_corpus
from embeddings.index import Index, IndexDirError, build, current_generation_dir
from embeddings.search import Searcher
from embeddings.vector_index import VectorIndex
from tests.conftest import ROOT, SEEDS

QUERIES = [
    ("Қошанов Кочановамен кездесті", None),
    ("Токаев встретился с президентом", ["ru"]),
    ("Senate speaker Ashimbaev CIS assembly", ["kk", "ru"]),
]
APPROXIMATE = ("hnsw", "ivfpq")


@pytest.fixture(scope="module", params=APPROXIMATE)
def approximate_index_dir(request, tmp_path_factory, encoder):
    """The seeds as an index of each approximate kind."""
    path = tmp_path_factory.mktemp(request.param) / "index"
    build(read_corpus(SEEDS), path, encoder, kind=request.param)
    return path


@pytest.fixture
def approximate_copy(approximate_index_dir, tmp_path):
    target = tmp_path / "index"
    shutil.copytree(approximate_index_dir, target, symlinks=True)
    return target


def _manifest(index_dir) -> dict:
    return orjson.loads((current_generation_dir(index_dir) / "manifest.json").read_bytes())


def test_auto_chooses_flat_then_hnsw_then_ivfpq_by_size():
    assert choose_kind("auto", 1_000) == "flat"
    assert choose_kind("auto", ann.AUTO_HNSW_FROM) == "hnsw"
    assert choose_kind("auto", ann.AUTO_IVFPQ_FROM - 1) == "hnsw"
    assert choose_kind("auto", ann.AUTO_IVFPQ_FROM) == "ivfpq"
    assert choose_kind("flat", 10**8) == "flat"
    with pytest.raises(ValueError, match="unknown index kind"):
        choose_kind("ivf", 10)


def test_the_manifest_records_the_kind_and_its_parameters(approximate_index_dir, seed_index_dir):
    assert _manifest(seed_index_dir)["faiss"] == {"kind": "flat", "metric": "inner_product"}
    recorded = _manifest(approximate_index_dir)["faiss"]
    if recorded["kind"] == "hnsw":
        assert recorded == {
            "kind": "hnsw",
            "metric": "inner_product",
            "M": HNSW.M,
            "ef_construction": HNSW.EF_CONSTRUCTION,
        }
    else:
        passages = _manifest(approximate_index_dir)["counts"]["passages"]
        assert recorded == {
            "kind": "ivfpq",
            "metric": "inner_product",
            "nlist": ivfpq.cells_for(passages),
            "pq_m": 128,  # 384 dimensions in sub-vectors of 3
            "pq_bits": 4,
            "rerank": "flat",
        }


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_small_approximate_index_answers_exactly_like_flat(approximate_index_dir, searcher, encoder, mode):
    # Small enough that the search is exhaustive: the graph reaches every node, the cells are all
    # scanned and every candidate re-scored exactly.
    approximate = Searcher(Index(approximate_index_dir, encoder.identity), encoder)
    for query, langs in QUERIES:
        flat_hits = [(r.passage_id, r.score) for r in searcher.search(query, 8, langs, mode=mode).results]
        hits = [(r.passage_id, r.score) for r in approximate.search(query, 8, langs, mode=mode).results]
        assert [p for p, _ in hits] == [p for p, _ in flat_hits]
        assert np.allclose([s for _, s in hits], [s for _, s in flat_hits], atol=1e-5)


def test_deleted_passages_never_come_back_from_an_approximate_index(approximate_copy, encoder):
    index = Index(approximate_copy, encoder.identity)
    approximate = Searcher(index, encoder)
    first = approximate.search("Қошанов Кочановамен кездесті", 3).results[0]
    _, passages = index.counts()
    assert index.delete_document(first.doc_id)

    for langs in (None, [first.lang]):  # the approximate search and the exact filtered search
        results = approximate.search(first.text, 20, langs).results
        assert results and all(r.doc_id != first.doc_id for r in results)
    assert index.vectors.size == index.counts()[1] < passages
    assert index.vector_info()["deleted_not_compacted"] == passages - index.counts()[1]
    # Another process opening the index replays the delete and agrees on the count.
    reopened = Searcher(Index(approximate_copy, encoder.identity), encoder)
    assert all(r.doc_id != first.doc_id for r in reopened.search(first.text, 20).results)


def test_a_document_added_to_an_approximate_index_is_found_and_replaced(approximate_copy, encoder):
    index = Index(approximate_copy, encoder.identity)
    approximate = Searcher(index, encoder)
    text = "Алматыда жаңа метро станциясы ашылды. Станция қала тұрғындарына қызмет көрсетеді."
    index.write_document(make_document("metro", text), encoder)
    assert approximate.search("Алматы метросы", 1).results[0].doc_id == "metro"
    replaced = "В Алматы открылась новая станция метро для жителей южной части города."
    index.write_document(make_document("metro", replaced), encoder)
    hits = [r for r in approximate.search("метро Алматы", 10).results if r.doc_id == "metro"]
    assert [r.text for r in hits] == [replaced]
    assert Index(approximate_copy, encoder.identity).vectors.size == index.counts()[1]


def test_search_efforts_are_checked(searcher):
    with pytest.raises(QueryError, match="ef_search must be an integer from 1 to"):
        searcher.search("Тоқаев", ef_search=0)
    with pytest.raises(QueryError, match="nprobe must be an integer from 1 to"):
        searcher.search("Тоқаев", nprobe=ivfpq.MAX_NPROBE + 1)
    # No effect on a flat index.
    assert searcher.search("Тоқаев", ef_search=HNSW.MAX_EF_SEARCH, nprobe=1).results


def test_the_default_efforts_come_from_the_settings(approximate_index_dir, encoder, monkeypatch):
    monkeypatch.setenv("HNSW_EF_SEARCH", "96")
    monkeypatch.setenv("IVF_NPROBE", "24")
    settings = Settings.from_env()
    index = Index(approximate_index_dir, encoder.identity, settings.effort)
    info = index.vector_info()
    assert info == info | ({"ef_search": 96} if index.kind == "hnsw" else {"nprobe": 24})
    for name, bad in (("IVF_NPROBE", "0"), ("IVF_NPROBE", str(ivfpq.MAX_NPROBE + 1)), ("HNSW_EF_SEARCH", "x")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=f"{name}={bad!r}: use an integer from 1 to"):
            Settings.from_env()
        monkeypatch.delenv(name)


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


@pytest.mark.parametrize("approximate_index_dir", ["ivfpq"], indirect=True)
def test_ivfpq_parameters_that_do_not_match_the_file_are_refused(approximate_copy, encoder):
    path = current_generation_dir(approximate_copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["faiss"]["nlist"] *= 2
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexDirError, match=r"built with .*'nlist': \d+.* not the .* that manifest.json records"):
        Index(approximate_copy, encoder.identity)


def test_an_ivfpq_index_too_small_to_train_is_refused(tmp_path, encoder):
    with pytest.raises(IndexDirError, match="an ivfpq index is trained on its passages and needs at least 16"):
        build([make_document("one", "Бір ғана қысқа құжат.")], tmp_path / "index", encoder, kind="ivfpq")
    assert not (tmp_path / "index" / "CURRENT").exists()


def _random_unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind_name", APPROXIMATE)
def test_tombstones_and_filters_against_exact_search(kind_name, monkeypatch):
    vectors = _random_unit(3000)
    keys = np.arange(3000, dtype=np.int64) * 7  # keys need not be positions
    # Uniform random vectors are the hardest case for cells: ivfpq scans them all here, its codes
    # still approximate.
    effort = ann.Effort(ef_search=200, nprobe=ivfpq.cells_for(3000))
    index = VectorIndex(build_faiss_index(kind_name, vectors), keys, kind_name, effort)
    queries = _random_unit(50, seed=1)
    removed = keys[::3]
    index.remove(removed)
    index.remove(np.array([5, 10**9]))  # not in the index: ignored
    index.add(keys[:10], vectors[:10])  # already there: not added twice
    assert index.size == 3000 - len(removed) and index.tombstones == len(removed)

    live = np.setdiff1d(keys, removed)
    exact = (queries @ vectors[np.isin(keys, live)].T).argsort(axis=1)[:, ::-1][:, :10]
    _, found = index.search(queries, 10)
    assert not np.isin(found, removed).any()
    recall = np.mean([len(set(f) & set(live[e])) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.9

    allowed = live[live % 2 == 0]  # a filter over a third of the passages
    kind_class = type(ann.kind(kind_name))
    for limit in (10**6, 10):  # scored exactly, then through the approximate search
        monkeypatch.setattr(kind_class, "exact_filter_max", limit)
        scores, found = index.search(queries, 10, allowed)
        assert np.isin(found, allowed).all()
        assert np.all(np.diff(scores, axis=1) <= 1e-6)
    # A filter's selector is kept for its array: the same array again answers the same, and
    # another filter (here the odd keys, through the approximate search too) is its own.
    assert np.array_equal(index.search(queries, 10, allowed)[1], found)
    others = live[live % 2 == 1]
    assert np.isin(index.search(queries, 10, others)[1], others).all()
    kept = len(index._filters)
    index.search(queries, 10, live[live % 5 != 0].copy())  # a one-off filter: gone with its array
    assert len(index._filters) == kept
    monkeypatch.setattr(kind_class, "exact_filter_max", 10**6)
    allowed = allowed.copy()  # a new array: found anew, and now few enough to score exactly
    exact_allowed = (queries @ vectors[np.isin(keys, allowed)].T).argsort(axis=1)[:, ::-1][:, :10]
    _, found = index.search(queries, 10, allowed)
    assert all(set(f) == set(allowed[e]) for f, e in zip(found, exact_allowed, strict=True))


def test_more_nprobe_finds_more_of_the_exact_top_10():
    vectors = _random_unit(20_000, d=64)
    keys = np.arange(20_000, dtype=np.int64)
    index = VectorIndex(build_faiss_index("ivfpq", vectors), keys, "ivfpq")
    queries = _random_unit(50, d=64, seed=1)
    exact = (queries @ vectors.T).argsort(axis=1)[:, ::-1][:, :10]

    def recall(nprobe: int) -> float:
        _, found = index.search(queries, 10, effort=ann.Effort(nprobe=nprobe))
        return float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)]))

    assert recall(1) < recall(16) < recall(ivfpq.cells_for(20_000))
    # Every cell scanned: only the 8-byte codes' error is left, on uniform random vectors (the
    # worst case), and the re-ranking takes back most of it.
    assert recall(ivfpq.cells_for(20_000)) >= 0.85


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
    assert bad.returncode == 2 and bad.stderr.strip() == "error: INDEX_KIND='ivf': use auto, flat, hnsw, ivfpq"


def test_search_efforts_over_http(live_server):
    url = f"{live_server.url}/v1/search"
    assert requests.get(url, params={"q": "Тоқаев", "ef_search": 64, "nprobe": 8}, timeout=30).status_code == 200
    assert requests.post(url, json={"query": "Тоқаев", "ef_search": 64, "nprobe": 8}, timeout=30).status_code == 200
    batch = {"queries": [{"query": "Тоқаев", "ef_search": 32}, {"query": "Токаев", "nprobe": 4}]}
    assert requests.post(f"{url}/batch", json=batch, timeout=30).status_code == 200
    for name, most in (("ef_search", HNSW.MAX_EF_SEARCH), ("nprobe", ivfpq.MAX_NPROBE)):
        for bad in ("0", "x", str(most + 1)):
            response = requests.get(url, params={"q": "Тоқаев", name: bad}, timeout=30)
            assert response.status_code == 400 and name in response.json()["error"]["message"]
    health = requests.get(f"{live_server.url}/health", timeout=30).json()
    assert health["index"]["kind"] == "flat"
