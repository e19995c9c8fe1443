"""An OpenVINO static-int8 encoder: the fastest backend on this 2-core CPU, with float32 quality.

The recipe (:func:`export_int8`, run by ``scripts/prepare_openvino.py`` at set-up; offline and
deterministic: the same source folder gives byte-identical files):

1. the BertModel traced to a float32 ONNX file with the token vectors as output (the same
   export as the ONNX recipe, :func:`embeddings.onnx_encoder.export_float_onnx`);
2. ``openvino.convert_model``, then NNCF's static post-training quantisation: int8 weights *and*
   activations, transformer patterns, the mixed preset, SmoothQuant, calibrated on the seed
   articles as the project chunks them ("passage: " + each passage, "query: " + each sentence;
   never the evaluation data), every text used in file order, so nothing is sampled at random;
3. ``openvino.save_model``.

Serving needs only ``openvino``, ``tokenizers`` and numpy. Two runtime settings matter:

- ``INFERENCE_PRECISION_HINT=f32``: on CPUs with AMX, OpenVINO otherwise runs the float parts in
  bf16, which gave wrong vectors at some input widths (cosine 0.89 to float32 at exactly 32 tokens).
- Widths are padded to a multiple of 16 tokens (the mask hides the padding): int8 OpenVINO pays a
  one-off cost for each new input shape, so fewer shapes means fewer slow first calls.

The vectors differ from the float32 model's, so the identity's fingerprint is a hash of the model
files: an index built with one backend is refused by another.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embeddings.encoder import DEFAULT_MODEL_DIR, ModelError, staged_folder
from embeddings.onnx_encoder import (
    COPIED,
    TokenVectorEncoder,
    _file_sha256,
    export_float_onnx,
    folder_is_prepared,
    source_fingerprint,
)

DEFAULT_OPENVINO_DIR = DEFAULT_MODEL_DIR.parent / "multilingual-e5-small-openvino-int8"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
XML = "openvino_model.xml"
BIN = "openvino_model.bin"
EXPORT_INFO = "openvino_export.json"
RECIPE_VERSION = 1  # bump when the recipe changes: prepared folders are then remade
SMOOTH_QUANT_ALPHA = 0.95  # NNCF's default for transformers' MatMuls


def is_prepared(out_dir: Path, source_dir: Path | None = None) -> bool:
    """The OpenVINO folder is complete, made by this recipe, and (when given) from this source folder."""
    return folder_is_prepared(out_dir, source_dir, EXPORT_INFO, (XML, BIN), RECIPE_VERSION)


def calibration_texts(source_dir: Path) -> list[str]:
    """The seed articles as the project chunks them, with the prompts the model sees in use."""
    from embeddings.chunking import ChunkerSettings, chunk_document
    from embeddings.corpus import read_corpus
    from embeddings.encoder import Encoder

    texts: list[str] = []
    encoder = Encoder(source_dir)
    budget = encoder.passage_token_budget()
    for doc in read_corpus(SEEDS):
        for passage in chunk_document(doc, encoder.token_count, budget, ChunkerSettings()):
            texts.append(encoder.passage_prompt + passage.text)
            texts.extend(encoder.query_prompt + passage.text[a:b] for a, b in passage.sentences)
    return texts


def export_int8(
    source_dir: Path | None = None,
    out_dir: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> bool:
    """Write the static-int8 OpenVINO folder from a sentence-transformers BERT folder; False if it
    is already there. Offline, about a minute; written beside its destination and renamed into
    place, so an interrupted run never leaves a folder that looks complete."""
    source_dir = Path(source_dir or DEFAULT_MODEL_DIR)
    out_dir = Path(out_dir or DEFAULT_OPENVINO_DIR)
    if not (source_dir / "model.safetensors").is_file():
        raise ModelError(f"no model at {source_dir}; run `make setup` or `python scripts/prepare_model.py` first")
    if not force and is_prepared(out_dir, source_dir):
        return False
    say = progress or (lambda step: None)
    import nncf
    import openvino as ov
    from tokenizers import Tokenizer

    with staged_folder(out_dir) as tmp:
        say("export")
        float_path = tmp / "model_f32.onnx"
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
        ov.save_model(quantized, str(tmp / XML), compress_to_fp16=True)
        float_path.unlink()
        for name in COPIED:
            shutil.copyfile(source_dir / name, tmp / name)
        info = {
            "recipe_version": RECIPE_VERSION,
            "source": str(source_dir.name),
            "source_fingerprint": source_fingerprint(source_dir),
            "xml_sha256": _file_sha256(tmp / XML),
            "bin_sha256": _file_sha256(tmp / BIN),
            "calibration_texts": len(texts),
            "quantization": "static int8 (nncf.quantize: TRANSFORMER, MIXED, SmoothQuant "
            f"{SMOOTH_QUANT_ALPHA}, fast bias correction, every calibration text)",
            "versions": {"openvino": ov.__version__, "nncf": nncf.__version__},
        }
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return True


class OpenVinoEncoder(TokenVectorEncoder):
    """The static-int8 OpenVINO model behind the :class:`embeddings.encoder.Encoder` interface.

    ``threads``: OpenVINO's inference threads (default: every core), with the LATENCY hint (one
    stream: every thread works on each call, right for one caller at a time).
    """

    pad_to = 16

    def __init__(self, model_dir: str | os.PathLike | None = None, threads: int | None = None) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import openvino as ov

        folder = Path(model_dir or DEFAULT_OPENVINO_DIR)
        if not is_prepared(folder):
            raise ModelError(
                f"the int8 OpenVINO model is not prepared at {folder}; "
                "run `make setup` or `python scripts/prepare_openvino.py`"
            )
        self._keep_faiss_off_torch()
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(threads or os.cpu_count() or 1),
            "INFERENCE_PRECISION_HINT": "f32",  # not bf16: see the module's docstring
        }
        try:
            compiled = ov.Core().compile_model(str(folder / XML), "CPU", config)
        except Exception as exc:  # openvino raises its own exception kinds; the user needs one message
            raise ModelError(f"cannot load the OpenVINO model {folder / XML}: {exc}") from exc
        self.request = compiled.create_infer_request()
        self._request_lock = threading.Lock()  # one infer request: gunicorn's threads take turns
        self.input_names = {port.any_name for port in compiled.inputs}
        info = json.loads((folder / EXPORT_INFO).read_text())
        fingerprint = hashlib.sha256((info["xml_sha256"] + info["bin_sha256"]).encode()).hexdigest()
        self._load_folder(folder, "openvino-int8", fingerprint)

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        # A copy: the request's output buffer is overwritten by the next call.
        with self._request_lock:
            result = self.request.infer({k: v for k, v in feed.items() if k in self.input_names})
            return np.array(result[0], dtype=np.float32, copy=True)
