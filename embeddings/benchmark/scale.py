"""``scale``: the project's hnsw index (:mod:`embeddings.vector_index`, the same build and search
code) over N generated vectors of the model's dimension: recall@10 against exact search, latency
p50/p99 without encoding, memory, build time."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from embeddings import runtime
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import BenchResult, Figure
from embeddings.benchmark.inputs import scale_texts
from embeddings.benchmark.timing import timed_rounds
from embeddings.benchmark.vectors import DEFAULT_NOISE, VectorFaker, resemblance
from embeddings.vector_index import HNSW_EF_CONSTRUCTION, HNSW_M, VectorIndex, build_faiss_index

K = 10
EF_SEARCH = (64, 128, 256, 512)  # hnsw search efforts tried; the first with recall ≥ 0.95 is reported
RECALL_TARGET = 0.95
QUICK_TEXTS = 300  # rows of each evaluation file a --quick run draws its real vectors from


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


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_scale(
    real: np.ndarray, queries: np.ndarray, total: int, result: BenchResult, log: Callable[[str], None] = print
) -> None:
    """hnsw over ``total`` vectors drawn to resemble ``real``, searched with ``queries``."""
    similar = resemblance(real, queries)
    vectors = VectorFaker(real).draw(total)
    keys = np.arange(total, dtype=np.int64)
    # A filter that keeps a third of the passages (one language of three) goes through the graph.
    allowed = keys[keys % 3 == 0]
    started = time.perf_counter()
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    with runtime.faiss_on_every_core():  # the ground truth is batch work, not a measurement
        _, truth = exact.search(queries, K)
        selector = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        _, truth_filtered = exact.search(queries, K, params=selector)
    exact_seconds = time.perf_counter() - started
    del exact

    gc.collect()
    rss_before = _rss_bytes()
    log(f"scale: building hnsw over {total:,} vectors")
    started = time.perf_counter()
    hnsw = VectorIndex(build_faiss_index("hnsw", vectors), keys, "hnsw")
    build_seconds = time.perf_counter() - started
    rss_growth = _rss_bytes() - rss_before
    del vectors
    gc.collect()
    graph = hnsw.faiss
    # What the index holds: vectors, graph links, levels and offsets, keys. RSS growth alone
    # under-counts when freed memory is reused.
    structural = total * real.shape[1] * 4 + graph.hnsw.neighbors.size() * 4 + total * (4 + 8) + total * 8
    memory = max(rss_growth, structural)
    runtime.keep_faiss_single_threaded()  # serving: one query at a time, on one thread

    def measure(ef: int, filter_keys: np.ndarray | None, expected: np.ndarray) -> dict:
        found = np.empty((len(queries), K), dtype=np.int64)

        def search(i: int) -> None:
            found[i] = hnsw.search(queries[i : i + 1], K, filter_keys, ef_search=ef)[1][0]

        latency = timed_rounds({"hnsw": search}, rounds=1, inputs=range(len(queries))).pooled("hnsw")
        recall = float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, expected, strict=True)]))
        return {
            "recall@10": round(recall, 4),
            "p50_ms": round(float(np.percentile(latency, 50)) * 1000, 3),
            "p99_ms": round(float(np.percentile(latency, 99)) * 1000, 3),
        }

    per_ef = {str(ef): measure(ef, None, truth) for ef in EF_SEARCH}
    chosen = next((ef for ef in EF_SEARCH if per_ef[str(ef)]["recall@10"] >= RECALL_TARGET), EF_SEARCH[-1])
    filtered = measure(chosen, allowed, truth_filtered)
    at_chosen = per_ef[str(chosen)]
    label = f"hnsw M={HNSW_M} efConstruction={HNSW_EF_CONSTRUCTION} ef_search={chosen}, {total:,} generated vectors"
    result.add(
        Figure("scale", "recall@10 vs exact", at_chosen["recall@10"], unit="", target=f"≥ {RECALL_TARGET}", note=label)
    )
    result.add(Figure("scale", "search p50 (no encoding)", at_chosen["p50_ms"], unit="ms", target="≤ 5"))
    result.add(Figure("scale", "search p99 (no encoding)", at_chosen["p99_ms"], unit="ms"))
    result.add(
        Figure(
            "scale",
            "recall@10, filter keeping 1/3",
            filtered["recall@10"],
            unit="",
            note=f"p50 {filtered['p50_ms']} ms, p99 {filtered['p99_ms']} ms",
        )
    )
    result.add(Figure("scale", "memory (index)", memory / 2**30, unit="GiB", target="≤ 2"))
    result.add(Figure("scale", "build time", build_seconds, unit="s", note=f"{runtime.cores()} threads"))
    result.details["scale"] = {
        "vectors": total,
        "dimension": int(real.shape[1]),
        "kind": "IndexHNSWFlat, METRIC_INNER_PRODUCT (embeddings.vector_index)",
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
        f"Gaussian noise with their covariance (scale {DEFAULT_NOISE}), normalised",
        "resemblance": similar,
    }
