"""The baseline every speed ratio divides by: the float32 sentence-transformers model called
directly, with the project's prompts and batch size and none of its code around it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embeddings.encoders.torch import TorchEncoder

PASSAGE_BATCH = 16  # the project's passage batch size (Encoder.encode_passages)
# As TorchEncoder calls the model: normalised numpy vectors, no progress bar.
ENCODE_SETTINGS = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}


def bare_encode_passages(encoder: TorchEncoder, texts: Sequence[str]) -> None:
    encoder.model.encode(list(texts), prompt=encoder.passage_prompt, batch_size=PASSAGE_BATCH, **ENCODE_SETTINGS)


def bare_encode_query(encoder: TorchEncoder, query: str) -> None:
    encoder.model.encode(query, prompt=encoder.query_prompt, **ENCODE_SETTINGS)
