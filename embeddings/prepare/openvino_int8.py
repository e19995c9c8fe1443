"""The ``openvino-int8`` model folder, made from a sentence-transformers BERT folder.

The recipe (offline and deterministic: the same source folder gives byte-identical files):

1. the BertModel traced to a float32 ONNX file with the token vectors as output (the same
   export as the ONNX recipe, :func:`embeddings.prepare.onnx_int8.export_float_onnx`);
2. ``openvino.convert_model``, then NNCF's static post-training quantisation: int8 weights *and*
   activations, transformer patterns, the mixed preset, SmoothQuant, calibrated on the seed
   articles as the project chunks them ("passage: " + each passage, "query: " + each sentence;
   never the evaluation data), every text used in file order, so nothing is sampled at random;
3. ``openvino.save_model``.

OpenVINO names unnamed nodes from a per-process counter, so the export must run in a fresh
process (as ``make setup`` runs it) to give the same ``.xml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embeddings.chunking import ChunkerSettings, chunk_document
from embeddings.corpus import read_corpus
from embeddings.encoders import openvino
from embeddings.encoders.torch import TorchEncoder
from embeddings.prepare.folders import Progress, Recipe, file_sha256
from embeddings.prepare.onnx_int8 import export_float_onnx

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
SMOOTH_QUANT_ALPHA = 0.95  # NNCF's default for transformers' MatMuls


def calibration_texts(source_dir: Path) -> list[str]:
    """The seed articles as the project chunks them, with the prompts the model sees in use."""
    texts: list[str] = []
    encoder = TorchEncoder(source_dir)
    budget = encoder.passage_token_budget()
    for doc in read_corpus(SEEDS):
        for passage in chunk_document(doc, encoder.token_count, budget, ChunkerSettings()):
            texts.append(encoder.passage_prompt + passage.text)
            texts.extend(encoder.query_prompt + passage.text[a:b] for a, b in passage.sentences)
    return texts


def _make_folder(source_dir: Path, folder: Path, say: Progress) -> dict:
    """The static-int8 OpenVINO model files, written into ``folder``; the recipe's fields of the export record."""
    import nncf
    import openvino as ov
    from tokenizers import Tokenizer

    say("export")
    float_path = folder / "model_f32.onnx"
    export_float_onnx(source_dir, float_path)
    texts = calibration_texts(source_dir)
    tokenizer = Tokenizer.from_file(str(source_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=512)
    samples = []
    for encoding in tokenizer.encode_batch(texts):
        ids = np.asarray([encoding.ids], dtype=np.int64)
        samples.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    say("quantize")
    quantized = nncf.quantize(
        ov.convert_model(str(float_path)),
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(samples),
        fast_bias_correction=True,
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_ALPHA)
        ),
    )
    ov.save_model(quantized, str(folder / openvino.XML), compress_to_fp16=True)
    float_path.unlink()
    return {
        "xml_sha256": file_sha256(folder / openvino.XML),
        "bin_sha256": file_sha256(folder / openvino.BIN),
        "calibration_texts": len(texts),
        "quantization": "static int8 (nncf.quantize: TRANSFORMER, MIXED, SmoothQuant "
        f"{SMOOTH_QUANT_ALPHA}, fast bias correction, every calibration text)",
        "versions": {"openvino": ov.__version__, "nncf": nncf.__version__},
    }


RECIPE = Recipe(openvino, _make_folder)
export_int8 = RECIPE.export
