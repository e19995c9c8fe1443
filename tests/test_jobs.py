"""Background writes: the queue and its runner in-process, then over HTTP against a real server —
a batch and a big document acknowledged at once (202) and searchable when their job is done,
writes of one document in the order they were asked for, per-document failures, and a kill -9
in the middle of a job that the restarted server finishes without losing or doubling anything."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import threading
import time

import pytest
import requests

from embeddings import jobs as jobs_mod
from embeddings.jobs import JobQueue, JobRunner, Write
from service.process import ServerProcess
from tests.conftest import ROOT, WRITE_AUTH, WRITE_KEY, news_documents

# --- the queue and its runner, in-process ---------------------------------------------------------


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def finished(queue: JobQueue, job_id: str) -> bool:
    return queue.job(job_id).state in ("done", "failed")


def test_writes_run_one_at_a_time_in_queue_order_even_with_two_runners(tmp_path):
    done: list[str] = []
    busy = threading.Semaphore(1)  # a second concurrent write would fail to take it

    def write(w: Write) -> dict:
        assert busy.acquire(blocking=False), "two writes at once"
        time.sleep(0.01)
        done.append(f"{w.op}:{w.doc_id}")
        busy.release()
        return {"id": w.doc_id}

    queue = JobQueue(tmp_path)
    writes = [Write("put", f"d{i % 7}", {"text": str(i)}) if i % 5 else Write("delete", f"d{i % 7}") for i in range(60)]
    first = queue.submit(writes[:30])
    runners = [JobRunner(JobQueue(tmp_path), write, poll_seconds=0.05).start() for _ in range(2)]
    second = queue.submit(writes[30:])
    try:
        wait_for(lambda: finished(queue, first) and finished(queue, second))
    finally:
        for runner in runners:
            runner.stop()
    assert done == [f"{w.op}:{w.doc_id}" for w in writes]
    job = queue.job(first)
    assert job.state == "done" and [w.doc_id for w in job.writes] == [w.doc_id for w in writes[:30]]
    assert job.finished is not None


def test_a_write_left_running_by_a_dead_process_is_run_again(tmp_path):
    queue = JobQueue(tmp_path)
    job_id = queue.submit([Write("put", "a", {"text": "x"}), Write("put", "b", {"text": "y"})])
    _, write = queue.claim()  # as a runner that dies before it finishes
    assert write.doc_id == "a" and queue.job(job_id).state == "running"
    done: list[str] = []
    runner = JobRunner(JobQueue(tmp_path), lambda w: done.append(w.doc_id) or {}, poll_seconds=0.05).start()
    try:
        wait_for(lambda: finished(queue, job_id))
    finally:
        runner.stop()
    assert done == ["a", "b"] and queue.job(job_id).state == "done"


def test_a_document_that_cannot_be_indexed_fails_alone_and_a_machine_fault_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs_mod, "RETRY_SECONDS", 0.05)
    faults = iter([sqlite3.OperationalError("database or disk is full")])

    def write(w: Write) -> dict:
        if w.doc_id == "empty":
            raise ValueError("the text is empty after cleaning")
        if w.doc_id == "unlucky" and (fault := next(faults, None)):
            raise fault
        return {"id": w.doc_id}

    queue = JobQueue(tmp_path)
    job_id = queue.submit([Write("put", name, {"text": "t"}) for name in ("ok", "empty", "unlucky")])
    runner = JobRunner(queue, write, poll_seconds=0.05).start()
    try:
        wait_for(lambda: finished(queue, job_id))
    finally:
        runner.stop()
    job = queue.job(job_id)
    assert job.state == "failed"
    assert [(w.doc_id, w.state, w.outcome) for w in job.writes] == [
        ("ok", "done", {"id": "ok"}),
        ("empty", "failed", {"error": "the text is empty after cleaning"}),
        ("unlucky", "done", {"id": "unlucky"}),  # the full disk was waited out: it was acknowledged
    ]


def test_finished_jobs_are_forgotten_after_their_time_and_pending_ones_never(tmp_path):
    queue = JobQueue(tmp_path)
    old = queue.submit([Write("delete", "a")])
    pending = queue.submit([Write("delete", "b")])
    seq, _ = queue.claim()
    queue.finish(seq, "done", {"id": "a", "deleted": False})
    assert queue.forget_finished() == 0  # finished just now: kept for a week
    assert queue.forget_finished(older_than=jobs_mod.datetime.timedelta(seconds=-1)) == 1
    assert queue.job(old) is None and queue.job(pending).state == "queued"
    assert queue.pending("b") and not queue.pending("a")


def test_an_index_without_jobs_gets_no_jobs_file(tmp_path):
    queue = JobQueue(tmp_path)
    assert not queue.pending("a") and queue.job("job-" + "0" * 20) is None
    assert not (tmp_path / jobs_mod.JOBS_FILE).exists()


# --- over HTTP ------------------------------------------------------------------------------------


def post(server, path: str, body: dict, **kwargs) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=WRITE_AUTH, timeout=60, **kwargs)


def wait_job(server, location: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(server.url + location, timeout=10).json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job not finished in {timeout} s: {job['counts']}"
        time.sleep(0.2)


def test_a_batch_is_acknowledged_at_once_and_searchable_when_its_job_is_done(writable_server):
    documents = news_documents(40)
    started = time.perf_counter()
    response = post(writable_server, "/v1/documents/batch", {"documents": documents})
    acknowledged = time.perf_counter() - started
    assert response.status_code == 202, response.text
    assert acknowledged < 1.0
    location = response.headers["Location"]
    body = response.json()
    assert location == f"/v1/jobs/{body['id']}"
    assert [d["id"] for d in body["documents"]] == [d["id"] for d in documents]
    assert body["status"] in ("queued", "running") and body["finished"] is None
    job = wait_job(writable_server, location)
    assert job["status"] == "done" and job["counts"]["done"] == 40
    made = job["documents"][7]["document"]
    stored = requests.get(writable_server.url + "/v1/documents/" + documents[7]["id"], timeout=10).json()
    assert [p["passage_id"] for p in made["passages"]] == [p["passage_id"] for p in stored["passages"]]
    lead = documents[7]["text"].splitlines()[0]  # no other document has this city and this project
    hits = requests.get(writable_server.url + "/v1/search", params={"q": lead, "k": 1}, timeout=30)
    assert hits.status_code == 200, hits.text
    assert hits.json()["results"][0]["doc_id"] == documents[7]["id"]


def test_a_document_over_the_synchronous_size_is_queued_and_written(writable_server):
    from service.validation import SYNC_DOCUMENT_MAX_CHARS

    paragraph = "Алматыда жаңа кітапхана ашылды, онда оқырмандарға арналған үлкен залдар бар."
    text = "\n".join(f"{paragraph} Бөлім {i}." for i in range(SYNC_DOCUMENT_MAX_CHARS // len(paragraph) + 2))
    assert len(text) > SYNC_DOCUMENT_MAX_CHARS
    response = post(writable_server, "/v1/documents", {"id": "long-report", "text": text})
    assert response.status_code == 202, response.text
    job = wait_job(writable_server, response.headers["Location"])
    assert job["status"] == "done"
    assert len(job["documents"][0]["document"]["passages"]) > 100
    small = post(writable_server, "/v1/documents", {"id": "short-note", "text": paragraph})
    assert small.status_code == 201  # small writes stay synchronous


def test_writes_of_a_document_with_a_queued_write_are_ordered_after_it(writable_server):
    batch = news_documents(30, prefix="order")
    last = batch[-1]["id"]
    queued = post(writable_server, "/v1/documents/batch", {"documents": batch})
    assert queued.status_code == 202
    replacement = {"id": last, "text": "Жаңартылған мәтін: ауа райы туралы қысқа хабар."}
    replaced = post(writable_server, "/v1/documents", replacement)
    assert replaced.status_code == 202, "a replace of a document with a queued write must queue behind it"
    deleted = requests.delete(writable_server.url + f"/v1/documents/{batch[-2]['id']}", headers=WRITE_AUTH, timeout=10)
    assert deleted.status_code == 202
    for response in (queued, replaced, deleted):
        assert wait_job(writable_server, response.headers["Location"])["status"] == "done"
    stored = requests.get(writable_server.url + f"/v1/documents/{last}", timeout=10).json()
    assert stored["passages"][0]["text"] == replacement["text"]
    assert requests.get(writable_server.url + f"/v1/documents/{batch[-2]['id']}", timeout=10).status_code == 404
    job = requests.get(writable_server.url + deleted.headers["Location"], timeout=10).json()
    assert job["documents"] == [
        {"id": batch[-2]["id"], "op": "delete", "status": "done", "document": None, "deleted": True, "error": None}
    ]


def test_a_document_that_cannot_be_indexed_fails_with_its_reason_and_the_rest_are_written(writable_server):
    menu_only = (ROOT / "tests" / "assets" / "news" / "menu-only.html").read_text("utf-8")
    body = {"documents": [{"id": "menu-page", "html": menu_only}, *news_documents(2, prefix="beside")]}
    job = wait_job(writable_server, post(writable_server, "/v1/documents/batch", body).headers["Location"])
    assert job["status"] == "failed"
    assert job["counts"] == {"queued": 0, "running": 0, "done": 2, "failed": 1}
    failed = job["documents"][0]
    assert failed["status"] == "failed" and failed["document"] is None
    assert failed["error"] == "no article text could be extracted from the page"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"documents": []}, 400, "documents"),
        ({"documents": [{"id": "x"}]}, 400, "text and html"),
        ({"documents": [{"id": "..", "text": "a"}]}, 400, "document id"),
        ({"documents": [{"text": "a"}] * 1001}, 400, "1000"),
        ({"docs": []}, 400, "unknown field"),
    ],
)
def test_a_bad_batch_is_refused_whole_and_queues_nothing(writable_server, body, status, says):
    response = post(writable_server, "/v1/documents/batch", body)
    assert response.status_code == status
    assert says in response.json()["error"]["message"]


def test_batches_and_jobs_need_what_other_writes_and_reads_need(writable_server):
    anonymous = requests.post(writable_server.url + "/v1/documents/batch", json={"documents": []}, timeout=10)
    assert anonymous.status_code == 401
    for job_id, status in (("job-1", 400), ("job-" + "0" * 20, 404)):
        response = requests.get(writable_server.url + f"/v1/jobs/{job_id}", timeout=10)
        assert response.status_code == status and response.json()["error"]["message"]


def test_a_job_interrupted_by_kill_9_is_finished_after_a_restart_without_loss_or_double(seed_index_dir, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir, symlinks=True)

    def start() -> ServerProcess:
        return ServerProcess(index_dir, tmp_path / f"server-{time.monotonic_ns()}.log", RETRIEVAL_API_KEY=WRITE_KEY)

    server = start().wait_ready()
    seed_documents = requests.get(server.url + "/health", timeout=10).json()["documents"]
    documents = news_documents(80, prefix="killed")
    location = post(server, "/v1/documents/batch", {"documents": documents}).headers["Location"]
    try:
        deadline = time.monotonic() + 120
        while requests.get(server.url + location, timeout=10).json()["counts"]["done"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        server.stop(signal.SIGKILL)
        server = start().wait_ready()
        job = wait_job(server, location)
    finally:
        server.stop()
    assert job["status"] == "done" and job["counts"]["done"] == len(documents)
    server = start().wait_ready()  # a third start: the counts as a new process reads them
    try:
        health = requests.get(server.url + "/health", timeout=10).json()
        listed = requests.get(server.url + "/v1/documents", params={"limit": 200}, timeout=10).json()
    finally:
        server.stop()
    assert health["documents"] == seed_documents + len(documents)
    assert sorted(d["id"] for d in listed["documents"] if d["id"].startswith("killed")) == sorted(
        d["id"] for d in documents
    )
    by_id = {d["id"]: d["passages"] for d in listed["documents"]}
    assert all(by_id[d["id"]] == len(d["document"]["passages"]) for d in job["documents"])
