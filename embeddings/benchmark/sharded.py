"""``sharded``: ``GET /v1/search`` on the sharded service (scripts/serve_sharded.py: 2 shards on
a local Ray instance) beside the single-machine service over the same index, each ÷ a bare
``model.encode`` of one query, query by query in the same rounds: what the fan-out costs. Then
the same two over N generated passages (a million in a full run, flat, written as a real
generation as in ``workers``): the first answer after start (the split included), the memory of
the largest shard and of the front against one worker's (proportional set size), and the median
search of each."""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial

import numpy as np

from embeddings.benchmark.baseline import bare_encode_query
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.query import WARM_UP_QUERIES, ServerLauncher, http_search, http_server, p99
from embeddings.benchmark.synthetic import PASSAGES_PER_DOCUMENT, write_synthetic_generation
from embeddings.benchmark.timing import timed_rounds
from embeddings.benchmark.vectors import VectorFaker
from embeddings.benchmark.workers import pss, time_to_first_answer, timed_search, warm_workers
from embeddings.encoders import DEFAULT_BACKEND
from embeddings.index import build

SCALE_SEARCHES = 40


def bench_sharded(
    ctx: BenchContext,
    launch_server: ServerLauncher,
    launch_sharded: ServerLauncher,
    real: np.ndarray,
    total: int,
    log=print,
) -> None:
    _fan_out(ctx, launch_server, launch_sharded)
    _at_scale(ctx, launch_server, launch_sharded, real, total, log)


def _fan_out(ctx: BenchContext, launch_server: ServerLauncher, launch_sharded: ServerLauncher) -> None:
    import requests

    served = DEFAULT_BACKEND if DEFAULT_BACKEND in ctx.encoders else "torch"
    index_dir = ctx.workdir / "sharded-index"
    build(ctx.documents, index_dir, ctx.encoders[served])
    with ExitStack() as cleanup:
        one = cleanup.enter_context(http_server(launch_server, index_dir, ctx.workdir / "one.log", served))
        shards = cleanup.enter_context(http_server(launch_sharded, index_dir, ctx.workdir / "sharded.log", served))
        contenders = {
            "bare": partial(bare_encode_query, ctx.encoder),
            "one": http_search(cleanup.enter_context(requests.Session()), one.url),
            "sharded": http_search(cleanup.enter_context(requests.Session()), shards.url),
        }
        for contender in contenders.values():
            for query in ctx.queries[:WARM_UP_QUERIES]:
                contender(query)
        timings = timed_rounds(contenders, ctx.rounds, inputs=ctx.queries, progress="sharded")
    bare_ms = float(np.median(timings.pooled("bare"))) * 1000
    note = f"{len(ctx.queries)} queries × {ctx.rounds} rounds; bare encode median {bare_ms:.1f} ms"
    ctx.result.add(
        Figure(
            "sharded",
            "GET /v1/search, 2 shards (Ray Serve) median ÷ bare torch encode",
            *timings.ratio("sharded", "bare"),
            note=note,
        )
    )
    ctx.result.add(
        Figure(
            "sharded", "GET /v1/search, 2 shards p99 ÷ bare torch encode median", *timings.ratio("sharded", "bare", p99)
        )
    )
    ctx.result.add(
        Figure("sharded", "GET /v1/search, 2 shards ÷ one index (make serve), median", *timings.ratio("sharded", "one"))
    )


def _at_scale(
    ctx: BenchContext,
    launch_server: ServerLauncher,
    launch_sharded: ServerLauncher,
    real: np.ndarray,
    total: int,
    log,
) -> None:
    import requests

    served = ctx.encoders[DEFAULT_BACKEND if DEFAULT_BACKEND in ctx.encoders else "torch"]
    total -= total % PASSAGES_PER_DOCUMENT
    index_dir = ctx.workdir / "sharded-scale-index"
    log(f"sharded: writing a generation of {total:,} generated passages")
    write_synthetic_generation(index_dir, VectorFaker(real).draw(total), served.identity, kind="flat")
    queries = (list(ctx.queries) * 4)[:SCALE_SEARCHES]
    mapped = total * served.identity.dimension * 4
    figures: dict[str, dict] = {}
    for label, launch in (("one worker", launch_server), ("2 shards", launch_sharded)):
        server, seconds = time_to_first_answer(launch, index_dir, ctx.workdir / f"scale-{label}.log", queries[0], 1)
        try:
            with requests.Session() as session:
                health = session.get(server.url + "/health", timeout=60).json()
                shards = [s["process"] for s in health["index"].get("shards", [])]
                if shards:  # a flat search reads every vector: after a few, each shard's are resident
                    for query in queries[:4]:
                        session.get(server.url + "/v1/search", params={"q": query}, timeout=120)
                    memory = {"front": pss(health["process"]), "largest shard": max(pss(p) for p in shards)}
                else:
                    memory = {"worker": pss(warm_workers(server.url, queries, 1, mapped)[0])}
                answers = [timed_search(session, server.url, query) for query in queries]
                if any(status != 200 for status, _ in answers):
                    raise RuntimeError(f"{label}: a search answered {[status for status, _ in answers]}")
                times = [seconds for _, seconds in answers]
        finally:
            server.stop()
        figures[label] = {"first_answer_s": seconds, "pss": memory, "search_p50_s": float(np.median(times))}
    one, two = figures["one worker"], figures["2 shards"]
    note = f"{total:,} passages, flat; one worker {one['pss']['worker'] / 2**30:.2f} GiB"
    result = ctx.result
    result.add(
        Figure(
            "sharded",
            "2 shards: largest shard's PSS ÷ one worker's",
            two["pss"]["largest shard"] / one["pss"]["worker"],
            note=note,
        )
    )
    result.add(Figure("sharded", "2 shards: front's PSS ÷ one worker's", two["pss"]["front"] / one["pss"]["worker"]))
    result.add(Figure("sharded", "2 shards: search median ÷ one worker's", two["search_p50_s"] / one["search_p50_s"]))
    result.add(Figure("sharded", "2 shards: first search answered after start", two["first_answer_s"], unit="s"))
    result.details["sharded_scale"] = {"passages": total} | figures
