"""Speed as ratios measured side by side in one run: build and query overhead against the bare
model, the int8 ONNX encoder against float32 PyTorch, txtai as a peer, and HNSW at scale.

The machine is shared and noisy, so no absolute time is a result here. Every figure is a ratio
of two things measured in the same round, rounds alternate the order of what they compare (so a
burst of load elsewhere does not always land on the same side), and each figure is the median
over rounds with its spread (min–max over rounds).

Sections (each a function; :func:`run` runs the chosen ones and returns plain data):

- ``build``  index build ÷ bare ``SentenceTransformer.encode`` of the same passages; the peer's
             (txtai) build of the same passages in the same rounds.
- ``query``  ``GET /v1/search`` on a gunicorn server, in-process ``Searcher.search`` and txtai's
             ``search`` ÷ a bare ``model.encode`` of one query, query by query in the same blocks.
- ``encoder`` passages/s of the int8 ONNX encoder ÷ float32 PyTorch on the same passages.
- ``quality`` FLORES kk→ru top-1 and KazQAD nDCG@10, float32 against int8, through the
             evaluation harness (:mod:`embeddings.evaluation`).
- ``scale``  HNSW over N vectors of dimension 384 drawn to resemble real ones: recall@10 against
             exact search, latency p50/p99 without encoding, memory, build time.
"""

from __future__ import annotations

import cProfile
import gc
import io
import math
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import orjson
from tqdm import tqdm

from embeddings.chunking import ChunkerSettings, Passage, chunk_document
from embeddings.corpus import Document, make_document, read_corpus, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval"
FLORES_DOCS = "flores200_devtest_docs_kk_ru_en.jsonl"
FLORES_SENTENCES = "flores200_devtest_kk_ru_en.jsonl"
HEADLINES = "derived/flores_wikinews_title2article.queries.jsonl"
SECTIONS = ("build", "query", "encoder", "quality", "scale")
PASSAGE_BATCH = 16  # the project's passage batch size (Encoder.encode_passages)

SCALE_EF_SEARCH = (64, 128, 256, 512)  # hnsw search efforts tried; the first with recall ≥ 0.95 is reported
SCALE_NOISE = 0.8  # the generated vectors' noise scale (VectorFaker)


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Figure:
    section: str
    name: str
    value: float
    spread: tuple[float, float] | None  # min–max over rounds
    unit: str = "×"
    target: str = ""
    met: bool | None = None  # None: no target
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "section": self.section,
            "name": self.name,
            "value": _round(self.value),
            "spread": [_round(v) for v in self.spread] if self.spread else None,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


@dataclass
class BenchOptions:
    quick: bool = False
    sections: Sequence[str] = SECTIONS
    eval_dir: Path = DEFAULT_EVAL_DIR
    rounds: int = 5
    scale_n: int = 1_000_000
    workdir: Path | None = None
    profile: bool = False
    model: str | None = None
    docs: int | None = None  # FLORES articles to build from (None: all 281; --quick: 3)


@dataclass
class BenchResult:
    figures: list[Figure] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def as_dict(self) -> dict:
        return {"figures": [f.as_dict() for f in self.figures], "details": self.details}


def _round(value: float) -> float:
    if value is None or not math.isfinite(value):
        return value
    return float(f"{value:.4g}")


