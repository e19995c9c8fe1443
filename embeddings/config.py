"""Settings shared by the scripts and the service, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from embeddings.encoders import DEFAULT_BACKEND
from embeddings.fusion import TUNED, WEIGHT_SETTINGS, Fusion, parse_weight
from embeddings.vector_index import AUTO, DEFAULT_EF_SEARCH, KINDS, MAX_EF_SEARCH

DEFAULT_INDEX_DIR = Path("data/index")


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use."""


@dataclass(frozen=True)
class Settings:
    index_dir: Path = DEFAULT_INDEX_DIR
    model: str | None = None  # None: the default model folder made by scripts/prepare_model.py
    backend: str = DEFAULT_BACKEND  # a name of embeddings.encoders.BACKENDS
    index_kind: str = AUTO  # the FAISS index kind a build makes: embeddings.vector_index
    ef_search: int = DEFAULT_EF_SEARCH  # an hnsw index's search effort when a request names none
    fusion: Fusion = TUNED  # the hybrid mode's weights: embeddings/fusion.py

    @classmethod
    def from_env(cls) -> Settings:
        kind = os.environ.get("INDEX_KIND") or AUTO
        if kind not in (AUTO, *KINDS):
            raise SettingsError(f"INDEX_KIND={kind!r}: use {', '.join((AUTO, *KINDS))}")
        ef_text = os.environ.get("HNSW_EF_SEARCH") or str(DEFAULT_EF_SEARCH)
        if not ef_text.isdigit() or not 1 <= int(ef_text) <= MAX_EF_SEARCH:
            raise SettingsError(f"HNSW_EF_SEARCH={ef_text!r}: use an integer from 1 to {MAX_EF_SEARCH}")
        fusion = Fusion(**{field: _weight(name, getattr(TUNED, field)) for field, name in WEIGHT_SETTINGS.items()})
        return cls(
            index_dir=Path(os.environ.get("INDEX_DIR") or DEFAULT_INDEX_DIR),
            model=os.environ.get("EMBEDDING_MODEL") or None,
            backend=os.environ.get("EMBEDDING_BACKEND") or DEFAULT_BACKEND,
            index_kind=kind,
            ef_search=int(ef_text),
            fusion=fusion,
        )


def _weight(name: str, default: float) -> float:
    text = os.environ.get(name) or str(default)
    try:
        return parse_weight(text, name)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: use a number from 0 (off) to 1") from None
