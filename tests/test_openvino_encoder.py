"""The static-int8 OpenVINO encoder: float32-close vectors, its own identity, a deterministic recipe."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from embeddings.encoders import ModelError, load_encoder
from embeddings.encoders.openvino import DEFAULT_DIR, EXPORT_INFO, OpenVinoEncoder, is_complete
from embeddings.index import Index, IndexDirError, build
from embeddings.prepare.openvino_int8 import export_int8
from tests.conftest import ROOT, SEEDS
from tests.test_onnx_encoder import PASSAGE, QUERIES, assert_passages_match_float32

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def openvino_encoder() -> OpenVinoEncoder:
    if not is_complete(DEFAULT_DIR):
        pytest.skip(f"no int8 OpenVINO model at {DEFAULT_DIR}: run `make setup`")
    return OpenVinoEncoder()


def test_identity_is_its_own_with_the_same_shape_and_prompts(openvino_encoder, float32_encoder):
    ours, theirs = openvino_encoder.identity, float32_encoder.identity
    assert ours.fingerprint.startswith("openvino-int8:") and ours.fingerprint != theirs.fingerprint
    assert ours.name == "multilingual-e5-small (openvino-int8)"
    assert (ours.dimension, ours.prompts, ours.max_seq_length) == (
        theirs.dimension,
        theirs.prompts,
        theirs.max_seq_length,
    )


def test_vectors_are_close_to_float32_at_every_padded_width(openvino_encoder, float32_encoder):
    # Widths around multiples of the padding (16 tokens), where bf16 arithmetic once went wrong.
    words = sorted(SEEDS.glob("000_*.txt"))[0].read_text().split()
    texts = QUERIES + [" ".join(words[:n]) for n in (5, 9, 10, 11, 20, 21, 22, 40, 80)]
    ours = openvino_encoder.encode_queries(texts, batch_size=1)
    theirs = float32_encoder.encode_queries(texts)
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.99
    together = openvino_encoder.encode_queries(texts, batch_size=16)  # padding neighbours change nothing much
    assert (together * ours).sum(axis=1).min() > 0.995


def test_a_multi_paragraph_article_is_tokenized_and_encoded_as_the_float32_model_does(
    openvino_encoder, float32_encoder
):
    # Newlines and tabs separate words, as in the float32 model's tokenizer; they were once <unk>,
    # which moved every article vector (int8·float32 cosine 0.993 on FLORES articles, now 0.998).
    paragraphs = [p for p in sorted(SEEDS.glob("000_*.txt"))[0].read_text().splitlines() if p.strip()]
    article = "\n".join(paragraphs[2:6]) + "\n\tЖаңа аурухана келесі жылы ашылады."
    assert openvino_encoder.tokenizer.encode(article).ids == float32_encoder.tokenizer(article)["input_ids"]
    ours = openvino_encoder.encode_passages([article], [[]])[0][0]
    theirs = float32_encoder.encode_passages([article], [[]])[0][0]
    assert float(ours @ theirs) > 0.995


def test_passages_and_sentence_vectors_match_the_float32_encoder(openvino_encoder, float32_encoder):
    assert_passages_match_float32(openvino_encoder, float32_encoder, passage_cosine=0.99, sentence_cosine=0.98)


def test_an_index_built_with_it_is_refused_by_another_backend(openvino_encoder, float32_encoder, tmp_path):
    from embeddings.corpus import make_document

    build([make_document("d1", PASSAGE, lang="ru")], tmp_path / "index", openvino_encoder)
    Index(tmp_path / "index", openvino_encoder.identity).close()
    with pytest.raises(IndexDirError, match="openvino-int8"):
        Index(tmp_path / "index", float32_encoder.identity)


def test_load_encoder_picks_it_and_an_unprepared_folder_is_refused(openvino_encoder, tmp_path):
    assert isinstance(load_encoder(backend="openvino-int8"), OpenVinoEncoder)
    with pytest.raises(ModelError, match="prepare_openvino"):
        OpenVinoEncoder(tmp_path)
    with pytest.raises(ModelError, match="no model"):
        export_int8(tmp_path / "nothing", tmp_path / "out")


@pytest.mark.slow
def test_the_recipe_is_deterministic_and_idempotent(tmp_path):
    if not is_complete(DEFAULT_DIR):
        pytest.skip("no prepared OpenVINO model to compare with")
    # A fresh process, as at set-up: OpenVINO names unnamed nodes from a per-process counter, so
    # models made earlier in the same process would change the names in the file.
    command = [sys.executable, "scripts/prepare_openvino.py", "--out", str(tmp_path / "again")]
    made = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0 and "written to" in made.stdout, made.stderr[-2000:]
    ours = json.loads((tmp_path / "again" / EXPORT_INFO).read_text())
    theirs = json.loads((DEFAULT_DIR / EXPORT_INFO).read_text())
    assert (ours["xml_sha256"], ours["bin_sha256"]) == (theirs["xml_sha256"], theirs["bin_sha256"])
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "already prepared" in again.stdout
