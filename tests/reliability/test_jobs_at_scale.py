"""Background writes at the sizes of the issue, against the real server: a day's feed (1,000
news-sized documents in one batch) and a 9 MiB document are each acknowledged in under a second;
the server is killed with kill -9 while their jobs run, restarted, and finishes them; afterwards
every document is there once, with the passages its job reported, and the big one is searchable."""

from __future__ import annotations

import signal
import time

import orjson
import pytest
import requests

from service.process import ServerProcess
from tests.conftest import SEEDS, news_documents
from tests.reliability import summary
from tests.reliability.helpers import AUTH, KEY, copy_index

FEED_SIZE = 1000
BIG_BYTES = 9 << 20
KILL_AFTER = 300  # documents of the feed written before the kill -9
JSON = {"Content-Type": "application/json"} | AUTH


def big_document() -> dict:
    """A 9 MiB (UTF-8) document: the seed articles over and over, as one long report."""
    text = "\n".join(path.read_text("utf-8").split("\n", 1)[1] for path in sorted(SEEDS.glob("*.txt")))
    copies = BIG_BYTES // len(text.encode()) + 1
    body = "\n".join(text for _ in range(copies)).encode()[:BIG_BYTES].decode(errors="ignore")
    return {"id": "big-report", "title": "Жылдық есеп", "text": body}


def post_timed(url: str, body: dict) -> tuple[requests.Response, float]:
    data = orjson.dumps(body)  # UTF-8 as it is: requests' json= would escape every Cyrillic letter
    started = time.perf_counter()
    response = requests.post(url, data=data, headers=JSON, timeout=60)
    return response, time.perf_counter() - started


def job(server: ServerProcess, location: str) -> dict:
    return requests.get(server.url + location, timeout=30).json()


@pytest.mark.slow
@pytest.mark.reliability_full
def test_a_feed_and_a_9_mib_document_are_taken_at_once_and_survive_kill_9(seed_index_dir, tmp_path):
    index_dir = copy_index(seed_index_dir, tmp_path / "index")
    starts = iter(range(3))

    def start() -> ServerProcess:
        log = tmp_path / f"server-{next(starts)}.log"
        return ServerProcess(index_dir, log, RETRIEVAL_API_KEY=KEY, WORKERS="2").wait_ready(timeout=300)

    server = start()
    before = requests.get(server.url + "/health", timeout=10).json()
    feed = news_documents(FEED_SIZE, prefix="feed")
    big = big_document()
    try:
        feed_reply, feed_ack = post_timed(server.url + "/v1/documents/batch", {"documents": feed})
        big_reply, big_ack = post_timed(server.url + "/v1/documents", big)
        assert (feed_reply.status_code, big_reply.status_code) == (202, 202), (feed_reply.text, big_reply.text)
        locations = [feed_reply.headers["Location"], big_reply.headers["Location"]]
        started = time.monotonic()
        while job(server, locations[0])["counts"]["done"] < KILL_AFTER:
            assert time.monotonic() - started < 600, "the feed's job did not progress"
            time.sleep(0.5)
        server.stop(signal.SIGKILL)
        server = start()
        killed_at = time.monotonic() - started
        while True:
            jobs = [job(server, location) for location in locations]
            if all(j["status"] in ("done", "failed") for j in jobs):
                break
            assert time.monotonic() - started < 1500, [j["counts"] for j in jobs]
            time.sleep(1)
        job_done = time.monotonic() - started
        health = requests.get(server.url + "/health", timeout=10).json()
        found = requests.get(
            server.url + "/v1/search", params={"q": "Лукашенко торговля", "documents": big["id"]}, timeout=60
        ).json()
        listed = requests.get(server.url + "/v1/documents", params={"limit": 1}, timeout=10).json()
    finally:
        server.stop()
    feed_job, big_job = jobs
    passages_reported = sum(len(d["document"]["passages"]) for j in jobs for d in j["documents"])
    figures = (
        f"{FEED_SIZE} documents ({len(feed_reply.request.body) / 2**20:.1f} MiB) acknowledged in "
        f"{feed_ack * 1000:.0f} ms, "
        f"a 9 MiB document in {big_ack * 1000:.0f} ms; kill -9 after {KILL_AFTER} written, restarted at "
        f"{killed_at:.0f} s; both jobs {feed_job['status']}/{big_job['status']} at {job_done:.0f} s; "
        f"{health['documents'] - before['documents']} documents, {passages_reported} passages"
    )
    ok = (
        feed_ack < 1
        and big_ack < 1
        and feed_job["status"] == big_job["status"] == "done"
        and health["documents"] == before["documents"] + FEED_SIZE + 1
        and bool(found["results"])
    )
    summary.record("background jobs", "feed + 9 MiB, kill -9", figures, "ok" if ok else "FAILED")
    assert feed_ack < 1 and big_ack < 1, figures
    assert feed_job["status"] == "done" and big_job["status"] == "done", figures
    assert health["documents"] == before["documents"] + FEED_SIZE + 1, figures  # none lost, none doubled
    assert health["passages"] == before["passages"] + passages_reported
    assert listed["total"] == health["documents"]
    assert found["results"], "the big document is not searchable"
    assert all(r["doc_id"] == big["id"] for r in found["results"])
