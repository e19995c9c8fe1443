"""``workers``: the service over N passages (a million in a full run), generated as in ``scale``
and written as a real generation (:mod:`.synthetic`): how soon a worker answers its first search
after start, the memory of two workers together against one alone (proportional set size, from
``/proc/PID/smaps_rollup``: the memory-mapped snapshot is shared), and a compaction of 10,000
writes and 10,000 deletes while a client searches and another writes and deletes through the API:
errors, acknowledged writes lost, and search p99 during the compaction against idle.

The index is ``flat``: a million-vector graph takes half an hour to build here, and both kinds are
memory-mapped the same way (embeddings/snapshots.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import requests

from embeddings import runtime
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.query import ServerLauncher
from embeddings.benchmark.synthetic import (
    PASSAGES_PER_DOCUMENT,
    add_synthetic_passages,
    delete_synthetic_documents,
    write_synthetic_generation,
)
from embeddings.benchmark.vectors import VectorFaker
from embeddings.compaction import compact
from embeddings.encoders import Encoder

KEY = "bench-workers-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
WRITES = 10_000  # passages added through the store since the snapshot, and as many deleted
QUICK_WRITES = 1_000
SEARCHES = 40  # idle searches measured
WARM_CLIENTS = 12
API_WRITES = 200  # at most, by the client that writes during compaction
START_TIMEOUT = 600.0
WRITE_TEXT = (
    "Синоптики предупредили о сильном ветре в регионе {n}, местами до двадцати метров в секунду.\n"
    "Жителей просят не оставлять машины под деревьями и следить за сообщениями спасателей {n}."
)


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes: each shared page counted once over its sharers."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rpartition(")")[2].split()[1])


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def timed_search(session: requests.Session, url: str, query: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = session.get(url + "/v1/search", params={"q": query, "k": 10}, timeout=120).status_code
    return status, time.perf_counter() - started


def time_to_first_answer(launch_server: ServerLauncher, index_dir: Path, log: Path, query: str, workers: int):
    """The server started with ``workers`` workers, and the seconds from launch to its first search
    answered (model loaded, snapshot mapped, delta replayed)."""
    started = time.monotonic()
    server = launch_server(index_dir, log, RETRIEVAL_API_KEY=KEY, WORKERS=str(workers))
    with requests.Session() as session:
        while time.monotonic() - started < START_TIMEOUT:
            try:
                if timed_search(session, server.url, query)[0] == 200:
                    return server, time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"the service over {index_dir} did not answer within {START_TIMEOUT:.0f} s")


def warm_workers(url: str, queries: list[str], workers: int, mapped_bytes: int) -> list[int]:
    """Search from many clients at once (an idle worker takes every request a lone client sends)
    until every worker has answered and read the whole snapshot (its resident set holds the
    mapped vectors); the workers' process ids."""
    pids: set[int] = set()

    def client(n: int) -> None:
        with requests.Session() as session:
            for i in range(4):
                session.get(url + "/v1/search", params={"q": queries[(n + i) % len(queries)]}, timeout=120)
                pids.add(session.get(url + "/health", timeout=30).json()["process"])

    for _ in range(50):
        threads = [threading.Thread(target=client, args=(n,)) for n in range(WARM_CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if len(pids) == workers and all(_rss(pid) >= mapped_bytes for pid in pids):
            return sorted(pids)
    raise RuntimeError(f"found {len(pids)} warm workers of {workers}")


class _Load:
    """A client searching in a loop and another writing and deleting documents through the API,
    each on its own thread, until stopped."""

    def __init__(self, url: str, queries: list[str]) -> None:
        self.url, self.queries = url, queries
        self.searches: list[tuple[float, float, int]] = []  # (finished at, seconds, status)
        self.errors: list[str] = []
        self.written: list[str] = []  # acknowledged and kept
        self.deleted: list[str] = []  # acknowledged deletes
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._search), threading.Thread(target=self._write)]

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _search(self) -> None:
        with requests.Session() as session:
            n = 0
            while not self._stop.is_set():
                status, seconds = timed_search(session, self.url, self.queries[n % len(self.queries)])
                self.searches.append((time.monotonic(), seconds, status))
                if status != 200:
                    self.errors.append(f"search: {status}")
                n += 1

    def _write(self) -> None:
        with requests.Session() as session:
            for n in range(API_WRITES):
                if self._stop.is_set():
                    return
                doc_id = f"wind-{n}"
                body = {"id": doc_id, "text": WRITE_TEXT.format(n=n), "lang": "ru"}
                reply = session.post(self.url + "/v1/documents", json=body, headers=AUTH, timeout=120)
                if reply.status_code != 201:
                    self.errors.append(f"write {doc_id}: {reply.status_code} {reply.text[:100]}")
                    continue
                self.written.append(doc_id)
                if n % 3 == 2:  # every third write, delete the one before it
                    gone = self.written.pop(-2)
                    reply = session.delete(f"{self.url}/v1/documents/{gone}", headers=AUTH, timeout=120)
                    if reply.status_code != 204:
                        self.errors.append(f"delete {gone}: {reply.status_code}")
                        self.written.append(gone)
                    else:
                        self.deleted.append(gone)


def _lost(url: str, load: _Load) -> list[str]:
    """Acknowledged writes not found, acknowledged deletes still found."""
    lost = []
    with requests.Session() as session:
        for doc_id in load.written:
            if session.get(f"{url}/v1/documents/{doc_id}", timeout=30).status_code != 200:
                lost.append(doc_id)
        for doc_id in load.deleted:
            if session.get(f"{url}/v1/documents/{doc_id}", timeout=30).status_code != 404:
                lost.append(f"{doc_id} (deleted)")
    return lost


def bench_workers(
    ctx: BenchContext,
    served: Encoder,
    real: np.ndarray,
    total: int,
    launch_server: ServerLauncher,
    quick: bool,
    log=print,
) -> None:
    """Every figure of the section over ``total`` passages drawn to resemble ``real``; ``served``
    is the encoder the service runs (the index is written for its model and backend)."""
    total -= total % PASSAGES_PER_DOCUMENT
    writes = QUICK_WRITES if quick else WRITES
    index_dir, logs = ctx.workdir / "workers-index", ctx.workdir
    faker = VectorFaker(real)
    log(f"workers: writing a generation of {total:,} generated passages")
    started = time.perf_counter()
    write_synthetic_generation(index_dir, faker.draw(total), served.identity, kind="flat")
    written_seconds = time.perf_counter() - started
    mapped = total * served.identity.dimension * 4
    queries = list(ctx.queries)

    server, first_answer = time_to_first_answer(launch_server, index_dir, logs / "workers-1.log", queries[0], 1)
    try:
        (pid,) = warm_workers(server.url, queries, 1, mapped)
        one, master_one = pss(pid), pss(_parent(pid))
    finally:
        server.stop()
    server, first_answer_two = time_to_first_answer(launch_server, index_dir, logs / "workers-2.log", queries[0], 2)
    try:
        pids = warm_workers(server.url, queries, 2, mapped)
        two, master_two = sum(pss(p) for p in pids), pss(_parent(pids[0]))
        with requests.Session() as session:
            idle = np.asarray([timed_search(session, server.url, q)[1] for q in (queries * 4)[:SEARCHES]])
        with _Load(server.url, queries) as load:
            time.sleep(2)
            add_synthetic_passages(index_dir, faker.draw(writes))
            deleted = delete_synthetic_documents(index_dir, writes // PASSAGES_PER_DOCUMENT)
            window = [time.monotonic()]
            outcome: list = []

            def run_compaction() -> None:
                runtime.yield_this_thread_to_searches()  # as the service's own compaction thread
                outcome.append(compact(index_dir, every_core=False))

            thread = threading.Thread(target=run_compaction)
            thread.start()
            thread.join()
            window.append(time.monotonic())
            time.sleep(2)
        during = np.asarray([s for at, s, _ in load.searches if window[0] <= at <= window[1]])
        lost = _lost(server.url, load)
        health = requests.get(server.url + "/health", timeout=30).json()
    finally:
        server.stop()

    p99_idle = float(np.percentile(idle, 99))
    p99_during = float(np.percentile(during, 99)) if len(during) else float("nan")
    result = ctx.result
    label = f"{total:,} passages, flat"
    result.add(Figure("workers", "first search answered after start", first_answer, unit="s", target="≤ 5", note=label))
    result.add(
        Figure("workers", "2 workers' PSS ÷ 1 worker's", two / one, target="≤ 1.2", note=f"{one / 2**30:.2f} GiB alone")
    )
    result.add(
        Figure(
            "workers",
            "search p99 during compaction ÷ idle",
            p99_during / p99_idle,
            target="≤ 3",
            note=f"{len(during)} searches",
        )
    )
    result.add(Figure("workers", "errors during compaction", len(load.errors), unit="", target="≤ 0"))
    result.add(Figure("workers", "acknowledged writes lost", len(lost), unit="", target="≤ 0"))
    result.details["workers"] = {
        "passages": total,
        "generation_written_seconds": round(written_seconds, 1),
        "first_answer_seconds": {"1 worker": round(first_answer, 2), "2 workers": round(first_answer_two, 2)},
        "pss_bytes": {"1 worker": one, "2 workers": two, "mapped_vectors": mapped},
        # gunicorn's master holds the tokenizer the workers share (service/gunicorn_conf.py)
        "pss_bytes_with_master": {"1 worker": one + master_one, "2 workers": two + master_two},
        "compaction": {
            "written_since_snapshot": writes,
            "deleted_since_snapshot": deleted,
            "seconds": round(window[1] - window[0], 1),
            "by": "the benchmark" if outcome and outcome[0] else "the service (it began first)",
            "result": outcome[0].as_dict() if outcome and outcome[0] else None,
            "search_p50_ms": {
                "idle": round(float(np.median(idle)) * 1000, 1),
                "during": round(float(np.median(during)) * 1000, 1) if len(during) else None,
            },
            "search_p99_ms": {"idle": round(p99_idle * 1000, 1), "during": round(p99_during * 1000, 1)},
            "api_writes_acknowledged": len(load.written) + len(load.deleted),
            "api_deletes_acknowledged": len(load.deleted),
            "errors": load.errors[:20],
            "lost": lost[:20],
            "health_after": health["index"],
        },
    }
