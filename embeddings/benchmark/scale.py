"""``scale``: the project's approximate index kinds (:mod:`embeddings.ann`, the same build and
search code as the service) over N generated vectors of the model's dimension: hnsw at a million,
ivfpq at ten million. For each: recall@10 against exact search for a sweep of its search effort,
latency p50/p99 without encoding on one core, memory, build time.

The ivfpq run is streamed: the vectors are drawn a chunk at a time, the exact top 10 of each
query kept chunk by chunk and the index grown chunk by chunk, so the generator never holds them
all; the index is then written as a snapshot file and opened memory-mapped, as a worker opens it.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from embeddings import runtime
from embeddings.ann import Effort, build_faiss_index, kind
from embeddings.ann import hnsw as hnsw_kind
from embeddings.ann import ivfpq as ivfpq_kind
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import BenchResult, Figure
from embeddings.benchmark.inputs import scale_texts
from embeddings.benchmark.timing import timed_rounds
from embeddings.benchmark.vectors import DEFAULT_NOISE, VectorFaker, resemblance
from embeddings.vector_index import VectorIndex

K = 10
EF_SEARCH = (64, 128, 256, 512)  # hnsw search efforts tried; the first with recall ≥ 0.95 is reported
NPROBE = (128, 256, 512, 1024)  # ivfpq cells scanned, each with every re-rank depth
RERANK = (1000, 2000, 4000)  # ivfpq candidates re-scored exactly
RECALL_TARGET = 0.95
QUICK_TEXTS = 300  # rows of each evaluation file a --quick run draws its real vectors from
CHUNK = 100_000  # generated vectors at a time in the streamed run


def real_vectors(ctx: BenchContext, eval_dir: Path, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """Real vectors for the scale test to draw from (every distinct text of the evaluation sets as a
    passage, or the benchmark's passages and their sentences without them), and real query
    vectors (KazQAD questions and headlines, or the benchmark's queries). Another backend makes
    them when one is prepared: the int8 ones are 2-3 times faster and their vectors are as real."""
    encoder = next(iter(ctx.other_backends.values()), ctx.encoder)
    texts, questions = scale_texts(eval_dir, QUICK_TEXTS if quick else None)
    if not texts:
        texts = [p.text for p in ctx.passages] + [p.text[s:e] for p in ctx.passages for s, e in p.sentences]
        questions = list(ctx.queries)
    vectors, _ = encoder.encode_passages(texts, [[(0, len(t))] for t in texts])
    return np.asarray(vectors, dtype=np.float32), encoder.encode_queries(questions)


def _memory_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, RssAnon, RssFile)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


class _ExactTop:
    """The exact top ``K`` of each query (and among the keys a filter keeps) over vectors seen a
    chunk at a time."""

    def __init__(self, queries: np.ndarray, keep: Callable[[np.ndarray], np.ndarray]) -> None:
        self.queries, self.keep = queries, keep
        self.all = (np.full((len(queries), 0), -np.inf, np.float32), np.empty((len(queries), 0), np.int64))
        self.kept = self.all

    def add(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        self.all = self._merge(self.all, vectors, keys)
        inside = self.keep(keys)
        self.kept = self._merge(self.kept, vectors[inside], keys[inside])

    def _merge(self, best: tuple[np.ndarray, np.ndarray], vectors: np.ndarray, keys: np.ndarray) -> tuple:
        if not len(keys):
            return best
        scores, positions = faiss.knn(self.queries, vectors, min(K, len(keys)), metric=faiss.METRIC_INNER_PRODUCT)
        all_scores = np.concatenate([best[0], scores], axis=1)
        all_keys = np.concatenate([best[1], keys[positions]], axis=1)
        top = np.argsort(-all_scores, axis=1, kind="stable")[:, :K]
        return np.take_along_axis(all_scores, top, axis=1), np.take_along_axis(all_keys, top, axis=1)


def _one_third(keys: np.ndarray) -> np.ndarray:
    """The filter of the scale runs: a third of the passages (one language of three)."""
    return keys % 3 == 0


def _measure(
    index: VectorIndex, queries: np.ndarray, effort: Effort, filter_keys: np.ndarray | None, expected: np.ndarray
) -> dict:
    """recall@10 against ``expected`` and latency, one query at a time on one thread."""
    found = np.empty((len(queries), K), dtype=np.int64)

    def search(i: int) -> None:
        found[i] = index.search(queries[i : i + 1], K, filter_keys, effort)[1][0]

    latency = timed_rounds({"search": search}, rounds=1, inputs=range(len(queries))).pooled("search")
    recall = float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, expected, strict=True)]))
    return {
        "recall@10": round(recall, 4),
        "p50_ms": round(float(np.percentile(latency, 50)) * 1000, 3),
        "p99_ms": round(float(np.percentile(latency, 99)) * 1000, 3),
    }


def _report(
    result: BenchResult, label: str, at_chosen: dict, filtered: dict, memory_target: str, memory: float, unit: str
) -> None:
    result.add(Figure("scale", f"{label} recall@10 vs exact", at_chosen["recall@10"], unit="", target="≥ 0.95"))
    target = "≤ 5" if label.startswith("hnsw") else "≤ 10"
    result.add(Figure("scale", f"{label} search p50 (no encoding)", at_chosen["p50_ms"], unit="ms", target=target))
    result.add(Figure("scale", f"{label} search p99 (no encoding)", at_chosen["p99_ms"], unit="ms"))
    result.add(
        Figure(
            "scale",
            f"{label} recall@10, filter keeping 1/3",
            filtered["recall@10"],
            unit="",
            note=f"p50 {filtered['p50_ms']} ms, p99 {filtered['p99_ms']} ms",
        )
    )
    result.add(Figure("scale", f"{label} memory", memory, unit=unit, target=memory_target))


def bench_scale(
    real: np.ndarray,
    queries: np.ndarray,
    hnsw_total: int,
    ivfpq_total: int,
    workdir: Path,
    result: BenchResult,
    log: Callable[[str], None] = print,
) -> None:
    """hnsw over ``hnsw_total`` and ivfpq over ``ivfpq_total`` vectors drawn to resemble ``real``,
    searched with ``queries``, one after the other (each frees its memory before the next)."""
    result.details["scale"] = {
        "dimension": int(real.shape[1]),
        "queries": len(queries),
        "vectors_from": f"{len(real)} real vectors of evaluation texts; each generated vector is one of them plus "
        f"Gaussian noise with their covariance (scale {DEFAULT_NOISE}), normalised",
        "resemblance": resemblance(real, queries),
    }
    if hnsw_total:
        _bench_hnsw(real, queries, hnsw_total, result, log)
        gc.collect()
    if ivfpq_total:
        _bench_ivfpq(real, queries, ivfpq_total, workdir, result, log)


def _bench_hnsw(real: np.ndarray, queries: np.ndarray, total: int, result: BenchResult, log: Callable) -> None:
    vectors = VectorFaker(real).draw(total)
    keys = np.arange(total, dtype=np.int64)
    started = time.perf_counter()
    truth = _ExactTop(queries, _one_third)
    with runtime.faiss_on_every_core():  # the ground truth is batch work, not a measurement
        for lo in range(0, total, CHUNK):
            truth.add(vectors[lo : lo + CHUNK], keys[lo : lo + CHUNK])
    exact_seconds = time.perf_counter() - started

    gc.collect()
    rss_before = _memory_kib("VmRSS") * 1024
    log(f"scale: building hnsw over {total:,} vectors")
    started = time.perf_counter()
    hnsw = VectorIndex(build_faiss_index("hnsw", vectors), keys, "hnsw")
    build_seconds = time.perf_counter() - started
    rss_growth = _memory_kib("VmRSS") * 1024 - rss_before
    del vectors
    gc.collect()
    graph = hnsw.faiss
    # What the index holds: vectors, graph links, levels and offsets, keys. RSS growth alone
    # under-counts when freed memory is reused.
    structural = total * real.shape[1] * 4 + graph.hnsw.neighbors.size() * 4 + total * (4 + 8) + total * 8
    memory = max(rss_growth, structural)
    runtime.keep_faiss_single_threaded()  # serving: one query at a time, on one thread

    per_ef = {str(ef): _measure(hnsw, queries, Effort(ef_search=ef), None, truth.all[1]) for ef in EF_SEARCH}
    chosen = next((ef for ef in EF_SEARCH if per_ef[str(ef)]["recall@10"] >= RECALL_TARGET), EF_SEARCH[-1])
    filtered = _measure(hnsw, queries, Effort(ef_search=chosen), np.flatnonzero(_one_third(keys)), truth.kept[1])
    label = f"hnsw {total / 1e6:g}M"
    _report(result, label, per_ef[str(chosen)], filtered, "≤ 2", memory / 2**30, "GiB")
    result.add(Figure("scale", f"{label} build time", build_seconds, unit="s", note=f"{runtime.cores()} threads"))
    result.details["scale"]["hnsw"] = {
        "vectors": total,
        "kind": "IndexHNSWFlat, METRIC_INNER_PRODUCT (embeddings.ann.hnsw)",
        "M": hnsw_kind.M,
        "efConstruction": hnsw_kind.EF_CONSTRUCTION,
        "per_ef_search": per_ef,
        "chosen_ef_search": chosen,
        "filtered_one_third": filtered,
        "build_seconds": round(build_seconds, 1),
        "exact_search_seconds_all_queries": round(exact_seconds, 2),
        "memory_rss_growth_bytes": rss_growth,
        "memory_structural_bytes": structural,
    }


def _bench_ivfpq(
    real: np.ndarray, queries: np.ndarray, total: int, workdir: Path, result: BenchResult, log: Callable
) -> None:
    dimension = real.shape[1]
    ivfpq = kind("ivfpq")
    faker = VectorFaker(real)
    # The training sample: independent draws of the same distribution (a build samples its corpus).
    sample = VectorFaker(real, seed=faker.seed + 10**6).draw(ivfpq.training_size(total))
    log(f"scale: training ivfpq for {total:,} vectors on {len(sample):,}")
    started = time.perf_counter()
    with runtime.faiss_on_every_core():
        index = ivfpq.new(dimension, total, sample)
    train_seconds = time.perf_counter() - started
    del sample
    truth = _ExactTop(queries, _one_third)
    add_seconds = exact_seconds = 0.0
    log(f"scale: adding {total:,} generated vectors to ivfpq, {CHUNK:,} at a time")
    with runtime.faiss_on_every_core():
        for lo, block in zip(itertools.count(0, CHUNK), faker.chunks(total, CHUNK), strict=False):
            started = time.perf_counter()
            index.add(block)
            add_seconds += time.perf_counter() - started
            started = time.perf_counter()
            truth.add(block, np.arange(lo, lo + len(block), dtype=np.int64))
            exact_seconds += time.perf_counter() - started
    parameters = ivfpq.parameters(index)
    path = Path(workdir) / "ivfpq-scale.faiss"
    log(f"scale: writing the ivfpq index to {path}")
    faiss.write_index(index, str(path))
    del index
    gc.collect()
    anon_before = _memory_kib("RssAnon")
    mapped = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)  # as a worker opens a snapshot
    keys = np.arange(total, dtype=np.int64)
    searched = VectorIndex(mapped, keys, "ivfpq")
    runtime.keep_faiss_single_threaded()
    # The file read once, in order, before the sweep: it was just written and would otherwise be
    # read into the page cache by the first settings measured. A serving worker's cache is warm
    # where memory allows (README, "Large corpora": what changes when it does not).
    with open(path, "rb") as fh:
        while fh.read(1 << 26):
            pass

    sweep = {
        f"nprobe={nprobe} rerank={rerank}": _measure(
            searched, queries, Effort(nprobe=nprobe, rerank=rerank), None, truth.all[1]
        )
        for nprobe, rerank in itertools.product(NPROBE, RERANK)
    }
    at_default = f"nprobe={ivfpq_kind.DEFAULT_NPROBE} rerank={ivfpq_kind.DEFAULT_RERANK}"
    chosen = at_default if at_default in sweep else _first_meeting(sweep)
    nprobe, rerank = (int(part.split("=")[1]) for part in chosen.split())
    filtered = _measure(
        searched, queries, Effort(nprobe=nprobe, rerank=rerank), np.flatnonzero(_one_third(keys)), truth.kept[1]
    )
    anon_growth = (_memory_kib("RssAnon") - anon_before) * 1024 - keys.nbytes  # the keys array is the bench's
    full_bytes = total * dimension * 4
    beyond_full = path.stat().st_size - full_bytes  # codes, cell lists, centroids, codebooks
    per_vector = max(anon_growth, beyond_full) / total
    label = f"ivfpq {total / 1e6:g}M"
    _report(result, label, sweep[chosen], filtered, "≤ 100", per_vector, "B/vector")
    result.add(
        Figure(
            "scale",
            f"{label} build time",
            train_seconds + add_seconds,
            unit="s",
            note=f"training {train_seconds:.0f} s, adding {add_seconds:.0f} s, {runtime.cores()} threads",
        )
    )
    result.details["scale"]["ivfpq"] = {
        "vectors": total,
        "kind": "IndexRefineFlat over IVF + PQ fast scan, METRIC_INNER_PRODUCT (embeddings.ann.ivfpq)",
        "parameters": parameters,
        "sweep": sweep,
        "chosen": chosen,
        "filtered_one_third": filtered,
        "train_seconds": round(train_seconds, 1),
        "add_seconds": round(add_seconds, 1),
        "exact_search_seconds_all_queries": round(exact_seconds, 2),
        "file_bytes": path.stat().st_size,
        "full_vector_bytes": full_bytes,
        "beyond_full_vectors_bytes_per_vector": round(beyond_full / total, 1),
        "anonymous_memory_growth_bytes_per_vector": round(anon_growth / total, 1),
        "memory_note": "the index file is memory-mapped: its pages are shared page cache, not the process's own",
    }
    del searched, mapped
    path.unlink(missing_ok=True)


def _first_meeting(sweep: dict) -> str:
    """The fastest setting of the sweep that meets the recall target, else the most accurate."""
    meeting = [name for name, row in sweep.items() if row["recall@10"] >= RECALL_TARGET]
    if meeting:
        return min(meeting, key=lambda name: sweep[name]["p50_ms"])
    return max(sweep, key=lambda name: sweep[name]["recall@10"])