def summarise(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Median and (min, max) of per-round values."""
    arr = np.asarray(values, dtype=np.float64)
    return float(np.median(arr)), (float(arr.min()), float(arr.max()))


def _target(value: float, limit: float, at_most: bool) -> bool:
    return value <= limit if at_most else value >= limit


def format_table(result: BenchResult) -> str:
    """A plain-text table: one line per figure."""
    header = f"{'section':<8} {'figure':<46} {'median':>9} {'spread (min–max)':>21} {'target':>9} {'met':>4}"
    lines = [header, "-" * len(header)]
    for f in result.figures:
        spread = f"{_round(f.spread[0])}–{_round(f.spread[1])}" if f.spread else ""
        met = "" if f.met is None else ("yes" if f.met else "NO")
        value = f"{_round(f.value)}{'' if f.unit == '×' else ' ' + f.unit}"
        lines.append(f"{f.section:<8} {f.name:<46} {value:>9} {spread:>21} {f.target:>9} {met:>4}")
        if f.note:
            lines.append(f"{'':<8}   {f.note}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Inputs


def load_documents(eval_dir: Path, limit: int | None) -> tuple[list[Document], str]:
    """The FLORES devtest articles, kk and ru versions as separate documents (the seeds when the
    evaluation folder is absent)."""
    path = Path(eval_dir) / FLORES_DOCS
    if path.is_file():
        rows = read_jsonl(path, limit=limit)
        docs = [
            make_document(f"{row['doc_id']}-{lang}", row[lang], lang=lang)
            for row in rows
            for lang in ("kk", "ru")
            if isinstance(row.get(lang), str) and row[lang].strip()
        ]
        return docs, f"FLORES-200 devtest articles ({path.name}), kk + ru"
    return list(read_corpus(SEEDS)), "the seed articles (evaluation data absent)"


def load_queries(eval_dir: Path, quick: bool) -> list[str]:
    """Real queries in the three languages: WikiNews headlines (en) and FLORES sentences (kk, ru)."""
    eval_dir = Path(eval_dir)
    per_kind = 3 if quick else 40
    queries: list[str] = []
    if (eval_dir / HEADLINES).is_file():
        queries += [str(q["query"]) for q in read_jsonl(eval_dir / HEADLINES, limit=per_kind)]
    if (eval_dir / FLORES_SENTENCES).is_file():
        rows = read_jsonl(eval_dir / FLORES_SENTENCES, limit=2 * per_kind)
        queries += [row["kk"] for row in rows[::2]] + [row["ru"] for row in rows[1::2]]
    if not queries:
        queries = [doc.title for doc in read_corpus(SEEDS)]
    return queries


def chunk_all(documents: Sequence[Document], encoder) -> list[Passage]:
    settings = ChunkerSettings()
    budget = encoder.passage_token_budget()
    return [p for doc in documents for p in chunk_document(doc, encoder.token_count, budget, settings)]


def _rotations(n: int, rounds: int) -> list[list[int]]:
    """Each round's order of n contenders, rotated from round to round."""
    return [[(i + r) % n for i in range(n)] for r in range(rounds)]


# ---------------------------------------------------------------------------------------------
# Peer: txtai


def make_txtai(model_dir: str, prompts: dict[str, str]):
    """txtai's Embeddings over the same model folder and FAISS, with the same prompts and batch."""
    from txtai import Embeddings

    return Embeddings(
        path=model_dir,
        method="sentence-transformers",
        content=True,  # txtai stores the text in SQLite, as this project does
        backend="faiss",
        instructions={"query": prompts["query"], "data": prompts["passage"]},
        encodebatch=PASSAGE_BATCH,
    )


# ---------------------------------------------------------------------------------------------
# build


def bench_build(
    documents: Sequence[Document],
    encoder,
    fast: dict[str, object],
    txtai_factory: Callable[[], object] | None,
    workdir: Path,
    rounds: int,
    result: BenchResult,
    progress: tqdm,
) -> None:
    from embeddings.index import build

    passages = chunk_all(documents, encoder)
    texts = [p.text for p in passages]
    model = encoder.model

    def bare() -> None:
        model.encode(
            texts,
            prompt=encoder.passage_prompt,
            batch_size=PASSAGE_BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def ours(enc) -> Callable[[], None]:
        def run() -> None:
            target = workdir / f"build-{id(enc)}"
            build(documents, target, enc)
            shutil.rmtree(target, ignore_errors=True)

        return run

    # One txtai instance, its model loaded once (as ours is); each round times index() alone.
    peer_embeddings = txtai_factory() if txtai_factory is not None else None

    def peer() -> None:
        peer_embeddings.index([(p.id, p.text, None) for p in passages])

    contenders: dict[str, Callable[[], None]] = {"bare": bare, "ours_torch": ours(encoder)}
    for label, enc in fast.items():
        contenders[f"ours_{label}"] = ours(enc)
    if txtai_factory is not None:
        contenders["txtai"] = peer
    names = list(contenders)
    # Warm-up on a few documents: first-call costs (allocations, caches) are not the figure.
    warm_docs = list(documents[:4])
    warm_passages = chunk_all(warm_docs, encoder)
    build(warm_docs, workdir / "warm", encoder)
    for label, enc in fast.items():
        build(warm_docs, workdir / f"warm-{label}", enc)
    model.encode([p.text for p in warm_passages], prompt=encoder.passage_prompt, batch_size=PASSAGE_BATCH)
    if peer_embeddings is not None:
        peer_embeddings.index([(p.id, p.text, None) for p in warm_passages])
    times: dict[str, list[float]] = {name: [] for name in names}
    for order in _rotations(len(names), rounds):
        for i in order:
            gc.collect()
            started = time.perf_counter()
            contenders[names[i]]()
            times[names[i]].append(time.perf_counter() - started)
            progress.update(1)

    if peer_embeddings is not None:
        peer_embeddings.close()
    ratio = [o / b for o, b in zip(times["ours_torch"], times["bare"], strict=True)]
    value, spread = summarise(ratio)
    result.add(
        Figure(
            "build",
            "build ÷ bare encode (torch float32)",
            value,
            spread,
            target="≤ 1.10",
            met=_target(value, 1.10, True),
            note=f"{len(passages)} passages; bare median {np.median(times['bare']):.1f} s",
        )
    )
    for label in fast:
        value, spread = summarise([o / b for o, b in zip(times[f"ours_{label}"], times["bare"], strict=True)])
        result.add(Figure("build", f"build ({label}) ÷ bare encode (torch float32)", value, spread))
    if "txtai" in times:
        for label in ("torch", *fast):
            name = f"ours_{label}"
            value, spread = summarise([o / t for o, t in zip(times[name], times["txtai"], strict=True)])
            result.add(
                Figure(
                    "peer",
                    f"build ({label}) ÷ txtai build",
                    value,
                    spread,
                    target="≤ 0.8",
                    met=_target(value, 0.8, True),
                )
            )
    result.details["build"] = {
        "passages": len(passages),
        "seconds": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
    }


# ---------------------------------------------------------------------------------------------
# query


def bench_query(
    documents: Sequence[Document],
    queries: Sequence[str],
    encoder,
    fast: dict[str, object],
    txtai_factory: Callable[[], object] | None,
    workdir: Path,
    rounds: int,
    result: BenchResult,
    progress: tqdm,
    server_env: dict[str, str] | None = None,
) -> None:
    import requests

    from embeddings.index import Index, build
    from embeddings.search import Searcher
    from service.process import ServerProcess

    index_dir = workdir / "query-index"
    build(documents, index_dir, encoder)
    searcher = Searcher(Index(index_dir, encoder.identity), encoder)
    fast_searchers = {}
    for label, enc in fast.items():
        build(documents, workdir / f"query-index-{label}", enc)
        fast_searchers[label] = Searcher(Index(workdir / f"query-index-{label}", enc.identity), enc)
    peer = None
    if txtai_factory is not None:
        peer = txtai_factory()
        peer.index([(p.id, p.text, None) for p in chunk_all(documents, encoder)])

    # One worker: a sequential client on one keep-alive connection is served by one worker anyway,
    # and a second would only load another model copy that competes for the 2 cores.
    env = {"RETRIEVAL_API_KEY": "", "WORKERS": "1"} | (server_env or {})
    server = ServerProcess(index_dir, workdir / "server.log", **env)
    session = requests.Session()
    try:
        server.wait_ready()
        model = encoder.model

        def bare(q: str) -> None:
            model.encode(q, prompt=encoder.query_prompt, normalize_embeddings=True, show_progress_bar=False)

        def http(q: str) -> None:
            response = session.get(f"{server.url}/v1/search?q={quote(q)}&k=10", timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"GET /v1/search answered {response.status_code}: {response.text[:300]}")

        contenders: dict[str, Callable[[str], None]] = {
            "bare": bare,
            "http": http,
            "inproc_torch": lambda q: searcher.search(q, 10, mode="dense"),
            "inproc_hybrid": lambda q: searcher.search(q, 10, mode="hybrid"),
        }
        for label, fast_searcher in fast_searchers.items():
            contenders[f"inproc_{label}"] = lambda q, s=fast_searcher: s.search(q, 10)
        if peer is not None:
            contenders["txtai"] = lambda q: peer.search(q, 10)
        names = list(contenders)
        for fn in contenders.values():
            for q in queries[:3]:  # warm-up: both gunicorn workers, caches, first-shape costs
                fn(q)
                fn(q)
        latencies: dict[str, list[list[float]]] = {name: [] for name in names}
        # Blocks of all queries, one contender at a time, rotated: a block keeps each contender's
        # threads from being disturbed by another's spinning right before it.
        for order in _rotations(len(names), rounds):
            for i in order:
                fn = contenders[names[i]]
                block = []
                for q in queries:
                    started = time.perf_counter()
                    fn(q)
                    block.append(time.perf_counter() - started)
                latencies[names[i]].append(block)
                progress.update(1)
    finally:
        server.stop()
        session.close()
        searcher.index.close()
        for fast_searcher in fast_searchers.values():
            fast_searcher.index.close()
        if peer is not None:
            peer.close()

    def per_round(name: str, stat: Callable[[np.ndarray], float], base: str = "bare") -> list[float]:
        return [
            stat(np.asarray(a)) / float(np.median(b)) for a, b in zip(latencies[name], latencies[base], strict=True)
        ]

    p50 = float(np.median(np.concatenate([np.asarray(b) for b in latencies["bare"]]))) * 1000
    value, spread = summarise(per_round("http", np.median))
    result.add(
        Figure(
            "query",
            "GET /v1/search median ÷ bare encode median",
            value,
            spread,
            target="≤ 1.3",
            met=_target(value, 1.3, True),
            note=f"{len(queries)} queries × {rounds} rounds; bare encode median {p50:.1f} ms",
        )
    )
    value, spread = summarise(per_round("http", lambda a: float(np.percentile(a, 99))))
    result.add(Figure("query", "GET /v1/search p99 ÷ bare encode median", value, spread, target="≤ 3", met=value <= 3))
    value, spread = summarise(per_round("inproc_torch", np.median))
    result.add(Figure("query", "Searcher.search (torch) median ÷ bare encode", value, spread))
    value, spread = summarise(per_round("inproc_hybrid", np.median, base="inproc_torch"))
    result.add(
        Figure(
            "query",
            "Searcher.search hybrid ÷ dense (median)",
            value,
            spread,
            target="≤ 1.2",
            met=_target(value, 1.2, True),
        )
    )
    for label in fast:
        value, spread = summarise(per_round(f"inproc_{label}", np.median))
        result.add(Figure("query", f"Searcher.search ({label}) median ÷ bare encode", value, spread))
    if "txtai" in latencies:
        for label in ("torch", *fast):
            name = f"inproc_{label}"
            if name in latencies:
                value, spread = summarise(per_round(name, np.median, base="txtai"))
                result.add(
                    Figure(
                        "peer",
                        f"query ({label}, in-process) ÷ txtai search",
                        value,
                        spread,
                        target="≤ 0.8",
                        met=_target(value, 0.8, True),
                    )
                )
    # Where the HTTP overhead goes: the app's own time per request (its access log) against what
    # the client saw; the rest is gunicorn, the socket and the client library.
    app_ms = _logged_request_ms(server.log_path, "/v1/search")
    if app_ms:
        app_median = float(np.median(app_ms))
        result.add(
            Figure(
                "query",
                "GET /v1/search time inside the app ÷ bare encode",
                app_median / p50,
                None,
                note=f"app median {app_median:.1f} ms of the client's "
                f"{float(np.median(np.concatenate(latencies['http']))) * 1000:.1f} ms (from the server's access log)",
            )
        )
    result.details["query"] = {
        "queries": len(queries),
        "median_ms": {n: round(float(np.median(np.concatenate(v))) * 1000, 2) for n, v in latencies.items()},
        "p99_ms": {n: round(float(np.percentile(np.concatenate(v), 99)) * 1000, 2) for n, v in latencies.items()},
    }


def _logged_request_ms(log_path: Path, path: str) -> list[float]:
    """The ``ms`` of each request to ``path`` in the server's JSON access log."""
    times = []
    for line in Path(log_path).read_bytes().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # gunicorn's own lines
        if isinstance(record, dict) and record.get("path") == path and "ms" in record:
            times.append(float(record["ms"]))
    return times


# ---------------------------------------------------------------------------------------------
# encoder


def bench_encoder(
    passages: Sequence[Passage], encoder, fast: dict[str, object], rounds: int, result: BenchResult, progress: tqdm
) -> None:
    texts = [p.text for p in passages]
    spans = [p.sentences for p in passages]
    model = encoder.model

    contenders: dict[str, Callable[[], None]] = {
        "torch_bare": lambda: model.encode(
            texts, prompt=encoder.passage_prompt, batch_size=PASSAGE_BATCH, normalize_embeddings=True
        ),
        "torch_passages": lambda: encoder.encode_passages(texts, spans),
    }
    for label, enc in fast.items():
        contenders[f"{label}_passages"] = lambda e=enc: e.encode_passages(texts, spans)
    names = list(contenders)
    model.encode(texts[:8], prompt=encoder.passage_prompt, batch_size=PASSAGE_BATCH)  # warm-up
    for enc in (encoder, *fast.values()):
        # The whole set once: OpenVINO's int8 model pays a one-off cost for each new input width.
        enc.encode_passages(texts, spans)
    times: dict[str, list[float]] = {n: [] for n in names}
    for order in _rotations(len(names), rounds):
        for i in order:
            started = time.perf_counter()
            contenders[names[i]]()
            times[names[i]].append(time.perf_counter() - started)
            progress.update(1)
    for label in fast:
        mine = times[f"{label}_passages"]
        value, spread = summarise([b / o for o, b in zip(mine, times["torch_bare"], strict=True)])
        rate = len(texts) / float(np.median(mine))
        result.add(
            Figure(
                "encoder",
                f"passages/s {label} ÷ torch float32 (bare)",
                value,
                spread,
                target="≥ 2.5",
                met=_target(value, 2.5, False),
                note=f"{len(texts)} passages; {rate:.1f} passages/s here, with sentence vectors",
            )
        )
        value, spread = summarise([t / o for o, t in zip(mine, times["torch_passages"], strict=True)])
        result.add(Figure("encoder", f"encode_passages {label} ÷ torch float32", value, spread))
    result.details["encoder"] = {
        "passages": len(texts),
        "seconds": {n: [round(t, 3) for t in ts] for n, ts in times.items()},
    }


# ---------------------------------------------------------------------------------------------
# quality


def bench_quality(eval_dir: Path, encoder, fast: dict[str, object], result: BenchResult, quick: bool) -> None:
    """FLORES kk→ru top-1 and KazQAD nDCG@10 through the evaluation harness, float32 vs each int8."""
    from embeddings.evaluation import Progress, evaluate

    limit = 10 if quick else None
    scores: dict[str, dict[str, float]] = {}
    for label, enc in (("torch", encoder), *fast.items()):
        bar = tqdm(total=0, desc=f"quality {label}", unit="text", leave=False)
        progress = Progress(add_total=lambda n, b=bar: _grow(b, n), update=bar.update)
        # The encoder's own quality: dense ranking, where the model is all there is.
        sets = evaluate(eval_dir, enc, only=["flores", "kazqad"], limit=limit, progress=progress, modes=["dense"])
        bar.close()
        scores[label] = {f"{s.name} {m}": v["dense"] for s in sets for m, v in s.metrics.items()}
    for label in fast:
        for key, bound in (("flores kk→ru top1", 0.005), ("kazqad nDCG@10", 0.01)):
            delta = scores[label][key] - scores["torch"][key]
            result.add(
                Figure(
                    "quality",
                    f"{key}: {label} − float32",
                    delta,
                    None,
                    unit="abs",
                    target=f"≥ −{bound}",
                    met=delta >= -bound,
                    note=f"float32 {scores['torch'][key]:.4f}, {label} {scores[label][key]:.4f}"
                    + (f" (first {limit} rows only)" if limit else ""),
                )
            )
    result.details["quality"] = scores


def _grow(bar: tqdm, n: int) -> None:
    bar.total = (bar.total or 0) + n
    bar.refresh()


# ---------------------------------------------------------------------------------------------
# scale


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class VectorFaker:
    """Vectors drawn to resemble real embeddings: a real vector plus Gaussian noise shaped like the
    real vectors' own covariance, normalised.

    The noise scale is calibrated on the real vectors: at 0.8 the generated set has the real
    set's intrinsic dimension (TwoNN, Facco et al. 2017: 10.1 against 10.0 for 18,062 vectors of
    the evaluation texts), the property that decides how hard approximate search is. Its nearest
    neighbours are a little farther than real ones (top-1 cosine 0.81 against 0.86), which makes
    the test harder rather than easier. :func:`resemblance` reports both for each run.
    """

    def __init__(self, real: np.ndarray, noise: float = SCALE_NOISE, seed: int = 1234) -> None:
        self.real = np.ascontiguousarray(real, dtype=np.float32)
        cov = np.cov(self.real, rowvar=False).astype(np.float64)
        cov += np.eye(cov.shape[0]) * 1e-6 * np.trace(cov) / cov.shape[0]
        self.shape = np.linalg.cholesky(cov).astype(np.float32).T * noise
        self.seed = seed

    def draw(self, n: int, chunk: int = 50_000) -> np.ndarray:
        out = np.empty((n, self.real.shape[1]), dtype=np.float32)
        for c, lo in enumerate(range(0, n, chunk)):
            rng = np.random.default_rng(self.seed + c)
            m = min(chunk, n - lo)
            block = self.real[rng.integers(0, len(self.real), size=m)]
            block += rng.standard_normal((m, self.real.shape[1]), dtype=np.float32) @ self.shape
            out[lo : lo + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out


def two_nn_dimension(vectors: np.ndarray) -> float:
    """The TwoNN intrinsic-dimension estimate: n / Σ log(r2 / r1) over each point's two nearest."""
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    cos, _ = flat.search(vectors, 3)
    dist = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * cos[:, 1:3]))
    ratio = dist[:, 1] / np.maximum(dist[:, 0], 1e-9)
    ratio = ratio[ratio > 1]
    return float(len(ratio) / np.log(ratio).sum())


def resemblance(real: np.ndarray, faker: VectorFaker, queries: np.ndarray) -> dict:
    """Generated against real vectors at equal size: intrinsic dimension and the queries' top-1 /
    top-10 cosines. Half the real vectors feed the generator, the other half is the yardstick."""
    half = len(real) // 2
    order = np.random.default_rng(0).permutation(len(real))
    held_out = np.ascontiguousarray(real[order[half:]])
    generated = VectorFaker(real[order[:half]], seed=99).draw(len(held_out))

    def profile(vectors: np.ndarray) -> dict:
        top = np.sort(queries @ vectors.T, axis=1)[:, ::-1]
        return {
            "two_nn_dimension": round(two_nn_dimension(vectors), 2),
            "mean_top1_cosine": round(float(top[:, 0].mean()), 4),
            "mean_top10_cosine": round(float(top[:, 9].mean()), 4),
        }

    return {"vectors_each": len(held_out), "real": profile(held_out), "generated": profile(generated)}


def bench_scale(
    real: np.ndarray,
    queries: np.ndarray,
    total: int,
    result: BenchResult,
    log: Callable[[str], None] = print,
) -> None:
    """The project's hnsw index (embeddings.vector_index, the same build and search code) over
    ``total`` generated vectors: recall@10 against exact search, latency, memory, build time."""
    import faiss

    from embeddings.vector_index import HNSW_EF_CONSTRUCTION, HNSW_M, VectorIndex, build_faiss_index

    k = 10
    faker = VectorFaker(real)
    similar = resemblance(real, faker, queries)
    vectors = faker.draw(total)
    keys = np.arange(total, dtype=np.int64)
    started = time.perf_counter()
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _, truth = exact.search(queries, k)
    # A filter that keeps a third of the passages (one language of three) goes through the graph.
    allowed = keys[keys % 3 == 0]
    _, truth_filtered = exact.search(queries, k, params=faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)))
    exact_seconds = time.perf_counter() - started
    del exact

    gc.collect()
    rss_before = _rss_bytes()
    log(f"scale: building hnsw over {total:,} vectors")
    started = time.perf_counter()
    hnsw = VectorIndex(build_faiss_index("hnsw", vectors, keys), "hnsw")
    build_seconds = time.perf_counter() - started
    rss_growth = _rss_bytes() - rss_before
    del vectors
    gc.collect()
    graph = faiss.downcast_index(hnsw.faiss.index)
    # What the index holds: vectors, graph links, levels and offsets, keys and IDMap2's reverse map
    # (~40 bytes an entry). RSS growth alone under-counts when freed memory is reused.
    structural = total * real.shape[1] * 4 + graph.hnsw.neighbors.size() * 4 + total * (4 + 8) + total * (8 + 40)
    memory = max(rss_growth, structural)
    faiss.omp_set_num_threads(1)  # serving: one query at a time, one thread (encoder.configure_threads)

    def measure(ef: int, filter_keys: np.ndarray | None, expected: np.ndarray) -> dict:
        found = np.empty((len(queries), k), dtype=np.int64)
        lat = np.empty(len(queries))
        for i in range(len(queries)):
            t0 = time.perf_counter()
            _, ids = hnsw.search(queries[i : i + 1], k, filter_keys, ef_search=ef)
            lat[i] = time.perf_counter() - t0
            found[i] = ids[0]
        recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, expected, strict=True)]))
        return {
            "recall@10": round(recall, 4),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 3),
            "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 3),
        }

    per_ef = {str(ef): measure(ef, None, truth) for ef in SCALE_EF_SEARCH}
    chosen = next((ef for ef in SCALE_EF_SEARCH if per_ef[str(ef)]["recall@10"] >= 0.95), SCALE_EF_SEARCH[-1])
    filtered = measure(chosen, allowed, truth_filtered)
    c = per_ef[str(chosen)]
    label = f"hnsw M={HNSW_M} efConstruction={HNSW_EF_CONSTRUCTION} ef_search={chosen}, {total:,} generated vectors"
    result.add(
        Figure("scale", "recall@10 vs exact", c["recall@10"], None, unit="", target="≥ 0.95",
               met=c["recall@10"] >= 0.95, note=label)
    )  # fmt: skip
    result.add(
        Figure("scale", "search p50 (no encoding)", c["p50_ms"], None, unit="ms", target="≤ 5", met=c["p50_ms"] <= 5)
    )
    result.add(Figure("scale", "search p99 (no encoding)", c["p99_ms"], None, unit="ms"))
    result.add(
        Figure("scale", "recall@10, filter keeping 1/3", filtered["recall@10"], None, unit="",
               note=f"p50 {filtered['p50_ms']} ms, p99 {filtered['p99_ms']} ms")
    )  # fmt: skip
    result.add(
        Figure("scale", "memory (index)", memory / 2**30, None, unit="GiB", target="≤ 2", met=memory / 2**30 <= 2)
    )
    result.add(Figure("scale", "build time", build_seconds, None, unit="s", note=f"{os.cpu_count()} threads"))
    result.details["scale"] = {
        "vectors": total,
        "dimension": int(real.shape[1]),
        "kind": "IndexIDMap2(IndexHNSWFlat), METRIC_INNER_PRODUCT (embeddings.vector_index)",
        "M": HNSW_M,
        "efConstruction": HNSW_EF_CONSTRUCTION,
        "per_ef_search": per_ef,
        "chosen_ef_search": chosen,
        "filtered_one_third": filtered,
        "queries": len(queries),
        "build_seconds": round(build_seconds, 1),
        "exact_search_seconds_all_queries": round(exact_seconds, 2),
        "memory_rss_growth_bytes": rss_growth,
        "memory_structural_bytes": structural,
        "vectors_from": f"{len(real)} real vectors of evaluation texts; each generated vector is one of them plus "
        f"Gaussian noise with their covariance (scale {SCALE_NOISE}), normalised",
        "resemblance": similar,
    }


