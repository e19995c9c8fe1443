"""The contract every encoder backend satisfies, and what the backends share.

- :class:`Encoder`: the protocol the index, the search and the jobs are typed against; a backend
  is any class with these attributes and methods (txtai's ``ann/base.py`` plays the same part).
- :class:`ModelIdentity`: what an index records of the encoder that built it, so that an index
  is never searched with vectors of another model or backend.
- The pooling code, the one place where token vectors become passage and sentence vectors:
  the mean over the attention mask, and per sentence the mean over the tokens that overlap it.
- :class:`TokenVectorEncoder`: tokenising, length-sorted batching and pooling in numpy for the
  backends whose runtime returns token vectors (ONNX Runtime, OpenVINO); a subclass only runs
  the model.

Backends import this module and never each other (embeddings/encoders/__init__.py lists them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from embeddings import runtime

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "multilingual-e5-small"
DEFAULT_MODEL_NAME = DEFAULT_MODEL_DIR.name
# The files of a model folder that every int8 folder copies: the tokenizer, prompts, max_seq_length, config.
TOKENIZER_FILES = ("tokenizer.json", "config_sentence_transformers.json", "sentence_bert_config.json", "config.json")


class ModelError(RuntimeError):
    """The model cannot be loaded."""


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    fingerprint: str
    dimension: int
    prompts: dict[str, str]
    max_seq_length: int

    def as_dict(self) -> dict:
        return asdict(self)


EncodeObserver = Callable[[str, float], None]  # told (kind, seconds) after each encode call


@runtime_checkable
class Encoder(Protocol):
    """An embedding model with E5's prompt discipline (``query: `` / ``passage: ``) built in."""

    identity: ModelIdentity
    query_prompt: str
    passage_prompt: str
    on_encode: EncodeObserver | None
    own_threads: bool  # whether its threads are its own, not the process's (see embeddings/bulk.py)

    def token_count(self, text: str) -> int:
        """Tokens of ``text`` alone (no prompt, no special tokens)."""
        ...

    def passage_token_budget(self) -> int:
        """How many tokens of passage text fit beside the prompt and the special tokens."""
        ...

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One normalised float32 vector per query, with the query prompt."""
        ...

    def encode_passages(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]], batch_size: int = 16
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Normalised passage vectors and, for each passage, one vector per sentence span (offsets
        into its text), from the same forward pass: see :func:`span_vectors`."""
        ...


def passage_token_budget(encoder: Encoder) -> int:
    """The body of every backend's ``passage_token_budget``: the model's length less the prompt
    and the two special tokens."""
    return encoder.identity.max_seq_length - encoder.token_count(encoder.passage_prompt) - 2


def display_name(folder: Path, backend: str | None = None) -> str:
    """The model's name in manifests and errors: the default model by its name, another folder
    by its folder name, with the backend for the int8 ones."""
    resolved = Path(folder).resolve()
    if backend is None:
        return DEFAULT_MODEL_NAME if resolved == DEFAULT_MODEL_DIR else resolved.name
    made_from_default = resolved.name.startswith(DEFAULT_MODEL_NAME + "-")
    return f"{DEFAULT_MODEL_NAME if made_from_default else Path(folder).name} ({backend})"


def read_prompts(st_config: dict) -> tuple[str, str]:
    """(query prompt, passage prompt) of a sentence-transformers config. sentence-transformers 6
    adds an empty "document" prompt; "passage" is E5's own name."""
    prompts = st_config.get("prompts") or {}
    return prompts.get("query", ""), prompts.get("passage") or prompts.get("document") or ""


def export_fingerprint(info: dict, model_fields: Sequence[str]) -> str:
    """A prepared int8 folder's identity, from its export record: the hashes of its model files and
    of the source it was made from (the float32 weights and the tokenizer files, copied from it),
    all computed once when the folder was made. int8 vectors differ from float32 ones, and another
    tokenizer makes other vectors of the same text, so neither shares an index."""
    parts = [info[field] for field in model_fields] + [info["source_fingerprint"]]
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def folder_is_complete(folder: Path, info_name: str, model_files: tuple[str, ...], recipe_version: int) -> bool:
    """An int8 model folder holds its model files, the tokenizer files and an export record made
    by the current recipe (the set-up recipes in embeddings/prepare write them)."""
    folder = Path(folder)
    info_path = folder / info_name
    if not info_path.is_file() or not all((folder / name).is_file() for name in (*model_files, *TOKENIZER_FILES)):
        return False
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return False
    return info.get("recipe_version") == recipe_version


# -- pooling: one code for every backend ----------------------------------------------------------


def normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each row's token vectors over its attention mask."""
    weights = mask.astype(np.float32)
    summed = np.einsum("btd,bt->bd", hidden, weights)
    return summed / np.maximum(weights.sum(axis=1, keepdims=True), 1.0)


