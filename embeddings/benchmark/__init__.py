"""Speed as ratios measured side by side in one run: build and query overhead against the bare
model, the other prepared backends (int8 ONNX, OpenVINO) against float32 PyTorch, txtai as a peer,
and the approximate index kinds at scale.

The machine is shared and noisy, so no absolute time is a result here. Every figure is a ratio
of two things measured in the same round, rounds alternate the order of what they compare, and
each figure is the median over rounds with its spread (min–max): :mod:`.timing`.

Sections, one module each; :func:`run` runs the chosen ones and returns plain data:

- ``build``   (:mod:`.build`) index build ÷ bare ``SentenceTransformer.encode`` of the same
              passages; the peer's (txtai) build of the same passages in the same rounds.
- ``query``   (:mod:`.query`) ``GET /v1/search`` on the service (when a launcher is given),
              in-process ``Searcher.search`` and txtai's ``search`` ÷ a bare ``model.encode`` of
              one query, query by query in the same rounds.
- ``encoder`` (:mod:`.encoder`) passages/s of each other backend ÷ float32 PyTorch.
- ``quality`` (:mod:`.quality`) FLORES kk→ru top-1 and KazQAD nDCG@10, float32 against the
              others, through the evaluation harness.
- ``scale``   (:mod:`.scale`) hnsw over N and ivfpq over M vectors drawn to resemble real ones
              (:mod:`.vectors`): recall@10 against exact search for a sweep of search efforts,
              latency p50/p99 without encoding, memory, build time.
- ``workers`` (:mod:`.workers`) the service over N such passages written as a real generation
              (:mod:`.synthetic`): first answer after start, two workers' memory ÷ one's,
              compaction under a load of searches and writes.
- ``sharded`` (:mod:`.sharded`) ``GET /v1/search`` on the sharded service (2 shards on Ray
              Serve) beside the single-machine service over the same index, ÷ a bare encode.

Around them: :mod:`.inputs` (documents, queries, texts), :mod:`.baseline` (the bare model),
:mod:`.peer` (txtai), :mod:`.context` (what the sections share), :mod:`.figures` (figures, the
table, the JSON report), :mod:`.profiler` (``--profile``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from embeddings import runtime
from embeddings.benchmark.build import bench_build
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.encoder import bench_encoder
from embeddings.benchmark.figures import BenchResult
from embeddings.benchmark.inputs import DEFAULT_EVAL_DIR, FLORES_SENTENCES, load_documents, load_queries
from embeddings.benchmark.peer import txtai_peer_factory
from embeddings.benchmark.quality import bench_quality
from embeddings.benchmark.query import ServerLauncher, bench_query
from embeddings.benchmark.scale import bench_scale, real_vectors
from embeddings.benchmark.sharded import bench_sharded
from embeddings.benchmark.workers import bench_workers
from embeddings.encoders import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_MODEL_DIR,
    Encoder,
    backend_module,
    load_encoder,
    prepared_backends,
)

__all__ = ["DEFAULT_EVAL_DIR", "SECTIONS", "BenchOptions", "BenchResult", "ServerLauncher", "run"]

SECTIONS = ("build", "query", "encoder", "quality", "scale", "workers", "sharded")
QUICK_ROUNDS = 2
QUICK_DOCUMENTS = 3  # FLORES articles, each in kk and ru
QUICK_SCALE_VECTORS = 20_000


@dataclass
class BenchOptions:
    quick: bool = False
    sections: Sequence[str] = SECTIONS
    eval_dir: Path = DEFAULT_EVAL_DIR
    rounds: int = 5
    scale_n: int = 1_000_000  # vectors of the hnsw scale run (and of the workers section)
    ivfpq_n: int = 10_000_000  # vectors of the ivfpq scale run (0: left out)
    workdir: Path | None = None  # where the run's own temporary folder goes (None: the system's)
    profile: bool = False
    model: str | None = None
    docs: int | None = None  # FLORES articles to build from (None: all 281; --quick: 3)
    # Starts the service for the HTTP rows (scripts/bench.py: service.process.ServerProcess);
    # None leaves them out.
    launch_server: ServerLauncher | None = None
    # Starts the sharded service (scripts/serve_sharded.py) for the sharded rows; None leaves them out.
    launch_sharded: ServerLauncher | None = None
    # The service's limit on one batch's query characters (service.validation.MAX_BATCH_CHARS,
    # handed in like the launcher): the batch-load rows send the largest batch it accepts.
    batch_chars: int | None = None


def _other_backends(log: Callable[[str], None]) -> dict[str, Encoder]:
    """Every prepared backend besides torch, loaded from its default folder; a note for each missing one."""
    prepared = prepared_backends()
    encoders: dict[str, Encoder] = {}
    for label in BACKENDS:
        if label == "torch":
            continue
        if label in prepared:
            encoders[label] = load_encoder(None, label)
        else:
            folder = backend_module(label).DEFAULT_DIR
            log(f"note: no {label} model at {folder} (`make setup` makes it); its rows are left out")
    return encoders


def run(options: BenchOptions, log: Callable[[str], None] = print) -> BenchResult:
    """Run the chosen sections and return every figure."""
    result = BenchResult()
    load_before = os.getloadavg()
    result.details["machine"] = {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load_before]}
    encoder = load_encoder(options.model, "torch")
    other_backends = _other_backends(log)
    make_peer = txtai_peer_factory(str(options.model or DEFAULT_MODEL_DIR), encoder.identity.prompts)
    if make_peer is None:
        log("note: txtai is not installed (pip install -e '.[bench]'); the peer rows are left out")
    if "query" in options.sections and options.launch_server is None:
        log("note: no server launcher given; the GET /v1/search rows are left out")
    # The serving policy for every row, whatever loading the other backends did: torch on every
    # core, FAISS on one.
    runtime.configure_torch()

    documents, corpus_label = load_documents(options.eval_dir, QUICK_DOCUMENTS if options.quick else options.docs)
    result.details["corpus"] = {"source": corpus_label, "documents": len(documents)}
    if options.workdir:
        Path(options.workdir).mkdir(parents=True, exist_ok=True)
    # A folder of the run's own, inside the one named: removed at the end, it holds nothing else.
    workdir = Path(tempfile.mkdtemp(prefix="kazru-bench-", dir=options.workdir))
    ctx = BenchContext(
        encoder=encoder,
        other_backends=other_backends,
        make_peer=make_peer,
        documents=documents,
        queries=load_queries(options.eval_dir, options.quick),
        rounds=QUICK_ROUNDS if options.quick else options.rounds,
        workdir=workdir,
        result=result,
    )
    try:
        if "build" in options.sections:
            bench_build(ctx, options.profile)
        if "query" in options.sections:
            bench_query(ctx, options.launch_server, options.profile, options.batch_chars)
        if "encoder" in options.sections and other_backends:
            bench_encoder(ctx)
        if "quality" in options.sections and other_backends:
            if (Path(options.eval_dir) / FLORES_SENTENCES).is_file():
                bench_quality(ctx, Path(options.eval_dir), options.quick)
            else:
                log(f"note: no evaluation data at {options.eval_dir}; the quality rows are left out")
        total = QUICK_SCALE_VECTORS if options.quick else options.scale_n
        if {"scale", "workers", "sharded"} & set(options.sections):
            real, query_vectors = real_vectors(ctx, Path(options.eval_dir), options.quick)
        if "scale" in options.sections:
            ivfpq_total = QUICK_SCALE_VECTORS if options.quick and options.ivfpq_n else options.ivfpq_n
            bench_scale(real, query_vectors, total, ivfpq_total, workdir, result, log)
        if "workers" in options.sections:
            served = other_backends.get(DEFAULT_BACKEND)
            if options.launch_server is None or served is None:
                log(f"note: the workers rows need a server launcher and the {DEFAULT_BACKEND} model; left out")
            else:
                bench_workers(ctx, served, real, total, options.launch_server, options.quick, log)
        if "sharded" in options.sections:
            if options.launch_server is None or options.launch_sharded is None:
                log("note: the sharded rows need both server launchers; left out")
            else:
                bench_sharded(ctx, options.launch_server, options.launch_sharded, real, total, log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.details["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result
