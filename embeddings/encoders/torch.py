"""The ``torch`` backend: the sentence-transformers model in float32, as the model folder holds it."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings import runtime
from embeddings.encoders.base import (
    DEFAULT_MODEL_DIR,
    EncodeObserver,
    ModelError,
    ModelIdentity,
    display_name,
    passage_token_budget,
    read_prompts,
    span_vectors,
)

DEFAULT_DIR = DEFAULT_MODEL_DIR


def is_complete(folder: Path) -> bool:
    return (Path(folder) / "model.safetensors").is_file()


def _weights_fingerprint(model) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TorchEncoder:
    """A sentence-transformers model (a local folder, or a hub name where the network allows)."""

    own_threads = False  # torch's thread count is the process's: one encoder does all the work

    def __init__(self, model_name_or_path: str | os.PathLike | None = None, threads: int | None = None) -> None:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        runtime.configure_torch(threads)
        name = str(model_name_or_path or DEFAULT_MODEL_DIR)
        if name == str(DEFAULT_MODEL_DIR) and not DEFAULT_MODEL_DIR.is_dir():
            raise ModelError(
                f"the default model is not prepared at {DEFAULT_MODEL_DIR}; run `make setup` "
                "or `python scripts/prepare_model.py`"
            )
        try:
            self.model = SentenceTransformer(name, device="cpu")
        except Exception as exc:  # the library raises many kinds; the user needs one message
            raise ModelError(f"cannot load the embedding model {name!r}: {exc}") from exc
        self.model.eval()
        # encode() would put every module in eval mode again at each call (about 3 ms a query):
        # it is in eval mode from here on, and nothing trains it.
        self.model.eval = lambda: self.model
        # The fast tokenizer sets its padding and truncation state at each call, so two threads
        # tokenizing at once can pad to each other's lengths: one encode at a time per model
        # (torch already spreads each one over every core).
        self._lock = threading.Lock()
        self.query_prompt, self.passage_prompt = read_prompts({"prompts": self.model.prompts})
        self.tokenizer = self.model.tokenizer
        self.on_encode: EncodeObserver | None = None
        self.identity = ModelIdentity(
            name=display_name(Path(name)) if Path(name).is_dir() else name,
            fingerprint=_weights_fingerprint(self.model),
            dimension=int(self.model.get_embedding_dimension()),
            prompts={"query": self.query_prompt, "passage": self.passage_prompt},
            max_seq_length=int(self.model.max_seq_length),
        )

    def token_count(self, text: str) -> int:
        with self._lock:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def passage_token_budget(self) -> int:
        return passage_token_budget(self)

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int, **output: object) -> object:
        with self._lock:
            return self.model.encode(
                list(texts),
                prompt=prompt,
                batch_size=batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
                **output,
            )

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        started = time.perf_counter()
        vectors = self._encode(texts, self.query_prompt, batch_size, convert_to_numpy=True)
        if self.on_encode:
            self.on_encode("query", time.perf_counter() - started)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_passages(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]], batch_size: int = 16
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        started = time.perf_counter()
        # output_value=None: every output of the model, token vectors too, for the sentence spans
        outputs = self._encode(texts, self.passage_prompt, batch_size, output_value=None)
        prompt_chars = len(self.passage_prompt)
        with self._lock:
            offset_maps = self.tokenizer(
                [self.passage_prompt + text for text in texts],
                return_offsets_mapping=True,
                truncation=True,
                max_length=self.identity.max_seq_length,
            )["offset_mapping"]
        passage_vectors = np.empty((len(outputs), self.identity.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = []
        for i, (out, offsets, spans) in enumerate(zip(outputs, offset_maps, sentences, strict=True)):
            passage_vectors[i] = out["sentence_embedding"].float().numpy()
            n_tokens = int(out["attention_mask"].sum())
            tokens = out["token_embeddings"][:n_tokens].float().numpy()
            bounds = np.asarray(offsets[:n_tokens], dtype=np.int64).reshape(-1, 2) - prompt_chars
            sentence_vectors.append(span_vectors(tokens, bounds, spans, passage_vectors[i]))
        if self.on_encode:
            self.on_encode("passage", time.perf_counter() - started)
        return passage_vectors, sentence_vectors
