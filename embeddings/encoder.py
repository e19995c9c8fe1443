"""The embedding model: loading, identity, prompts, and encoding of queries and passages.

Passages are encoded once; the same forward pass also yields one vector per sentence (the mean
of that sentence's contextual token vectors), which is what picks the best-matching sentence of a
result at query time without encoding anything more.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "multilingual-e5-small"


class ModelError(RuntimeError):
    """The model cannot be loaded."""


@contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` that replaces it when the block ends without error and
    is removed otherwise: every model folder is made through it, so an interrupted run never
    leaves one that looks complete."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    fingerprint: str
    dimension: int
    prompts: dict[str, str]
    max_seq_length: int

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "dimension": self.dimension,
            "prompts": self.prompts,
            "max_seq_length": self.max_seq_length,
        }


def configure_threads(threads: int | None = None) -> None:
    """Torch on every core; FAISS on one thread.

    FAISS's OpenMP threads keep spinning after a search and slow the next query's encoding on a
    2-core machine, and a single query's search over a flat index gains nothing from them.
    """
    import faiss
    import torch

    # FAISS first: where both libraries share one OpenMP runtime, the last call sets the default.
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(threads or os.cpu_count() or 1)


def _weights_fingerprint(model) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Encoder:
    """A sentence-transformers model with the E5 prompt discipline built in."""

    def __init__(self, model_name_or_path: str | os.PathLike | None = None, threads: int | None = None) -> None:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        configure_threads(threads)
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
        prompts = dict(self.model.prompts or {})
        self.query_prompt = prompts.get("query", "")
        # sentence-transformers 6 adds an empty "document" prompt; "passage" is E5's own name.
        self.passage_prompt = prompts.get("passage") or prompts.get("document") or ""
        self.tokenizer = self.model.tokenizer
        # Told (kind, seconds) after each encode call: how the service measures encode time.
        self.on_encode: Callable[[str, float], None] | None = None
        folder = Path(name)
        display = (
            "multilingual-e5-small"
            if folder.resolve() == DEFAULT_MODEL_DIR
            else (folder.name if folder.is_dir() else name)
        )
        self.identity = ModelIdentity(
            name=display,
            fingerprint=_weights_fingerprint(self.model),
            dimension=int(self.model.get_embedding_dimension()),
            prompts={"query": self.query_prompt, "passage": self.passage_prompt},
            max_seq_length=int(self.model.max_seq_length),
        )

    def token_count(self, text: str) -> int:
        """Tokens of ``text`` alone (no prompt, no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def passage_token_budget(self) -> int:
        """How many tokens of passage text fit beside the prompt and the special tokens."""
        return self.identity.max_seq_length - self.token_count(self.passage_prompt) - 2

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        started = time.perf_counter()
        vectors = self.model.encode(
            list(texts),
            prompt=self.query_prompt,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        if self.on_encode:
            self.on_encode("query", time.perf_counter() - started)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_passages(
        self,
        texts: Sequence[str],
        sentences: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 16,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, for each passage, one vector per sentence span.

        Sentence vectors are means of the passage's contextual token vectors over each span,
        normalised: the same forward pass, no extra encoding.
        """
        started = time.perf_counter()
        outputs = self.model.encode(
            list(texts),
            prompt=self.passage_prompt,
            batch_size=batch_size,
            output_value=None,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        prompt_chars = len(self.passage_prompt)
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
            bounds = np.asarray(offsets[:n_tokens]).reshape(-1, 2) - prompt_chars
            starts, ends = bounds[:, 0], bounds[:, 1]
            content = ends > starts  # special tokens have empty spans
            rows = []
            for start, end in spans:
                mask = content & (starts < end) & (ends > start)
                rows.append(tokens[mask].mean(axis=0) if mask.any() else passage_vectors[i])
            matrix = np.asarray(rows, dtype=np.float32).reshape(-1, self.identity.dimension)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            sentence_vectors.append(matrix / np.maximum(norms, 1e-12))
        if self.on_encode:
            self.on_encode("passage", time.perf_counter() - started)
        return passage_vectors, sentence_vectors


BACKENDS = ("torch", "onnx-int8", "openvino-int8")


def load_encoder(model: str | None = None, backend: str | None = None, threads: int | None = None):
    """The encoder the settings ask for: ``torch`` (sentence-transformers, float32; the default),
    ``onnx-int8`` (plain onnxruntime over the dynamic-int8 model made by scripts/prepare_onnx.py)
    or ``openvino-int8`` (OpenVINO over the static-int8 model made by scripts/prepare_openvino.py).

    For the int8 backends, ``model`` is the prepared folder (default: the one made from the
    default model).
    """
    backend = backend or "torch"
    if backend == "torch":
        return Encoder(model, threads=threads)
    if backend == "onnx-int8":
        from embeddings.onnx_encoder import OnnxEncoder

        return OnnxEncoder(model, threads=threads)
    if backend == "openvino-int8":
        from embeddings.openvino_encoder import OpenVinoEncoder

        return OpenVinoEncoder(model, threads=threads)
    raise ModelError(f"unknown EMBEDDING_BACKEND {backend!r}; choose from {', '.join(BACKENDS)}")
