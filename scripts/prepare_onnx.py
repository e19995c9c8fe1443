"""Make the int8 ONNX model folder from the default model folder (idempotent, deterministic, offline)."""

from __future__ import annotations

from embeddings.cli import prepare_int8_main, run
from embeddings.encoders.onnx import DEFAULT_DIR
from embeddings.prepare.onnx_int8 import export_int8

if __name__ == "__main__":
    run(lambda: prepare_int8_main(__doc__, "int8 ONNX", DEFAULT_DIR, export_int8))