def span_vectors(
    tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    """One normalised vector per span: the mean of the passage's contextual token vectors that
    overlap it (``offsets``: each token's character span in the passage text, special tokens
    empty), as one matrix product; a span no token covers gets ``fallback``, the passage vector."""
    if not len(spans):
        return np.empty((0, tokens.shape[1]), dtype=np.float32)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    content = ends > starts  # special tokens have empty spans
    member = content[None, :] & (starts[None, :] < bounds[:, 1:2]) & (ends[None, :] > bounds[:, 0:1])
    counts = member.sum(axis=1, keepdims=True)
    means = (member.astype(np.float32) @ tokens) / np.maximum(counts, 1)
    means[counts[:, 0] == 0] = fallback
    return normalise(means)


def _max_seq_length(folder: Path) -> int:
    return int(json.loads((folder / "sentence_bert_config.json").read_text()).get("max_seq_length", 512))


def shared_tokenizer(folder: Path) -> Tokenizer:
    """The tokenizer of a prepared model folder, one per folder and process, set up once: the
    multilingual vocabulary takes about 290 MB, and a service holds two encoders of one model
    (its own and the bulk lane's). Encoding only reads it, so threads and encoders share it
    safely, and processes forked after it is loaded share its pages (service/gunicorn_conf.py)."""
    return _tokenizer(str(Path(folder).resolve()), _max_seq_length(Path(folder)))


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str, max_length: int) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


class TokenVectorEncoder:
    """An :class:`Encoder` over a runtime that maps (ids, mask) to token vectors: the prepared
    folder's tokenizer and prompts, length-sorted batches, pooling in numpy. A subclass loads its
    runtime, calls :meth:`_load_folder` and implements ``_run(ids, mask)``."""

    pad_to = 1  # batch widths are rounded up to a multiple of this many tokens
    # The runtime's threads belong to this instance: a second one with fewer threads can do bulk
    # work beside it (embeddings/bulk.py).
    own_threads = True

    def _load_folder(self, folder: Path, backend: str, fingerprint: str) -> None:
        runtime.keep_faiss_single_threaded()
        self.query_prompt, self.passage_prompt = read_prompts(
            json.loads((folder / "config_sentence_transformers.json").read_text())
        )
        max_seq_length = _max_seq_length(folder)
        dimension = int(json.loads((folder / "config.json").read_text())["hidden_size"])
        self.tokenizer = shared_tokenizer(folder)
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            self.pad_id = 0
        self.on_encode: EncodeObserver | None = None
        self.identity = ModelIdentity(
            name=display_name(folder, backend),
            fingerprint=f"{backend}:{fingerprint}",
            dimension=dimension,
            prompts={"query": self.query_prompt, "passage": self.passage_prompt},
            max_seq_length=max_seq_length,
        )

    def token_count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def passage_token_budget(self) -> int:
        return passage_token_budget(self)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        started = time.perf_counter()
        encodings = self.tokenizer.encode_batch([self.query_prompt + t for t in texts])
        vectors = np.empty((len(texts), self.identity.dimension), dtype=np.float32)
        for rows, ids, mask in self._batches(encodings, batch_size):
            vectors[rows] = normalise(mean_pool(self._run(ids, mask), mask))
        if self.on_encode:
            self.on_encode("query", time.perf_counter() - started)
        return vectors

    def encode_passages(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]], batch_size: int = 16
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        started = time.perf_counter()
        if len(texts) != len(sentences):
            raise ValueError("texts and sentences differ in length")
        prompt_chars = len(self.passage_prompt)
        encodings = self.tokenizer.encode_batch([self.passage_prompt + t for t in texts])
        vectors = np.empty((len(texts), self.identity.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [vectors[:0]] * len(texts)
        for rows, ids, mask in self._batches(encodings, batch_size):
            hidden = self._run(ids, mask)
            pooled = normalise(mean_pool(hidden, mask))
            vectors[rows] = pooled
            lengths = mask.sum(axis=1)
            for j, row in enumerate(rows):
                n = int(lengths[j])
                offsets = np.asarray(encodings[row].offsets[:n], dtype=np.int64).reshape(-1, 2) - prompt_chars
                sentence_vectors[row] = span_vectors(hidden[j, :n], offsets, sentences[row], pooled[j])
        if self.on_encode:
            self.on_encode("passage", time.perf_counter() - started)
        return vectors, sentence_vectors

    def _batches(self, encodings: list, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Length-sorted batches, so that little of each batch is padding: (rows, ids, mask)."""
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        for lo in range(0, len(order), batch_size):
            rows = order[lo : lo + batch_size]
            width = -(-int(lengths[rows].max()) // self.pad_to) * self.pad_to
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, row in enumerate(rows):
                n = int(lengths[row])
                ids[j, :n] = encodings[row].ids
                mask[j, :n] = 1
            yield rows, ids, mask

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError
