"""``sharded``: ``GET /v1/search`` on the sharded service (scripts/serve_sharded.py: 2 shards on
a local Ray instance) beside the single-machine service over the same index, each ÷ a bare
``model.encode`` of one query, query by query in the same rounds: what the fan-out costs."""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial

import numpy as np

from embeddings.benchmark.baseline import bare_encode_query
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.query import WARM_UP_QUERIES, ServerLauncher, http_search, http_server, p99
from embeddings.benchmark.timing import timed_rounds
from embeddings.encoders import DEFAULT_BACKEND
from embeddings.index import build


def bench_sharded(ctx: BenchContext, launch_server: ServerLauncher, launch_sharded: ServerLauncher) -> None:
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
