"""``query``: ``GET /v1/search`` on the service, in-process ``Searcher.search`` for every prepared
backend and txtai's ``search``, each ÷ a bare ``model.encode`` of one query, query by query in
the same rounds.

The benchmark does not start the service itself (the library never imports it): the caller hands
in a :class:`ServerLauncher`, ``service.process.ServerProcess`` in ``scripts/bench.py``. Without
one the HTTP rows are left out.
"""

from __future__ import annotations

import threading
import time
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
from embeddings.search import MAX_QUERY_CHARS, Searcher

K = 10
WARM_UP_QUERIES = 3
LOAD_CLIENTS = 4  # clients posting the largest batch in a loop while one searches
LOAD_SAMPLES = 30
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
def http_server(
    launch_server: ServerLauncher, index_dir: Path, log_path: Path, backend: str
) -> Iterator[RunningServer]:
    """The service started with ``backend``, ready, stopped afterwards."""
    server = launch_server(index_dir, log_path, **SERVER_ENV, EMBEDDING_BACKEND=backend)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def http_search(session, url: str) -> Callable[[str], None]:
    """``GET /v1/search`` for one query, over ``session``'s keep-alive connection."""

    def search(query: str) -> None:
        response = session.get(f"{url}/v1/search?q={quote(query)}&k={K}", timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"GET /v1/search answered {response.status_code}: {response.text[:300]}")

    return search


def _largest_batch(documents: Sequence[Document], batch_chars: int) -> list[dict]:
    """Queries of real text, each as long as one may be, that fill the batch limit exactly."""
    text = " ".join(doc.text.replace("\n", " ") for doc in documents) + " "
    text *= -(-batch_chars // len(text))  # a small corpus (--quick) repeats
    lengths = [MAX_QUERY_CHARS] * (batch_chars // MAX_QUERY_CHARS) + [batch_chars % MAX_QUERY_CHARS]
    return [{"query": text[i * MAX_QUERY_CHARS : i * MAX_QUERY_CHARS + n]} for i, n in enumerate(lengths) if n]


def _batch_load(url: str, queries: Sequence[str], batch: list[dict]) -> dict[str, float]:
    """Seconds of the largest batch alone, and GET /v1/search's median idle and while LOAD_CLIENTS
    clients post that batch in a loop (each on its own connection)."""
    import requests

    def post(session) -> None:
        response = session.post(f"{url}/v1/search/batch", json={"queries": batch}, timeout=600)
        if response.status_code != 200:
            raise RuntimeError(f"POST /v1/search/batch answered {response.status_code}: {response.text[:300]}")

    def search_median(session) -> float:
        search = http_search(session, url)
        seconds = []
        for query in queries[:LOAD_SAMPLES]:
            started = time.perf_counter()
            search(query)
            seconds.append(time.perf_counter() - started)
        return float(np.median(seconds))

    with requests.Session() as session:
        post(session)  # warm-up: the worker's first batch shapes
        alone = []
        for _ in range(3):
            started = time.perf_counter()
            post(session)
            alone.append(time.perf_counter() - started)
        idle = search_median(session)
        stop = threading.Event()

        def client() -> None:
            with requests.Session() as own:
                while not stop.is_set():
                    post(own)

        clients = [threading.Thread(target=client, daemon=True) for _ in range(LOAD_CLIENTS)]
        for thread in clients:
            thread.start()
        time.sleep(1.0)  # every client has a batch in flight
        try:
            loaded = search_median(session)
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=600)
    return {"batch_alone": float(np.median(alone)), "idle": idle, "loaded": loaded}


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


def p99(seconds: np.ndarray) -> float:
    return float(np.percentile(seconds, 99))


def bench_query(
    ctx: BenchContext,
    launch_server: ServerLauncher | None = None,
    profile: bool = False,
    batch_chars: int | None = None,
) -> None:
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
        server = None
        if launch_server is not None:
            import requests

            # The server as `make serve` runs it: the default backend (torch when it is not prepared).
            served = DEFAULT_BACKEND if DEFAULT_BACKEND in searchers else "torch"
            served_index = ctx.workdir / f"query-index-{served}"
            server = cleanup.enter_context(http_server(launch_server, served_index, log_path, served))
            contenders["http"] = http_search(cleanup.enter_context(requests.Session()), server.url)
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
        batch = _largest_batch(ctx.documents, batch_chars) if server is not None and batch_chars else None
        load = _batch_load(server.url, ctx.queries, batch) if batch else None
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
                target="≤ 0.5",
                note=size_note,
            )
        )
        size_note = ""
        result.add(
            Figure(
                "query",
                "GET /v1/search p99 ÷ bare torch encode median",
                *timings.ratio("http", "bare", p99),
                target="≤ 1.5",
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
    if load is not None:
        result.add(
            Figure(
                "query",
                "POST /v1/search/batch, the largest accepted, alone ÷ GET /v1/search median",
                load["batch_alone"] / load["idle"],
                note=f"{len(batch)} queries, {batch_chars:,} characters: {load['batch_alone'] * 1000:.0f} ms",
            )
        )
        result.add(
            Figure(
                "query",
                f"GET /v1/search median while {LOAD_CLIENTS} clients post that batch ÷ idle median",
                load["loaded"] / load["idle"],
                target="≤ 3",
                note=f"{load['loaded'] * 1000:.1f} ms against {load['idle'] * 1000:.1f} ms idle "
                f"({min(LOAD_SAMPLES, len(ctx.queries))} queries)",
            )
        )
    result.details["query"] = {
        "queries": len(ctx.queries),
        "median_ms": {n: round(float(np.median(timings.pooled(n))) * 1000, 2) for n in timings.seconds},
        "p99_ms": {n: round(p99(timings.pooled(n)) * 1000, 2) for n in timings.seconds},
    }
