"""Nothing acknowledged is lost on a rebuild: a build from the corpus keeps the documents added
through the API, a re-index builds from the store, `make index` never rebuilds an existing index
from the corpus folder, and writes during a rebuild are refused (503), not lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from embeddings.corpus import make_document, read_corpus
from embeddings.index import (
    STORE,
    Index,
    IndexBusyError,
    build_lock,
    current_generation_dir,
    read_manifest,
)
from embeddings.search import Searcher
from embeddings.store import Store
from tests.conftest import ROOT, SEEDS

API_DOC = make_document(
    "api-snow", "В Астане ожидается сильный снегопад.\nСиноптики советуют не выезжать за город.", source="api"
)
BUILD = [sys.executable, str(ROOT / "scripts" / "build_index.py")]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BUILD, *args], capture_output=True, text=True, cwd=ROOT, timeout=600, env=os.environ | env)


def _with_api_document(index_dir, encoder) -> set[str]:
    index = Index(index_dir, encoder.identity)
    index.write_document(API_DOC, encoder)
    ids = {doc.id for doc in index.store.documents()}
    index.close()
    return ids


def _documents(index_dir, encoder) -> dict[str, tuple]:
    """Every document of the current generation, read from its store (whatever model built it)."""
    store = Store(current_generation_dir(index_dir) / STORE, encoder.identity.dimension)
    try:
        return {d.id: (d.title, d.date, d.lang, d.text, d.source) for d in store.documents()}
    finally:
        store.close()


def test_a_build_from_the_corpus_keeps_the_api_documents_unless_told(index_copy, encoder):
    before = _with_api_document(index_copy, encoder)
    done = _run("--corpus", str(SEEDS), "--index", str(index_copy))
    assert done.returncode == 0, done.stderr
    assert "kept 1 document(s) added through the API" in done.stdout
    after = _documents(index_copy, encoder)
    assert set(after) == before and after["api-snow"][4] == "api"
    hits = Searcher.open(index_copy, encoder).search("снегопад в Астане", k=3).results
    assert hits[0].doc_id == "api-snow"

    done = _run("--corpus", str(SEEDS), "--index", str(index_copy), "--drop-api-documents")
    assert done.returncode == 0, done.stderr
    assert "dropped" in done.stdout
    assert set(_documents(index_copy, encoder)) == {doc.id for doc in read_corpus(SEEDS)}


def test_reindex_builds_from_the_store_with_the_same_ids_and_metadata(index_copy, encoder):
    _with_api_document(index_copy, encoder)
    before = _documents(index_copy, encoder)
    generation = read_manifest(current_generation_dir(index_copy))["generation"]
    done = _run("--reindex", "--index", str(index_copy), "--corpus", "/nonexistent")  # the corpus is not read
    assert done.returncode == 0, done.stderr
    assert "from its own documents" in done.stdout
    assert _documents(index_copy, encoder) == before
    assert read_manifest(current_generation_dir(index_copy))["generation"] == generation + 1


def test_make_index_never_rebuilds_an_existing_index_from_the_corpus(index_copy, encoder, tmp_path):
    _with_api_document(index_copy, encoder)
    before = _documents(index_copy, encoder)
    other_corpus = tmp_path / "other"
    other_corpus.mkdir()
    (other_corpus / "x.txt").write_text("Бұл басқа корпус.\n", encoding="utf-8")
    same = _run("--corpus", str(other_corpus), "--index", str(index_copy), "--if-missing")
    assert same.returncode == 0 and "not rebuilt" in same.stdout, same.stderr
    # Another kind asked for (INDEX_KIND=hnsw make serve): re-indexed from the store, in one line.
    other_kind = _run("--corpus", str(other_corpus), "--index", str(index_copy), "--if-missing", "--index-kind", "hnsw")
    assert other_kind.returncode == 0, other_kind.stderr
    assert "re-indexing" in other_kind.stderr and "flat index, hnsw asked for" in other_kind.stderr
    assert read_manifest(current_generation_dir(index_copy))["faiss"]["kind"] == "hnsw"
    assert _documents(index_copy, encoder) == before


def test_another_backend_re_indexes_instead_of_refusing(index_copy, encoder):
    _with_api_document(index_copy, encoder)
    before = _documents(index_copy, encoder)
    done = _run("--index", str(index_copy), "--if-missing", EMBEDDING_BACKEND="torch")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("re-indexing"))
    assert f"built by {encoder.identity.name!r}" in line
    assert read_manifest(current_generation_dir(index_copy))["model"]["name"] != encoder.identity.name
    assert _documents(index_copy, encoder) == before


def test_writes_during_a_rebuild_are_refused_not_lost(index_copy, encoder, monkeypatch):
    from service import create_app

    monkeypatch.setenv("RETRIEVAL_API_KEY", "test-key")
    searcher = Searcher.open(index_copy, encoder)
    client = create_app(searcher=searcher).test_client()
    headers = {"Authorization": "Bearer test-key"}
    with build_lock(index_copy):
        with pytest.raises(IndexBusyError, match="being rebuilt"):
            searcher.index.write_document(API_DOC, encoder)
        answer = client.post("/v1/documents", json={"id": "x", "text": "Жаңа құжат."}, headers=headers)
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert answer.get_json()["error"]["code"] == "index_rebuilding"
        assert client.delete("/v1/documents/003_50027884f20b3e6f", headers=headers).status_code == 503
        assert client.get("/v1/search", query_string={"q": "Ашимбаев"}).status_code == 200  # reads go on
    assert client.post("/v1/documents", json={"id": "x", "text": "Жаңа құжат."}, headers=headers).status_code == 201


def test_a_reindex_killed_midway_leaves_the_previous_generation_whole(index_copy, encoder):
    _with_api_document(index_copy, encoder)
    before = _documents(index_copy, encoder)
    proc = subprocess.Popen(
        [*BUILD, "--reindex", "--index", str(index_copy)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        seen = b""
        while b"encoding" not in seen and time.monotonic() < deadline:  # the model is loaded, work began
            seen += os.read(proc.stderr.fileno(), 4096) or b""
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert _documents(index_copy, encoder) == before
    index = Index(index_copy, encoder.identity)
    index.delete_document("api-snow")  # the killed rebuild's lock went with it: writes are taken
    index.close()
