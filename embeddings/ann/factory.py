"""The one list of FAISS index kinds, and how a build chooses among them. A new kind is a module
beside this one (importing only :mod:`embeddings.ann.base`) and one line in :data:`KINDS`."""

from __future__ import annotations

from collections.abc import Sequence

import faiss

from embeddings.ann.base import Kind
from embeddings.ann.flat import Flat
from embeddings.ann.hnsw import HNSW
from embeddings.ann.ivfpq import IVFPQ

KINDS: dict[str, Kind] = {kind.name: kind for kind in (Flat(), HNSW(), IVFPQ())}
AUTO = "auto"
AUTO_HNSW_FROM = 200_000  # passages; one exact query over 200k vectors of 384 floats: ~25 ms on one core here
AUTO_IVFPQ_FROM = 5_000_000  # passages; hnsw would hold 8.6 GiB in memory here (README, "Large corpora")


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise ValueError(f"unknown index kind {name!r}; use {AUTO}, {', '.join(KINDS)}")
    return KINDS[name]


def choose_kind(requested: str, passages: int) -> str:
    """The kind to build: ``requested``, or under ``auto`` the one that suits ``passages``."""
    if requested == AUTO:
        return "ivfpq" if passages >= AUTO_IVFPQ_FROM else "hnsw" if passages >= AUTO_HNSW_FROM else "flat"
    return kind(requested).name


def kind_of(index: faiss.Index) -> str | None:
    """The kind a loaded FAISS index is, or None when it is none of them."""
    return next((name for name, k in KINDS.items() if k.holds(index)), None)


def kinds_help(choices: Sequence[str] = (AUTO, *KINDS)) -> str:
    return (
        f"FAISS index kind: {', '.join(choices)} (auto: flat below {AUTO_HNSW_FROM:,} passages, hnsw below "
        f"{AUTO_IVFPQ_FROM:,}, ivfpq from there; default from INDEX_KIND, else auto)"
    )
