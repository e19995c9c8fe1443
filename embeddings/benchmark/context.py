"""What the sections of one run share: the encoders and the peer they compare, the corpus and
queries, the rounds, a scratch folder, and the result they add figures to."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from embeddings.benchmark.figures import BenchResult
from embeddings.benchmark.inputs import chunk_all
from embeddings.benchmark.peer import PeerFactory
from embeddings.chunking import Passage
from embeddings.corpus import Document
from embeddings.encoders import Encoder

if TYPE_CHECKING:
    from embeddings.encoders.torch import TorchEncoder


@dataclass
class BenchContext:
    encoder: TorchEncoder  # float32 torch: its bare model is every speed ratio's baseline
    other_backends: dict[str, Encoder]  # the other prepared backends, by EMBEDDING_BACKEND name
    make_peer: PeerFactory | None  # None: txtai is not installed
    documents: list[Document]
    queries: list[str]
    rounds: int
    workdir: Path
    result: BenchResult

    @property
    def encoders(self) -> dict[str, Encoder]:
        """Every backend measured, torch first."""
        return {"torch": self.encoder, **self.other_backends}

    @cached_property
    def passages(self) -> list[Passage]:
        """The documents' passages, cut once for every section that encodes them."""
        return chunk_all(self.documents, self.encoder)
