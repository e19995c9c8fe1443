"""The ``onnx-int8`` backend: the dynamic-int8 ONNX model run by plain onnxruntime.

Why plain onnxruntime: sentence-transformers 6.x cannot use its own ONNX backend in this
environment (its ``[onnx]`` extra needs an optimum release that needs transformers < 4.58), so
the model is exported once at set-up (embeddings/prepare/onnx_int8.py) and served here with
nothing but ``onnxruntime``, ``tokenizers`` and numpy: neither torch nor transformers.

The vectors differ from the float32 model's, so the identity's fingerprint is a hash of the ONNX
file and of the folder it was made from, tokenizer included (base.export_fingerprint): an index
built with one is refused by the other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from embeddings.encoders.base import (
    DEFAULT_MODEL_DIR,
    ModelError,
    TokenVectorEncoder,
    export_fingerprint,
    folder_is_complete,
)

DEFAULT_DIR = DEFAULT_MODEL_DIR.parent / "multilingual-e5-small-onnx-int8"
MODEL_FILE = "model_int8.onnx"
EXPORT_INFO = "onnx_export.json"
RECIPE_VERSION = 1  # bump when the export recipe changes: prepared folders are then remade


def is_complete(folder: Path) -> bool:
    return folder_is_complete(folder, EXPORT_INFO, (MODEL_FILE,), RECIPE_VERSION)


class OnnxEncoder(TokenVectorEncoder):
    """``threads`` sets ONNX Runtime's intra-op threads (default: every core). ``spin`` lets those
    threads busy-wait between kernels: faster for one caller alone, but on 2 cores shared with
    gunicorn's other threads and FAISS it steals the CPU they need, so it is off by default."""

    def __init__(self, model_dir: str | os.PathLike | None = None, threads: int | None = None, spin: bool = False):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime as ort

        folder = Path(model_dir or DEFAULT_DIR)
        if not is_complete(folder):
            raise ModelError(
                f"the int8 ONNX model is not prepared at {folder}; run `make setup` or `python scripts/prepare_onnx.py`"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception kinds; the user needs one message
            raise ModelError(f"cannot load the ONNX model {folder / MODEL_FILE}: {exc}") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}
        info = json.loads((folder / EXPORT_INFO).read_text())
        self._load_folder(folder, "onnx-int8", export_fingerprint(info, ("onnx_sha256",)))

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        return self.session.run(None, {k: v for k, v in feed.items() if k in self.input_names})[0]
