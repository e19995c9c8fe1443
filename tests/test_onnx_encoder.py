"""The int8 ONNX encoder: same interface and close vectors to the float32 model, its own identity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embeddings.config import Settings
from embeddings.encoders import ModelError, load_encoder
from embeddings.encoders.onnx import DEFAULT_DIR, EXPORT_INFO, OnnxEncoder, is_complete
from embeddings.index import Index, IndexDirError, build
from embeddings.prepare.onnx_int8 import export_int8

pytest.importorskip("onnxruntime")

QUERIES = [
    "Лукашенко Қазақстанмен сауда туралы",
    "торговля Беларуси с Казахстаном",
    "trade between Belarus and Kazakhstan",
]
PASSAGE = "Президент Беларуси прибыл в Астану. Стороны обсудили торговлю. Объём торговли вырос на треть."
SPANS = [(0, 34), (35, 59), (60, len(PASSAGE))]


@pytest.fixture(scope="module")
def onnx_encoder() -> OnnxEncoder:
    if not is_complete(DEFAULT_DIR):
        pytest.skip(f"no int8 ONNX model at {DEFAULT_DIR}: run `make setup` (scripts/prepare_onnx.py)")
    return OnnxEncoder()


def test_identity_differs_from_float32_but_shape_and_prompts_match(onnx_encoder, float32_encoder):
    ours, theirs = onnx_encoder.identity, float32_encoder.identity
    assert ours.fingerprint != theirs.fingerprint
    assert ours.fingerprint.startswith("onnx-int8:")
    assert (ours.dimension, ours.prompts, ours.max_seq_length) == (
        theirs.dimension,
        theirs.prompts,
        theirs.max_seq_length,
    )
    info = json.loads((DEFAULT_DIR / EXPORT_INFO).read_text())
    assert info["fused_operators"]["Attention"] == 12  # the fused graph, not the plain one


def test_query_vectors_are_close_to_float32_and_normalised(onnx_encoder, float32_encoder):
    ours = onnx_encoder.encode_queries(QUERIES)
    theirs = float32_encoder.encode_queries(QUERIES)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.98


def test_batching_barely_changes_vectors_and_repeats_exactly(onnx_encoder):
    together = onnx_encoder.encode_queries(QUERIES, batch_size=8)
    alone = np.vstack([onnx_encoder.encode_queries([q]) for q in QUERIES])
    # Dynamic int8 picks each activation's scale from the whole batch, so batch neighbours move a
    # vector a little (cosine ~0.998), never more.
    assert (together * alone).sum(axis=1).min() > 0.995
    assert np.array_equal(together, onnx_encoder.encode_queries(QUERIES, batch_size=8))


def assert_passages_match_float32(fast, float32_encoder, passage_cosine: float, sentence_cosine: float) -> None:
    """An int8 encoder's passage and sentence vectors are close to the float32 encoder's, and pick
    the same best sentence."""
    texts = [PASSAGE, "Қысқа мәтін."]
    spans = [SPANS, [(0, 12)]]
    vectors, sentences = fast.encode_passages(texts, spans)
    ref_vectors, ref_sentences = float32_encoder.encode_passages(texts, spans)
    assert vectors.shape == ref_vectors.shape
    assert (vectors * ref_vectors).sum(axis=1).min() > passage_cosine
    for ours, theirs, span in zip(sentences, ref_sentences, spans, strict=True):
        assert ours.shape == (len(span), float32_encoder.identity.dimension)
        assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
        assert (ours * theirs).sum(axis=1).min() > sentence_cosine
    # The best sentence for a query about trade is the same one under both models.
    query = fast.encode_queries(["объём торговли"])[0]
    assert int(np.argmax(sentences[0] @ query)) == int(np.argmax(ref_sentences[0] @ query))


def test_passages_and_sentence_vectors_match_the_float32_encoder(onnx_encoder, float32_encoder):
    assert_passages_match_float32(onnx_encoder, float32_encoder, passage_cosine=0.98, sentence_cosine=0.97)


def test_a_span_no_token_covers_gets_the_passage_vector(onnx_encoder):
    beyond = len(PASSAGE) + 10
    vectors, sentences = onnx_encoder.encode_passages([PASSAGE], [[(beyond, beyond + 5)]])
    assert np.allclose(sentences[0][0], vectors[0], atol=1e-5)


def test_token_budget_and_counts(onnx_encoder):
    assert onnx_encoder.token_count("") == 0
    assert onnx_encoder.token_count("Қазақстан") >= 1
    assert 500 <= onnx_encoder.passage_token_budget() < onnx_encoder.identity.max_seq_length


def test_an_index_built_with_int8_is_refused_by_float32(onnx_encoder, float32_encoder, tmp_path):
    from embeddings.corpus import make_document

    build([make_document("d1", PASSAGE, lang="ru")], tmp_path / "index", onnx_encoder)
    Index(tmp_path / "index", onnx_encoder.identity).close()  # opens with its own model
    with pytest.raises(IndexDirError, match="onnx-int8"):
        Index(tmp_path / "index", float32_encoder.identity)


def test_load_encoder_picks_the_backend(onnx_encoder, monkeypatch):
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx-int8")
    assert isinstance(load_encoder(backend=Settings.from_env().backend), OnnxEncoder)
    with pytest.raises(ModelError, match="unknown EMBEDDING_BACKEND"):
        load_encoder(backend="tensorflow")


def test_an_unprepared_folder_is_refused_clearly(tmp_path):
    assert not is_complete(tmp_path)
    with pytest.raises(ModelError, match="prepare_onnx"):
        OnnxEncoder(tmp_path)
    with pytest.raises(ModelError, match="no model"):
        export_int8(tmp_path / "nothing", tmp_path / "out")


@pytest.mark.slow
def test_export_is_deterministic(tmp_path):
    if not is_complete(DEFAULT_DIR):
        pytest.skip("no prepared int8 ONNX model to compare with")
    assert export_int8(out_dir=tmp_path / "again")
    ours = json.loads((tmp_path / "again" / EXPORT_INFO).read_text())["onnx_sha256"]
    assert ours == json.loads((DEFAULT_DIR / EXPORT_INFO).read_text())["onnx_sha256"]
    assert not export_int8(out_dir=tmp_path / "again")  # idempotent: the second run does nothing
