"""The ``openvino-int8`` backend: the static-int8 model (made at set-up by
embeddings/prepare/openvino_int8.py) run by OpenVINO; the fastest backend on this 2-core CPU,
with float32 quality. Serving needs only ``openvino``, ``tokenizers`` and numpy.

Two runtime settings matter:

- ``INFERENCE_PRECISION_HINT=f32``: on CPUs with AMX, OpenVINO otherwise runs the float parts in
  bf16, which gave wrong vectors at some input widths (cosine 0.89 to float32 at exactly 32 tokens).
- Widths are padded to a multiple of 16 tokens (the mask hides the padding): int8 OpenVINO pays a
  one-off cost for each new input shape, so fewer shapes means fewer slow first calls.
- ``CACHE_DIR``: compiling unpacks the int8 weights into about 560 MB of private memory per
  compiled model, and a service holds two per worker (its own and the bulk lane's). OpenVINO's
  model cache keeps the compiled model in a file (``compiled/`` in the model folder, written once,
  under a lock, by the first load) that later loads memory-map: every compiled model of every
  process shares one copy in the page cache (a worker's private memory 1.5 GB → about 0.2 GB here),
  and a load takes 0.2 s instead of 2.

The vectors differ from the float32 model's, so the identity's fingerprint is a hash of the model
files and of the folder they were made from, tokenizer included (base.export_fingerprint): an
index built with one backend is refused by another.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from embeddings.encoders.base import (
    DEFAULT_MODEL_DIR,
    ModelError,
    TokenVectorEncoder,
    export_fingerprint,
    folder_is_complete,
)

DEFAULT_DIR = DEFAULT_MODEL_DIR.parent / "multilingual-e5-small-openvino-int8"
XML = "openvino_model.xml"
COMPILE_CACHE = "compiled"
BIN = "openvino_model.bin"
EXPORT_INFO = "openvino_export.json"
RECIPE_VERSION = 1  # bump when the recipe changes: prepared folders are then remade


def is_complete(folder: Path) -> bool:
    return folder_is_complete(folder, EXPORT_INFO, (XML, BIN), RECIPE_VERSION)


@contextmanager
def _compile_cache(folder: Path) -> Iterator[Path | None]:
    """The model cache folder, held under a lock while this process compiles (the first to load
    writes the cache; the others wait, then map it); None where it cannot be made (a read-only
    model folder: every load compiles, as without a cache)."""
    cache_dir = folder / COMPILE_CACHE
    try:
        cache_dir.mkdir(exist_ok=True)
        lock = open(folder / f"{COMPILE_CACHE}.lock", "a+b")
    except OSError:
        yield None
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield cache_dir


class OpenVinoEncoder(TokenVectorEncoder):
    """``threads``: OpenVINO's inference threads (default: every core), with the LATENCY hint (one
    stream: every thread works on each call, right for one caller at a time)."""

    pad_to = 16

    def __init__(self, model_dir: str | os.PathLike | None = None, threads: int | None = None) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import openvino as ov

        folder = Path(model_dir or DEFAULT_DIR)
        if not is_complete(folder):
            raise ModelError(
                f"the int8 OpenVINO model is not prepared at {folder}; "
                "run `make setup` or `python scripts/prepare_openvino.py`"
            )
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(threads or os.cpu_count() or 1),
            "INFERENCE_PRECISION_HINT": "f32",  # not bf16: see the module's docstring
        }
        try:
            with _compile_cache(folder) as cache_dir:
                if cache_dir is not None:
                    config["CACHE_DIR"] = str(cache_dir)
                compiled = ov.Core().compile_model(str(folder / XML), "CPU", config)
        except Exception as exc:  # openvino raises its own exception kinds; the user needs one message
            raise ModelError(f"cannot load the OpenVINO model {folder / XML}: {exc}") from exc
        self.request = compiled.create_infer_request()
        self._request_lock = threading.Lock()  # one infer request: gunicorn's threads take turns
        self.input_names = {port.any_name for port in compiled.inputs}
        info = json.loads((folder / EXPORT_INFO).read_text())
        self._load_folder(folder, "openvino-int8", export_fingerprint(info, ("xml_sha256", "bin_sha256")))

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        # A copy: the request's output buffer is overwritten by the next call.
        with self._request_lock:
            result = self.request.infer({k: v for k, v in feed.items() if k in self.input_names})
            return np.array(result[0], dtype=np.float32, copy=True)
