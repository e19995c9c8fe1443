"""Load: locust (headless) against the real gunicorn server on 127.0.0.1 for a bounded time.

Readers search, ask for related passages and read documents as fast as they are answered while
one writer adds a document about once a second. The run must hold with zero errors, and every
write the server acknowledged must be visible afterwards in every worker (its document readable,
its passages found by a search restricted to it, which goes through that worker's FAISS index).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.reliability import summary
from tests.reliability.helpers import KEY, fresh_get

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def run_locust(url: str, users: int, seconds: int, workdir: Path) -> tuple[dict[str, dict[str, str]], list[str], str]:
    """(stats rows by name, acknowledged write ids, locust's output)."""
    writes_log = workdir / "writes.log"
    writes_log.touch()
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "30",  # let a write in flight finish, so that an acknowledged write is never cut short
        "--host",
        url,
        "--csv",
        str(workdir / "load"),
        "--only-summary",
    ]
    env = os.environ | {"LOAD_API_KEY": KEY, "LOAD_WRITES_LOG": str(writes_log)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 180, cwd=workdir)
    output = done.stdout + done.stderr
    with open(workdir / "load_stats.csv", newline="", encoding="utf-8") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert rows, output
    return rows, writes_log.read_text().split(), output


def check_writes_visible(url: str, doc_ids: list[str]) -> None:
    for doc_id in doc_ids:
        for _ in range(2):  # new connections: the two reads may reach different workers
            doc = fresh_get(f"{url}/v1/documents/{doc_id}")
            assert doc.status_code == 200, (doc_id, doc.text)
            passages = {p["passage_id"] for p in doc.json()["passages"]}
            found = fresh_get(f"{url}/v1/search", params={"q": "заседание правительства", "documents": doc_id})
            assert {r["passage_id"] for r in found.json()["results"]} == passages, (doc_id, found.text[:300])


def _load(server, users: int, seconds: int, workdir: Path, run: str) -> None:
    rows, writes, output = run_locust(server.url, users, seconds, workdir)
    total = rows["Aggregated"]
    requests_done, failures = int(total["Request Count"]), int(total["Failure Count"])
    writes_row = rows.get("POST /v1/documents", {})
    figures = (
        f"{float(total['Requests/s']):.1f} req/s held for {seconds} s by {users} clients "
        f"({requests_done} requests, {writes_row.get('Request Count', 0)} of them writes); "
        f"p50 {total['50%']} ms, p99 {total['99%']} ms; {failures} errors; "
        f"{len(writes)} acknowledged writes checked visible"
    )
    try:
        assert failures == 0, output[-3000:]
        assert requests_done > 0 and writes, output[-3000:]
        check_writes_visible(server.url, writes)
    except AssertionError:
        summary.record("load", run, figures, "FAILED")
        raise
    summary.record("load", run, figures)
    assert server.proc.poll() is None


def test_load_mixed_reads_with_writes_quick(rel_server, tmp_path):
    _load(rel_server, users=6, seconds=12, workdir=tmp_path, run="locust, quick")


@pytest.mark.slow
@pytest.mark.reliability_full
def test_load_mixed_reads_with_writes_full(rel_server, tmp_path):
    _load(rel_server, users=10, seconds=60, workdir=tmp_path, run="locust, full")


def test_health_counts_match_after_load(rel_server):
    """The workers agree on the index size once the load is over (no worker kept a stale view)."""
    counts = {
        tuple(fresh_get(rel_server.url + "/health").json()[k] for k in ("documents", "passages")) for _ in range(6)
    }
    assert len(counts) == 1, counts
    assert requests.get(rel_server.url + "/v1/documents?limit=1", timeout=30).json()["total"] == counts.pop()[0]
