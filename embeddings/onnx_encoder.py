"""An int8 ONNX Runtime encoder with the same interface as :class:`embeddings.encoder.Encoder`.

Why plain onnxruntime: sentence-transformers 6.x cannot use its own ONNX backend in this
environment (its ``[onnx]`` extra needs an optimum release that needs transformers < 4.58), so the
model is exported once with ``torch.onnx.export`` (:func:`export_int8`, run by
``scripts/prepare_onnx.py``) and read here with nothing but ``onnxruntime``, ``tokenizers`` and
numpy: the tokenizer, one session, mean pooling, normalisation. Serving with it imports neither
torch nor transformers.

The export recipe (deterministic: the same source folder gives byte-identical files):

1. the BertModel of the source folder with eager attention (the pattern ONNX Runtime's
   transformer optimizer recognises), traced to ONNX with ``last_hidden_state`` as output;
2. ``onnxruntime.transformers.optimizer`` fuses embeddings + LayerNorm, attention, bias + GELU
   and skip + LayerNorm into ONNX Runtime's contrib operators (fewer, larger kernels);
3. ``quantize_dynamic`` with per-channel int8 weights (per-tensor scales lose noticeably more
   accuracy on this model: mean cosine to float32 ~0.984 against ~0.996).

The vectors differ from the float32 model's, so the identity's fingerprint is a hash of the ONNX
file itself: an index built with one is refused by the other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embeddings.encoder import DEFAULT_MODEL_DIR, ModelError, ModelIdentity, staged_folder

log = logging.getLogger(__name__)

DEFAULT_ONNX_DIR = DEFAULT_MODEL_DIR.parent / "multilingual-e5-small-onnx-int8"
ONNX_FILE = "model_int8.onnx"
EXPORT_INFO = "onnx_export.json"
RECIPE_VERSION = 1  # bump when the export recipe changes: prepared folders are then remade
# Files copied from the source folder: the tokenizer, the prompts, max_seq_length, the config.
COPIED = ("tokenizer.json", "config_sentence_transformers.json", "sentence_bert_config.json", "config.json")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_fingerprint(source_dir: Path) -> str:
    """A hash of the files the export reads: a changed source folder means a stale export."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", *COPIED):
        path = Path(source_dir) / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(_file_sha256(path).encode())
    return digest.hexdigest()


def folder_is_prepared(
    out_dir: Path, source_dir: Path | None, info_name: str, model_files: tuple[str, ...], recipe_version: int
) -> bool:
    """A prepared int8 folder is complete, made by the current recipe, and (when ``source_dir`` is
    given) from that source folder: the test behind both int8 backends' ``is_prepared``."""
    out_dir = Path(out_dir)
    info_path = out_dir / info_name
    if not info_path.is_file() or not all((out_dir / name).is_file() for name in (*model_files, *COPIED)):
        return False
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return False
    if info.get("recipe_version") != recipe_version:
        return False
    return source_dir is None or info.get("source_fingerprint") == source_fingerprint(source_dir)


def is_prepared(out_dir: Path, source_dir: Path | None = None) -> bool:
    """The int8 ONNX folder is complete, made by this recipe, and (when given) from this source folder."""
    return folder_is_prepared(out_dir, source_dir, EXPORT_INFO, (ONNX_FILE,), RECIPE_VERSION)


