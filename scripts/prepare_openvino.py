"""Make the static-int8 OpenVINO model folder from the default model folder (idempotent,
deterministic, offline)."""

from __future__ import annotations

from embeddings.cli import prepare_int8_main, run
from embeddings.encoders.openvino import DEFAULT_DIR
from embeddings.prepare.openvino_int8 import export_int8

if __name__ == "__main__":
    run(lambda: prepare_int8_main(__doc__, "int8 OpenVINO", DEFAULT_DIR, export_int8))
