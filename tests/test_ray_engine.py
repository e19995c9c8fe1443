"""The Ray engine on a real local Ray instance (2 CPUs): the same index and answers as the local engine."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from embeddings.batch import QueryLine, run_batch
from embeddings.corpus import read_corpus
from embeddings.index import Index, build
from embeddings.search import Searcher
from tests.conftest import SEEDS
from tests.test_scripts import script

pytest.importorskip("ray")

QUERIES = [
    QueryLine("q1", "Рустами Эмомали в Астане", None),
    QueryLine("q2", "Наталья Кочанова кездесу", ["ru"]),
    QueryLine("q3", "trade between Kazakhstan and Belarus", ["kk", "ru"]),
]


@pytest.fixture(scope="module")
def ray_encoder():
    from embeddings.encoders import load_encoder

    encoder = load_encoder(engine="ray")
    yield encoder
    encoder.close()


def test_ray_encodes_like_the_local_engine(ray_encoder, encoder):
    texts = ["Қазақстан мен Беларусь депутаттары", "Маулен Ашимбаев провел встречи. Вторая фраза здесь."]
    spans = [[(0, len(texts[0]))], [(0, 31), (32, len(texts[1]))]]
    assert np.allclose(ray_encoder.encode_queries(texts), encoder.encode_queries(texts), atol=1e-5)
    ray_vectors, ray_sentences = ray_encoder.encode_passages(texts, spans)
    local_vectors, local_sentences = encoder.encode_passages(texts, spans)
    assert np.allclose(ray_vectors, local_vectors, atol=1e-5)
    for r, loc in zip(ray_sentences, local_sentences, strict=True):
        assert r.shape == loc.shape and np.allclose(r, loc, atol=1e-5)
    assert ray_encoder.identity == encoder.identity


def test_ray_builds_the_same_index_and_gives_the_same_answers(ray_encoder, encoder, seed_index_dir, tmp_path):
    built = build(read_corpus(SEEDS), tmp_path / "ray-index", ray_encoder)
    ray_index = Index(tmp_path / "ray-index", encoder.identity)  # the same model identity
    local_index = Index(seed_index_dir, encoder.identity)
    assert built.manifest["counts"] == local_index.manifest["counts"]
    ray_keys, ray_vectors = ray_index.store.all_vectors()
    local_keys, local_vectors = local_index.store.all_vectors()
    assert np.array_equal(ray_keys, local_keys)
    assert np.allclose(ray_vectors, local_vectors, atol=1e-5)
    ray_ids = {k: r.id for k, r in ray_index.store.passages_by_key(ray_keys).items()}
    assert ray_ids == {k: r.id for k, r in local_index.store.passages_by_key(local_keys).items()}

    ray_rows = list(run_batch(Searcher(ray_index, ray_encoder), QUERIES, 5))
    local_rows = list(run_batch(Searcher(local_index, encoder), QUERIES, 5))
    for ray_row, local_row in zip(ray_rows, local_rows, strict=True):
        assert [r["passage_id"] for r in ray_row["results"]] == [r["passage_id"] for r in local_row["results"]]
        for a, b in zip(ray_row["results"], local_row["results"], strict=True):
            assert abs(a["score"] - b["score"]) <= 1e-5


@pytest.mark.slow
def test_scripts_take_the_ray_engine_and_fail_clearly(seed_index_dir, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_bytes(b"".join(orjson.dumps({"id": q.id, "query": q.query}) + b"\n" for q in QUERIES))
    out = tmp_path / "out.jsonl"

    done = script(
        "batch_query.py", "--index", str(seed_index_dir), "--in", str(queries), "--out", str(out), "--engine", "ray"
    )
    assert done.returncode == 0, done.stderr
    local = tmp_path / "local.jsonl"
    assert (
        script("batch_query.py", "--index", str(seed_index_dir), "--in", str(queries), "--out", str(local)).returncode
        == 0
    )
    ray_rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    local_rows = [orjson.loads(line) for line in local.read_bytes().splitlines()]
    assert [[r["passage_id"] for r in row["results"]] for row in ray_rows] == [
        [r["passage_id"] for r in row["results"]] for row in local_rows
    ]
    assert "--ray-address" in script("build_index.py", "--help").stdout
    wrong = script("build_index.py", "--corpus", str(SEEDS), "--index", str(tmp_path / "i"), "--ray-address", "auto")
    assert wrong.returncode == 2 and "needs --engine ray" in wrong.stderr
    missing = script(
        "batch_query.py", "--index", str(tmp_path / "none"), "--in", str(queries), "--out", str(out), "--engine", "ray"
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
