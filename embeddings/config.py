"""Settings shared by the scripts and the service, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INDEX_DIR = Path("data/index")


@dataclass(frozen=True)
class Settings:
    index_dir: Path = DEFAULT_INDEX_DIR
    model: str | None = None  # None: the default model folder made by scripts/prepare_model.py
    backend: str = "torch"  # or "onnx-int8": see embeddings.encoder.load_encoder

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            index_dir=Path(os.environ.get("INDEX_DIR") or DEFAULT_INDEX_DIR),
            model=os.environ.get("EMBEDDING_MODEL") or None,
            backend=os.environ.get("EMBEDDING_BACKEND") or "torch",
        )
