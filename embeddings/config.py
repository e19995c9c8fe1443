"""Settings shared by the scripts and the service, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from embeddings.ann import AUTO, KINDS, Effort
from embeddings.ann.hnsw import DEFAULT_EF_SEARCH, MAX_EF_SEARCH
from embeddings.ann.ivfpq import DEFAULT_NPROBE, MAX_NPROBE
from embeddings.encoders import DEFAULT_BACKEND
from embeddings.fusion import TUNED, WEIGHT_SETTINGS, Fusion, parse_weight

DEFAULT_INDEX_DIR = Path("data/index")


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use."""


@dataclass(frozen=True)
class Settings:
    index_dir: Path = DEFAULT_INDEX_DIR
    model: str | None = None  # None: the default model folder made by scripts/prepare_model.py
    backend: str = DEFAULT_BACKEND  # a name of embeddings.encoders.BACKENDS
    index_kind: str = AUTO  # the FAISS index kind a build makes: embeddings.ann
    ef_search: int = DEFAULT_EF_SEARCH  # an hnsw index's search effort when a request names none
    nprobe: int = DEFAULT_NPROBE  # an ivfpq index's cells scanned when a request names none
    fusion: Fusion = TUNED  # the hybrid mode's weights: embeddings/fusion.py

    @classmethod
    def from_env(cls) -> Settings:
        kind = os.environ.get("INDEX_KIND") or AUTO
        if kind not in (AUTO, *KINDS):
            raise SettingsError(f"INDEX_KIND={kind!r}: use {', '.join((AUTO, *KINDS))}")
        fusion = Fusion(**{field: _weight(name, getattr(TUNED, field)) for field, name in WEIGHT_SETTINGS.items()})
        return cls(
            index_dir=Path(os.environ.get("INDEX_DIR") or DEFAULT_INDEX_DIR),
            model=os.environ.get("EMBEDDING_MODEL") or None,
            backend=os.environ.get("EMBEDDING_BACKEND") or DEFAULT_BACKEND,
            index_kind=kind,
            ef_search=_count("HNSW_EF_SEARCH", DEFAULT_EF_SEARCH, MAX_EF_SEARCH),
            nprobe=_count("IVF_NPROBE", DEFAULT_NPROBE, MAX_NPROBE),
            fusion=fusion,
        )

    @property
    def effort(self) -> Effort:
        """The search effort of a request that names none, for each approximate kind."""
        return Effort(self.ef_search, self.nprobe)


def _count(name: str, default: int, most: int) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise SettingsError(f"{name}={text!r}: use an integer from 1 to {most}")
    return int(text)


def _weight(name: str, default: float) -> float:
    text = os.environ.get(name) or str(default)
    try:
        return parse_weight(text, name)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: use a number from 0 (off) to 1") from None