def export_float_onnx(source_dir: Path, path: Path) -> None:
    """Trace the BertModel of ``source_dir`` to a float32 ONNX file whose output is the token
    vectors (``last_hidden_state``): the first step of both int8 recipes (ONNX Runtime, OpenVINO).
    Deterministic: the same folder gives the same bytes."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoModel

    config = json.loads((Path(source_dir) / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise ModelError(f"{source_dir}: the int8 export handles BERT models only, not {config.get('model_type')!r}")
    model = AutoModel.from_pretrained(str(source_dir), attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        """Token vectors only: pooling happens in numpy, where sentence spans are known too."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            token_type_ids = torch.zeros_like(input_ids)
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        # The TorchScript exporter: deterministic, and its graph is one the optimizer can fuse.
        torch.onnx.export(
            LastHidden(model),
            (dummy, torch.ones_like(dummy)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )


def export_int8(
    source_dir: Path | None = None,
    out_dir: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> bool:
    """Write the int8 ONNX folder from a sentence-transformers BERT folder; False if already there.

    Runs offline, in about half a minute; written beside its destination and renamed into place,
    so an interrupted run never leaves a folder that looks complete.
    """
    source_dir = Path(source_dir or DEFAULT_MODEL_DIR)
    out_dir = Path(out_dir or DEFAULT_ONNX_DIR)
    if not (source_dir / "model.safetensors").is_file():
        raise ModelError(f"no model at {source_dir}; run `make setup` or `python scripts/prepare_model.py` first")
    if not force and is_prepared(out_dir, source_dir):
        return False
    say = progress or (lambda step: None)
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((source_dir / "config.json").read_text())
    with staged_folder(out_dir) as tmp:
        say("export")
        float_path = tmp / "model_f32.onnx"
        export_float_onnx(source_dir, float_path)
        say("optimize")
        optimized = optimize_model(
            str(float_path),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=0,  # fusions only; ONNX Runtime applies its own graph optimisations at load
        )
        fused = optimized.get_fused_operator_statistics()
        fused_path = tmp / "model_fused.onnx"
        optimized.save_model_to_file(str(fused_path))
        del optimized
        float_path.unlink()
        say("quantize")
        quantize_dynamic(
            str(fused_path),
            str(tmp / ONNX_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            # Shape inference cannot type the fused contrib operators' outputs: they are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        fused_path.unlink()
        for name in COPIED:
            shutil.copyfile(source_dir / name, tmp / name)
        info = {
            "recipe_version": RECIPE_VERSION,
            "source": str(source_dir.name),
            "source_fingerprint": source_fingerprint(source_dir),
            "onnx_sha256": _file_sha256(tmp / ONNX_FILE),
            "fused_operators": {k: v for k, v in fused.items() if v},
            "quantization": "dynamic int8, per-channel weights (onnxruntime.quantization.quantize_dynamic)",
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": _ort_version()},
        }
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return True


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


class TokenVectorEncoder:
    """What the int8 encoders share (ONNX Runtime here, OpenVINO in embeddings.openvino_encoder):
    the prepared folder's tokenizer and prompts, length-sorted batches, mean pooling and sentence
    vectors in numpy, behind the :class:`embeddings.encoder.Encoder` interface. A subclass runs
    the model: ``_run(ids, mask)`` returns the token vectors."""

    pad_to = 1  # batch widths are rounded up to a multiple of this many tokens

    def _load_folder(self, folder: Path, backend: str, fingerprint: str) -> None:
        from tokenizers import Tokenizer

        st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
        prompts = st_config.get("prompts") or {}
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("passage") or prompts.get("document") or ""
        max_seq_length = int(json.loads((folder / "sentence_bert_config.json").read_text()).get("max_seq_length", 512))
        dimension = int(json.loads((folder / "config.json").read_text())["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            self.pad_id = 0
        self.on_encode: Callable[[str, float], None] | None = None
        default = folder.resolve().name.startswith(DEFAULT_MODEL_DIR.name + "-")
        self.identity = ModelIdentity(
            name=(DEFAULT_MODEL_DIR.name if default else folder.name) + f" ({backend})",
            # The files' own hash: int8 vectors differ from float32 ones, so the two never share an index.
            fingerprint=f"{backend}:{fingerprint}",
            dimension=dimension,
            prompts={"query": self.query_prompt, "passage": self.passage_prompt},
            max_seq_length=max_seq_length,
        )

    @staticmethod
    def _keep_faiss_off_torch() -> None:
        """As for the torch encoder: a single query's flat search gains nothing from FAISS threads,
        and their spinning slows the next encode on 2 cores. torch and FAISS share one OpenMP
        runtime, so the setting would also lower a torch encoder's threads in the same process
        (the benchmark holds both): give torch its count back."""
        import faiss

        torch = sys.modules.get("torch")
        torch_threads = torch.get_num_threads() if torch is not None else None
        faiss.omp_set_num_threads(1)
        if torch is not None and torch_threads:
            torch.set_num_threads(torch_threads)

    # -- the Encoder interface -------------------------------------------------------------------

    def token_count(self, text: str) -> int:
        """Tokens of ``text`` alone (no prompt, no special tokens)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def passage_token_budget(self) -> int:
        """How many tokens of passage text fit beside the prompt and the special tokens."""
        return self.identity.max_seq_length - self.token_count(self.passage_prompt) - 2

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        started = time.perf_counter()
        encodings = self.tokenizer.encode_batch([self.query_prompt + t for t in texts])
        vectors = np.empty((len(texts), self.identity.dimension), dtype=np.float32)
        for rows, ids, mask in self._batches(encodings, batch_size):
            hidden = self._run(ids, mask)
            vectors[rows] = _normalise(_mean_pool(hidden, mask))
        if self.on_encode:
            self.on_encode("query", time.perf_counter() - started)
        return vectors

    def encode_passages(
        self,
        texts: Sequence[str],
        sentences: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 16,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, for each passage, one vector per sentence span (the mean of the
        passage's contextual token vectors over the span, normalised), from one forward pass."""
        started = time.perf_counter()
        if len(texts) != len(sentences):
            raise ValueError("texts and sentences differ in length")
        prompt_chars = len(self.passage_prompt)
        encodings = self.tokenizer.encode_batch([self.passage_prompt + t for t in texts])
        vectors = np.empty((len(texts), self.identity.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray | None] = [None] * len(texts)
        for rows, ids, mask in self._batches(encodings, batch_size):
            hidden = self._run(ids, mask)
            pooled = _normalise(_mean_pool(hidden, mask))
            vectors[rows] = pooled
            lengths = mask.sum(axis=1)
            for j, row in enumerate(rows):
                n = int(lengths[j])
                offsets = np.asarray(encodings[row].offsets[:n], dtype=np.int64).reshape(-1, 2) - prompt_chars
                sentence_vectors[row] = _span_vectors(hidden[j, :n], offsets, sentences[row], pooled[j])
        if self.on_encode:
            self.on_encode("passage", time.perf_counter() - started)
        return vectors, sentence_vectors  # type: ignore[return-value]  # every row was filled

    # -- internals --------------------------------------------------------------------------------

    def _batches(self, encodings: list, batch_size: int):
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


class OnnxEncoder(TokenVectorEncoder):
    """The int8 ONNX model behind the :class:`embeddings.encoder.Encoder` interface.

    ``threads`` sets ONNX Runtime's intra-op threads (default: every core). ``spin`` lets those
    threads busy-wait between kernels: faster for one caller alone, but on 2 cores shared with
    gunicorn's other threads and FAISS it steals the CPU they need, so it is off by default.
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, threads: int | None = None, spin: bool = False):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime as ort

        folder = Path(model_dir or DEFAULT_ONNX_DIR)
        if not is_prepared(folder):
            raise ModelError(
                f"the int8 ONNX model is not prepared at {folder}; run `make setup` or `python scripts/prepare_onnx.py`"
            )
        self._keep_faiss_off_torch()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception kinds; the user needs one message
            raise ModelError(f"cannot load the ONNX model {folder / ONNX_FILE}: {exc}") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}
        info = json.loads((folder / EXPORT_INFO).read_text())
        self._load_folder(folder, "onnx-int8", info["onnx_sha256"])

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        return self.session.run(None, {k: v for k, v in feed.items() if k in self.input_names})[0]


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask.astype(np.float32)
    summed = np.einsum("btd,bt->bd", hidden, weights)
    return summed / np.maximum(weights.sum(axis=1, keepdims=True), 1.0)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def _span_vectors(
    tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    """One normalised vector per span: the mean of the tokens overlapping it (as the torch encoder
    does), as one matrix product instead of a loop over spans; a span no token covers gets the
    passage vector."""
    if not len(spans):
        return np.empty((0, tokens.shape[1]), dtype=np.float32)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    content = ends > starts  # special tokens have empty spans
    member = content[None, :] & (starts[None, :] < bounds[:, 1:2]) & (ends[None, :] > bounds[:, 0:1])
    counts = member.sum(axis=1, keepdims=True)
    means = (member.astype(np.float32) @ tokens) / np.maximum(counts, 1)
    means[counts[:, 0] == 0] = fallback
    return _normalise(means)
