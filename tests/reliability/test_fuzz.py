"""Fuzzing the HTTP API: schemathesis over the served /openapi.json, and hand-written hostile input.

The fuzzing is the command an outside tester runs, `st run --checks all`, with our hooks
(tests/reliability/schemathesis_hooks.py): every generated request, valid by the spec or not, must
get an answer that is not a 5xx, whose status, content type, headers and body match what
/openapi.json documents (a valid request is not refused, an invalid one is, a 405 names `Allow`),
and, when it is an error, the documented JSON error shape. Writes carry the key, so the fuzzer
reaches the write path; the unauthenticated form is among schemathesis's own checks.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from service.front import NGINX
from service.process import ROOT
from tests.reliability import summary
from tests.reliability.helpers import AUTH, KEY, check_error, error_shape_problem, raw_request, served_copy

# One seed per run, printed in the summary: a failure found at random can be replayed with
# RELIABILITY_SEED=<seed>.
SEED = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
# What refuses a request that is not valid HTTP: nginx in front (make serve) or gunicorn alone.
FRONT = NGINX is not None
LONG_LINE = {414} if FRONT else {400}  # nginx's 64 KiB request line; gunicorn alone lets the app judge
REQUEST_TIMEOUT = 180  # a batch of 256 queries of 2,000 characters is slow on 2 cores, not wrong
ST = Path(sys.executable).with_name("st")


def schemathesis_run(base_url: str, examples: int, work_dir: Path) -> dict:
    """`st run --checks all` against a running server; its JSON report (with the console's end on failure)."""
    reports = work_dir / "reports"
    command = [
        str(ST), "run", base_url + "/openapi.json", "--checks", "all", "-H", f"Authorization: Bearer {KEY}",
        "--max-examples", str(examples), "--seed", str(SEED), "--request-timeout", str(REQUEST_TIMEOUT),
        "--generation-database", "none", "--no-color", "--report", "json", "--report-dir", str(reports),
    ]  # fmt: skip
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.reliability.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    # In work_dir: schemathesis keeps a cache in its working directory, which must not be the work tree.
    done = subprocess.run(command, cwd=work_dir, env=env, capture_output=True, text=True, timeout=1800)
    found = sorted(reports.glob("*.json"))
    assert found, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(found[-1].read_text())
    report["console"] = done.stdout[-6000:] if done.returncode else ""
    return report


def _run_and_check(server, work_dir: Path, examples: int, minimum: int, run: str) -> None:
    report = schemathesis_run(server.url, examples, work_dir)
    cases = report["test_cases"]
    summary.record(
        "fuzzing",
        run,
        f"st run --checks all --max-examples {examples}: {cases['generated']} cases over "
        f"{report['operations']['tested']} routes in {report['running_time']:.0f} s, "
        f"{cases['unique_failures']} failures, {cases['errored']} errors (seed {SEED})",
        "ok" if report["exit_code"] == 0 else f"FAILED: {cases['unique_failures']} failures",
    )
    assert report["operations"]["tested"] >= 15, report["operations"]  # every route, not a subset
    assert cases["generated"] >= minimum, cases
    assert report["exit_code"] == 0 and not report["failures"] and not report["errors"], report["console"]
    assert server.proc.poll() is None, "the server died under fuzzing"


@pytest.fixture(scope="module")
def fuzz_server(seed_index_dir, tmp_path_factory):
    """A server of its own: the fuzzer's stateful phase adds and deletes documents (seed ones too),
    which the load and security tests on the shared server still read."""
    yield from served_copy(seed_index_dir, tmp_path_factory.mktemp("fuzzing"))


def test_fuzz_every_route_quick(fuzz_server, tmp_path):
    _run_and_check(fuzz_server, tmp_path, examples=5, minimum=500, run="schemathesis, quick")


@pytest.mark.slow
@pytest.mark.reliability_full
def test_fuzz_every_route_full(fuzz_server, tmp_path):
    _run_and_check(fuzz_server, tmp_path, examples=100, minimum=1500, run="schemathesis, full")


# --- hand-written hostile input ------------------------------------------------------------------

JSON = {"Content-Type": "application/json"}
Q = b'{"query": "x"}'
HEALTH = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: "


def ct(content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type}


TEN_MB = 10_000_000


def _nested(depth: int) -> bytes:
    return b'{"query": ' + b"[" * depth + b"]" * depth + b"}"


# (id, method, path, requests keyword arguments, the statuses that are right). A path that cannot
# be a document or passage id is a 400, as the spec's pattern says; an id that could be, a 404.
HOSTILE = [
    ("trace", "TRACE", "/v1/search", {}, {405}),  # refused by nginx in front, answered with the route's Allow
    ("put-on-search", "PUT", "/v1/search", {}, {405}),
    ("invalid-utf8-body", "POST", "/v1/search", {"data": b'{"query": "\xff\xfe\xfd"}', "headers": JSON}, {400}),
    ("invalid-utf8-escaped-query", "GET", "/v1/search?q=%ff%fe%c0%af", {}, {200, 400}),
    ("invalid-utf8-doc-id", "GET", "/v1/documents/%ff%fe", {}, {400}),
    ("10MB-search", "POST", "/v1/search", {"data": b"x" * TEN_MB, "headers": JSON}, {413}),
    ("10MB-batch", "POST", "/v1/search/batch", {"data": b"x" * TEN_MB, "headers": JSON}, {413}),
    ("10MB-document-no-key", "POST", "/v1/documents", {"data": b"x" * TEN_MB, "headers": JSON}, {401}),
    ("10MB-document-not-json", "POST", "/v1/documents", {"data": b"x" * TEN_MB, "headers": JSON | AUTH}, {400}),
    ("nested-100k-arrays", "POST", "/v1/search", {"data": _nested(100_000), "headers": JSON}, {400}),
    (
        "nested-5k-objects",
        "POST",
        "/v1/search/batch",
        {"data": b'{"queries": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}", "headers": JSON},
        {400},
    ),
    ("nested-document", "POST", "/v1/documents", {"data": _nested(50_000), "headers": JSON | AUTH}, {400}),
    ("nul-in-json-query", "POST", "/v1/search", {"json": {"query": "Астана\u0000\u0000"}}, {200}),
    ("nul-in-query-string", "GET", "/v1/search", {"params": {"q": "a\x00b", "lang": "kk\x00"}}, {400}),
    ("nul-in-doc-id", "GET", "/v1/documents/a%00b", {}, {400}),
    ("nul-in-passage-id", "GET", "/v1/passages/a%00b:0/related", {}, {400}),
    ("nul-in-new-doc-id", "POST", "/v1/documents", {"json": {"id": "a\u0000", "text": "Т."}, "headers": AUTH}, {400}),
    # Over nginx's 64 KiB request line (service/front.py): 414; the app's 2,000-character limit fits.
    ("100k-query-get", "GET", "/v1/search", {"params": {"q": "q" * 100_000}}, LONG_LINE),
    ("100k-cyrillic-query-get", "GET", "/v1/search", {"params": {"q": "ы" * 100_000}}, LONG_LINE),
    ("100k-query-post", "POST", "/v1/search", {"json": {"query": "ы" * 100_000}}, {400}),
    ("100k-query-batch", "POST", "/v1/search/batch", {"json": {"queries": [{"query": "ы" * 100_000}]}}, {400}),
    ("100k-doc-id", "GET", "/v1/documents/" + "d" * 100_000, {}, LONG_LINE),
    *[
        (f"k={k!r}-{where}", method, path, kwargs, {400})
        for k in (-1, 0, 101, -(10**30), 10**30, 2**63, "1e9", 1.5, True, None, "5")
        for where, method, path, kwargs in (
            ("get", "GET", "/v1/search", {"params": {"q": "Астана", "k": k}}),
            ("post", "POST", "/v1/search", {"json": {"query": "Астана", "k": k}}),
            ("batch", "POST", "/v1/search/batch", {"json": {"queries": [{"query": "Астана", "k": k}]}}),
            ("related", "GET", "/v1/passages/000_51035c6eea1197a6:0/related", {"params": {"k": k}}),
        )
        # A GET parameter is text: None means "absent" (the default k) and "5" is a fine k.
        if not (where in ("get", "related") and k in (None, "5"))
    ],
    ("huge-limit", "GET", "/v1/documents", {"params": {"limit": 10**30}}, {400}),
    ("huge-offset", "GET", "/v1/documents", {"params": {"offset": 10**30}}, {400}),
    ("negative-offset", "GET", "/v1/documents", {"params": {"offset": -(10**30)}}, {400}),
    ("min-score-nan", "POST", "/v1/search", {"data": b'{"query": "x", "min_score": NaN}', "headers": JSON}, {400}),
    ("min-score-text", "GET", "/v1/search", {"params": {"q": "x", "min_score": "inf"}}, {200, 400}),
    ("content-type-text", "POST", "/v1/search", {"data": b'{"query": "x"}', "headers": ct("text/plain")}, {415}),
    ("content-type-form", "POST", "/v1/search", {"data": {"query": "x"}}, {415}),
    ("content-type-missing", "POST", "/v1/search", {"data": b'{"query": "x"}', "headers": ct("")}, {415}),
    (
        "content-type-multipart",
        "POST",
        "/v1/documents",
        {"files": {"text": ("a.txt", b"x")}, "headers": AUTH},
        {415},
    ),
    ("content-type-lookalike", "POST", "/v1/search", {"data": Q, "headers": ct("application/jsonx")}, {415}),
    ("content-type-charset", "POST", "/v1/search", {"data": Q, "headers": ct("application/json;charset=utf-8")}, {200}),
    ("json-not-object", "POST", "/v1/search", {"json": ["query", "x"]}, {400}),
    ("json-bare-string", "POST", "/v1/documents", {"json": "text", "headers": AUTH}, {400}),
    ("empty-body", "POST", "/v1/search", {"data": b"", "headers": JSON}, {400}),
    ("duplicate-keys", "POST", "/v1/search", {"data": b'{"query": "x", "query": "y", "k": 1}', "headers": JSON}, {200}),
    ("unknown-method", "PATCH", "/v1/documents/x", {}, {405}),
    ("unknown-route", "GET", "/v1/../../etc/passwd", {}, {404}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "statuses"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_request_is_refused_cleanly(rel_server, method, path, kwargs, statuses):
    response = requests.request(method, rel_server.url + path, timeout=REQUEST_TIMEOUT, **kwargs)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if response.status_code >= 400:
        check_error(response)
    if response.status_code == 405:  # RFC 9110: the methods the route takes
        assert "GET" in {m.strip() for m in response.headers["Allow"].split(",")}, response.headers


# Malformed at the HTTP level: gunicorn refuses these before the app sees them, with its own status
# and the documented JSON error (service/gunicorn_worker.py), and must never reflect an injected header.
RAW = [
    ("raw-invalid-utf8-in-line", b"GET /v1/search?q=\xff\xfe HTTP/1.1\r\nHost: t\r\n", {400}),
    ("raw-nul-in-line", b"GET /v1/search?q=a\x00b HTTP/1.1\r\nHost: t\r\n", {400}),
    ("request-id-crlf-injection", HEALTH + b"a\r\nSet-Cookie: evil=1\r\n", {200}),
    # nginx reads a bare LF as a line end, as RFC 9112 (2.2) allows: a second request header, never
    # reflected in the answer.
    ("request-id-bare-lf", HEALTH + b"a\nSet-Cookie: evil=1\r\n", {200} if FRONT else {400}),
    ("request-id-bare-cr", HEALTH + b"a\rSet-Cookie: evil=1\r\n", {400}),
    ("request-id-nul", HEALTH + b"a\x00Set-Cookie: evil=1\r\n", {400}),
    ("request-id-encoded-crlf", HEALTH + b"a%0d%0aSet-Cookie:%20evil=1\r\n", {200}),
    ("request-id-utf8", HEALTH + "ид<script>\r\n".encode(), {200}),
    ("request-id-8k", HEALTH + b"a" * 8000 + b"\r\n", {200}),
    ("request-line-2MB", b"GET /v1/search?q=" + b"a" * 2_000_000 + b" HTTP/1.1\r\nHost: t\r\n", LONG_LINE),
    ("http-version-9.9", b"GET /health HTTP/9.9\r\nHost: t\r\n", {505} if FRONT else {400}),
    ("bad-method", b"G@T /health HTTP/1.1\r\nHost: t\r\n", {400}),
    ("content-length-and-chunked", b"POST /v1/search HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n", {400}),
]  # fmt: skip


@pytest.mark.parametrize(("data", "statuses"), [c[1:] for c in RAW], ids=[c[0] for c in RAW])
def test_malformed_http_is_refused_without_header_injection(rel_server, data, statuses):
    status, headers, body = raw_request(rel_server.port, data + b"Connection: close\r\n\r\n")
    assert status in statuses, (status, body[:300])
    assert "set-cookie" not in headers and b"evil" not in body
    if status >= 400:
        assert error_shape_problem(status, headers.get("content-type"), body) is None
    request_id = headers.get("x-request-id")
    if status == 200:  # the app answered: a hostile id is replaced by one of its own
        assert request_id == "a" or (request_id is not None and len(request_id) == 32 and request_id.isalnum())
        assert headers["x-content-type-options"] == "nosniff"


def test_hostile_input_left_the_server_healthy(rel_server):
    """Runs after the cases above: the same workers still answer, nothing crashed or restarted."""
    assert rel_server.proc.poll() is None
    assert requests.get(rel_server.url + "/health", timeout=30).status_code == 200
    log = rel_server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log and "Worker (pid" not in log
    summary.record(
        "fuzzing",
        "hand-written hostile input",
        f"{len(HOSTILE)} app-level cases + {len(RAW)} malformed-HTTP cases (invalid UTF-8, 10 MB bodies, "
        "100k-deep JSON, NUL bytes, 100k-char queries, bad k, wrong content types, X-Request-ID injection)",
    )