# ---------------------------------------------------------------------------------------------
# profile


def profile(fn: Callable[[], object], top: int = 15) -> str:
    """The functions ``fn`` spends its own time in, most first (cProfile, by tottime)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    return text[text.find("ncalls") :] if "ncalls" in text else text


# ---------------------------------------------------------------------------------------------
# the run


def run(options: BenchOptions, log: Callable[[str], None] = print) -> BenchResult:
    """Run the chosen sections and return every figure."""
    from embeddings.encoders import BACKENDS, DEFAULT_MODEL_DIR, backend_module, load_encoder

    result = BenchResult()
    rounds = 2 if options.quick else options.rounds
    load_before = os.getloadavg()
    result.details["machine"] = {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load_before]}
    encoder = load_encoder(options.model, "torch")
    fast: dict[str, object] = {}  # the other backends that are prepared, by EMBEDDING_BACKEND name
    for label in BACKENDS:
        folder = backend_module(label).DEFAULT_DIR
        if label == "torch":
            continue
        if backend_module(label).is_complete(folder):
            fast[label] = load_encoder(None, label)
        else:
            log(f"note: no {label} model at {folder} (`make setup` makes it); its rows are left out")
    try:
        import txtai  # noqa: F401

        model_dir = str(options.model or DEFAULT_MODEL_DIR)
        txtai_factory = lambda: make_txtai(model_dir, encoder.identity.prompts)  # noqa: E731
    except ImportError:
        txtai_factory = None
        log("note: txtai is not installed (pip install -e '.[bench]'); the peer rows are left out")

    # torch and FAISS share one OpenMP runtime here, so each encoder's faiss.omp_set_num_threads(1)
    # also lowers torch's threads; the torch rows must all run with the same (all-core) setting.
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    documents, corpus_label = load_documents(options.eval_dir, 3 if options.quick else options.docs)
    queries = load_queries(options.eval_dir, options.quick)
    result.details["corpus"] = {"source": corpus_label, "documents": len(documents)}
    workdir = Path(options.workdir) if options.workdir else Path(tempfile.mkdtemp(prefix="kazru-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if "build" in options.sections:
            n = rounds * (2 + len(fast) + (txtai_factory is not None))
            with tqdm(total=n, desc="build", unit="build") as bar:
                bench_build(documents, encoder, fast, txtai_factory, workdir, rounds, result, bar)
            if options.profile:
                from embeddings.index import build

                result.details["profile_build"] = profile(lambda: build(documents, workdir / "profile", encoder))
        if "query" in options.sections:
            n = rounds * (4 + len(fast) + (txtai_factory is not None))
            with tqdm(total=n, desc="query", unit="block") as bar:
                bench_query(documents, queries, encoder, fast, txtai_factory, workdir, rounds, result, bar)
            if options.profile:
                from embeddings.index import Index
                from embeddings.search import Searcher

                searcher = Searcher(Index(workdir / "query-index", encoder.identity), encoder)
                result.details["profile_query"] = profile(lambda: [searcher.search(q, 10) for q in queries])
                searcher.index.close()
        if "encoder" in options.sections and fast:
            passages = chunk_all(documents, encoder)
            with tqdm(total=rounds * (2 + len(fast)), desc="encoder", unit="pass") as bar:
                bench_encoder(passages, encoder, fast, rounds, result, bar)
        if "quality" in options.sections and fast:
            if (Path(options.eval_dir) / FLORES_SENTENCES).is_file():
                bench_quality(Path(options.eval_dir), encoder, fast, result, options.quick)
            else:
                log(f"note: no evaluation data at {options.eval_dir}; the quality rows are left out")
        if "scale" in options.sections:
            real, query_vectors = _real_vectors(documents, queries, options.eval_dir, encoder, fast, options)
            total = 20_000 if options.quick else options.scale_n
            bench_scale(real, query_vectors, total, result, log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.details["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _real_vectors(documents, queries, eval_dir: Path, encoder, fast: dict[str, object], options: BenchOptions):
    """Real vectors for the scale test to draw from (every distinct text of the evaluation sets as a
    passage, or the benchmark's passages and their sentences without them), and real query
    vectors (KazQAD questions and headlines, or the benchmark's queries). An int8 encoder makes
    them when one is prepared: it is 2-3 times faster and its vectors are as real."""
    model = next(iter(fast.values()), encoder)
    limit = 300 if options.quick else None
    texts, question_texts = scale_texts(Path(eval_dir), limit)
    if not texts:
        passages = chunk_all(documents, encoder)
        texts = [p.text for p in passages] + [p.text[s:e] for p in passages for s, e in p.sentences]
        question_texts = list(queries)
    vectors, _ = model.encode_passages(texts, [[(0, len(t))] for t in texts])
    return np.asarray(vectors, dtype=np.float32), model.encode_queries(question_texts)


SCALE_TEXT_FILES = (
    "derived/flores_wikinews_title2article.passages.jsonl",
    "kazqad_val.passages.jsonl",
    FLORES_SENTENCES,
    "flores_sib200_kk_ru_en.jsonl",
    "tatoeba_laser_kk_en.jsonl",
    "tatoeba_laser_ru_en.jsonl",
    "tatoeba_v20210807_kk_en.jsonl",
    "tatoeba_v20210807_kk_ru.jsonl",
    "wmt19_newstest_kk_en.jsonl",
    "xwmt_kk_ru_en.jsonl",
)


def scale_texts(eval_dir: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """Distinct texts of the evaluation sets (passages, and sentences in kk, ru and en) and
    questions (KazQAD, headlines); empty lists when the data is absent."""
    texts: list[str] = []
    for name in SCALE_TEXT_FILES:
        if (eval_dir / name).is_file():
            for row in read_jsonl(eval_dir / name, limit=limit):
                texts += [row[f] for f in ("text", "kk", "ru", "en") if isinstance(row.get(f), str) and row[f].strip()]
    questions: list[str] = []
    for name in ("kazqad_val.queries.jsonl", HEADLINES):
        if (eval_dir / name).is_file():
            questions += [str(row["query"]) for row in read_jsonl(eval_dir / name, limit=limit)]
    return list(dict.fromkeys(texts)), questions


def write_json(result: BenchResult, path: Path, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"command": command} | result.as_dict()
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
