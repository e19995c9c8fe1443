"""``query``: ``GET /v1/search`` on the service, in-process ``Searcher.search`` for every prepared
backend and txtai's ``search``, each ÷ a bare ``model.encode`` of one query, query by query in
the same rounds.

The benchmark does not start the service itself (the library never imports it): the caller hands
in a :class:`ServerLauncher`, ``service.process.ServerProcess`` in ``scripts/bench.py``. Without
one the HTTP rows are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import numpy as np
import orjson

from embeddings.benchmark.baseline import bare_encode_query
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.peer import PEER, peer_figures
from embeddings.benchmark.profiler import profile_listing
from embeddings.benchmark.timing import timed_rounds
from embeddings.corpus import Document
from embeddings.encoders import DEFAULT_BACKEND
from embeddings.index import build
from embeddings.search import Searcher

K = 10
WARM_UP_QUERIES = 3
# One worker: a sequential client on one keep-alive connection is served by one worker anyway,
# and a second would only load another model copy that competes for the cores.
SERVER_ENV = {"RETRIEVAL_API_KEY": "", "WORKERS": "1"}


class RunningServer(Protocol):
    url: str  # http://host:port, no trailing slash

    def wait_ready(self) -> object:
        """Block until the service answers, or raise."""
        ...

    def stop(self) -> None: ...


class ServerLauncher(Protocol):
    """Starts the service over ``index_dir`` with ``env`` added to its environment, writing its
    output (the JSON access log among it) to ``log_path``."""

    def __call__(self, index_dir: Path, log_path: Path, **env: str) -> RunningServer: ...


@contextmanager
def _http_search(
    launch_server: ServerLauncher, index_dir: Path, log_path: Path, backend: str
) -> Iterator[Callable[[str], None]]:
    """``GET /v1/search`` for one query on a server started with ``backend``, over one keep-alive connection."""
    import requests

    server = launch_server(index_dir, log_path, **SERVER_ENV, EMBEDDING_BACKEND=backend)
    try:
        server.wait_ready()
        with requests.Session() as session:

            def search(query: str) -> None:
                response = session.get(f"{server.url}/v1/search?q={quote(query)}&k={K}", timeout=30)
                if response.status_code != 200:
                    raise RuntimeError(f"GET /v1/search answered {response.status_code}: {response.text[:300]}")

            yield search
    finally:
        server.stop()


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


def _older_half(documents: Sequence[Document]) -> dict[str, str]:
    """date_from / date_to around the older half of the dated documents (all of them undated: no range)."""
    days = sorted(doc.date for doc in documents if doc.date)
    return {"date_from": days[0], "date_to": days[len(days) // 2]} if days else {}


def _p99(seconds: np.ndarray) -> float:
    return float(np.percentile(seconds, 99))


def bench_query(ctx: BenchContext, launch_server: ServerLauncher | None = None, profile: bool = False) -> None:
    result = ctx.result
    log_path = ctx.workdir / "server.log"
    with ExitStack() as cleanup:
        searchers: dict[str, Searcher] = {}
        for label, encoder in ctx.encoders.items():
            index_dir = ctx.workdir / f"query-index-{label}"
            build(ctx.documents, index_dir, encoder)
            searchers[label] = Searcher.open(index_dir, encoder)
            cleanup.callback(searchers[label].index.close)

        contenders: dict[str, Callable[[str], object]] = {"bare": partial(bare_encode_query, ctx.encoder)}
        if launch_server is not None:
            # The server as `make serve` runs it: the default backend (torch when it is not prepared).
            served = DEFAULT_BACKEND if DEFAULT_BACKEND in searchers else "torch"
            served_index = ctx.workdir / f"query-index-{served}"
            contenders["http"] = cleanup.enter_context(_http_search(launch_server, served_index, log_path, served))
        contenders["inproc_torch"] = partial(searchers["torch"].search, k=K, mode="dense")
        # News search as the page asks it, on the served backend: one result per article, and a
        # date range that keeps the older half of the dated documents.
        default = searchers[DEFAULT_BACKEND if DEFAULT_BACKEND in searchers else "torch"]
        contenders["inproc_plain"] = partial(default.search, k=K)
        contenders["inproc_grouped"] = partial(default.search, k=K, group="article")
        contenders["inproc_dated"] = partial(default.search, k=K, **_older_half(ctx.documents))
        contenders["inproc_hybrid"] = partial(searchers["torch"].search, k=K, mode="hybrid")
        for label in ctx.other_backends:
            contenders[f"inproc_{label}"] = partial(searchers[label].search, k=K, mode="dense")
        if ctx.make_peer is not None:
            peer = ctx.make_peer()
            cleanup.callback(peer.close)
            peer.index(ctx.passages)
            contenders[PEER] = partial(peer.search, k=K)

        for contender in contenders.values():
            for query in ctx.queries[:WARM_UP_QUERIES]:  # warm-up: the server's worker, caches, first-shape costs
                contender(query)
                contender(query)
        timings = timed_rounds(contenders, ctx.rounds, inputs=ctx.queries, progress="query")
        if profile:
            result.details["profile_query"] = profile_listing(
                lambda: [searchers["torch"].search(q, K) for q in ctx.queries]
            )

    bare_ms = float(np.median(timings.pooled("bare"))) * 1000
    # The run's size goes with the first row shown.
    size_note = f"{len(ctx.queries)} queries × {ctx.rounds} rounds; bare encode median {bare_ms:.1f} ms"
    if "http" in timings:
        result.add(
            Figure(
                "query",
                "GET /v1/search (make serve defaults) median ÷ bare torch encode median",
                *timings.ratio("http", "bare"),
                target="≤ 1.3",
                note=size_note,
            )
        )
        size_note = ""
        result.add(
            Figure(
                "query",
                "GET /v1/search p99 ÷ bare torch encode median",
                *timings.ratio("http", "bare", _p99),
                target="≤ 3",
            )
        )
    result.add(
        Figure(
            "query",
            "Searcher.search (torch) median ÷ bare encode",
            *timings.ratio("inproc_torch", "bare"),
            note=size_note,
        )
    )
    result.add(
        Figure(
            "query",
            "Searcher.search hybrid (the default) ÷ dense (median)",
            *timings.ratio("inproc_hybrid", "inproc_torch"),
            target="≤ 1.15",
        )
    )
    for label in ctx.other_backends:
        result.add(
            Figure(
                "query", f"Searcher.search ({label}) median ÷ bare encode", *timings.ratio(f"inproc_{label}", "bare")
            )
        )
    news_options = (
        ("grouped", "group=article", "counterparts computed at an article's first grouped answer, then cached"),
        ("dated", "a date range (half the documents)", ""),
    )
    for name, what, note in news_options:
        result.add(
            Figure(
                "query",
                f"Searcher.search with {what} ÷ without (median, default backend)",
                *timings.ratio(f"inproc_{name}", "inproc_plain"),
                target="≤ 1.2",
                note=note,
            )
        )
    result.figures += peer_figures(timings, ctx.encoders, "query ({}, in-process) ÷ txtai search", "inproc_{}")
    if "http" in timings:
        # Where the HTTP overhead goes: the app's own time per request (its access log) against what
        # the client saw; the rest is gunicorn, the socket and the client library.
        app_ms = _logged_request_ms(log_path, "/v1/search")
        if app_ms:
            app_median = float(np.median(app_ms))
            client_median = float(np.median(timings.pooled("http"))) * 1000
            result.add(
                Figure(
                    "query",
                    "GET /v1/search time inside the app ÷ bare encode",
                    app_median / bare_ms,
                    note=f"app median {app_median:.1f} ms of the client's {client_median:.1f} ms "
                    "(from the server's access log)",
                )
            )
    result.details["query"] = {
        "queries": len(ctx.queries),
        "median_ms": {n: round(float(np.median(timings.pooled(n))) * 1000, 2) for n in timings.seconds},
        "p99_ms": {n: round(_p99(timings.pooled(n)) * 1000, 2) for n in timings.seconds},
    }
