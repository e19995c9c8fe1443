"""Security: who may write, what the responses tell a browser, how big a request may be, and where
the server listens."""

from __future__ import annotations

import ast
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from service.process import ROOT
from tests.reliability import summary
from tests.reliability.helpers import AUTH, KEY, check_error, raw_request

SERVICE = ROOT / "service"
DOC = {"id": "security-probe", "text": "Проверка доступа к записи в индекс."}

BAD_AUTHORIZATION = {
    "missing": None,
    "empty": "",
    "scheme-only": "Bearer",
    "scheme-and-space": "Bearer ",
    "no-scheme": KEY,
    "basic": "Basic " + base64.b64encode(f"user:{KEY}".encode()).decode(),
    "token-scheme": "Token " + KEY,
    "wrong-same-length": "Bearer " + "x" * len(KEY),
    "wrong-first-char": "Bearer " + chr(ord(KEY[0]) + 1) + KEY[1:],
    "wrong-last-char": "Bearer " + KEY[:-1] + chr(ord(KEY[-1]) + 1),
    "prefix": "Bearer " + KEY[:-1],
    "longer": "Bearer " + KEY + "0",
    "twice": f"Bearer {KEY} {KEY}",
    "8k": "Bearer " + "k" * 8000,  # a longer header line is refused before the app (431), see below
    "latin1": "Bearer ключ".encode().decode("latin-1"),
}


def _probe(url: str, authorization: str | None) -> list[requests.Response]:
    headers = {} if authorization is None else {"Authorization": authorization}
    return [
        requests.post(url + "/v1/documents", json=DOC, headers=headers, timeout=60),
        requests.delete(url + "/v1/documents/000_51035c6eea1197a6", headers=headers, timeout=60),
        # A broken body must not be judged before the key: 401, never a 400 that says what is wrong.
        requests.post(url + "/v1/documents", data=b"{", headers=headers | {"Content-Type": "application/json"}),
    ]


def test_writes_refuse_every_bad_key_with_the_same_answer(rel_server):
    answers = {}
    for name, authorization in BAD_AUTHORIZATION.items():
        for response in _probe(rel_server.url, authorization):
            assert response.status_code == 401, (name, response.status_code, response.text[:200])
            check_error(response)
            answers.setdefault((response.status_code, response.content, response.headers.get("WWW-Authenticate")), [])
            answers[(response.status_code, response.content, response.headers.get("WWW-Authenticate"))].append(name)
    # One answer for all: nothing tells a missing key from a malformed one or a wrong one.
    assert len(answers) == 1, answers
    # NUL and control bytes in the header: refused by gunicorn or the app, never accepted.
    for value in (
        b"Bearer " + KEY.encode() + b"\x00",
        b"Bearer \x00" + KEY.encode(),
        b"Bearer\t" + KEY.encode() + b"x",
    ):
        request = b"DELETE /v1/documents/000_51035c6eea1197a6 HTTP/1.1\r\nHost: t\r\nAuthorization: " + value
        status, _, _ = raw_request(rel_server.port, request + b"\r\nConnection: close\r\n\r\n")
        assert status in (400, 401), (value, status)
    huge = requests.delete(rel_server.url + "/v1/documents/x", headers={"Authorization": "Bearer " + "k" * 100_000})
    assert huge.status_code == 431
    assert requests.get(rel_server.url + "/v1/documents/000_51035c6eea1197a6", timeout=30).status_code == 200
    summary.record(
        "security",
        "write authorisation",
        f"{len(BAD_AUTHORIZATION)} malformed/wrong keys x POST, DELETE, POST with a broken body: "
        "all 401 with one identical body; the key is checked before the body; NUL/TAB in the header and "
        "a 100 kB header refused",
    )


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name)


def test_the_key_is_compared_in_constant_time():
    """A wrong key must take as long to refuse whichever character is wrong: the comparison is
    hmac.compare_digest on bytes, and the key never meets ==, !=, startswith or a dict lookup."""
    source = (SERVICE / "auth.py").read_text(encoding="utf-8")
    guard = _function(ast.parse(source), "guarded")
    calls = [node for node in ast.walk(guard) if isinstance(node, ast.Call)]
    compared = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "compare_digest"]
    assert compared, "the key is not compared with hmac.compare_digest"
    secret_names = {"expected", "given"}
    for node in ast.walk(guard):
        if isinstance(node, ast.Compare) and not all(isinstance(op, ast.Is | ast.IsNot) for op in node.ops):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not names & secret_names, f"the key meets a plain comparison: {ast.unparse(node)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in {"startswith", "endswith", "find", "index", "count"}:
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & secret_names, f"the key meets a short-circuit test: {ast.unparse(node)}"
    # compare_digest refuses str with non-ASCII characters (TypeError, a 500); bytes never.
    for call in compared:
        for arg in call.args:
            assert isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "encode", ast.unparse(arg)
    summary.record("security", "key comparison", "hmac.compare_digest on UTF-8 bytes; no ==, startswith or lookup")


FILE_READERS = {"open", "send_file", "send_from_directory", "safe_join", "read_text", "read_bytes", "Path", "join"}


def test_no_route_reads_a_file_path_from_the_request(rel_server, tmp_path):
    # 1. No code in service/ passes anything from the request to a file-reading call.
    for path in sorted(SERVICE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in FILE_READERS:
                names = {n.id for arg in [*node.args, *node.keywords] for n in ast.walk(arg) if isinstance(n, ast.Name)}
                assert "request" not in names, f"{path.name}: {ast.unparse(node)}"
    # 2. The only routes that take a path are Flask's static files, confined to their folder.
    from service import create_app

    class _Stub:  # enough of a Searcher to build the app without a model
        encoder = type("E", (), {"on_encode": None})()
        index = type("I", (), {"index_dir": tmp_path, "compacted_in_process": False})()  # nothing to compact

    app = create_app(searcher=_Stub())
    with_paths = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if "<path:" in rule.rule}
    assert all(endpoint.endswith("static") for endpoint in with_paths.values()), with_paths
    # 3. Walking out of those folders fails, however it is spelled.
    secret = (SERVICE / "auth.py").read_bytes()[:200]
    for attempt in (
        "/ui/../auth.py",
        "/ui/..%2fauth.py",
        "/ui/%2e%2e/%2e%2e/service/auth.py",
        "/static/..%2f..%2fservice%2fauth.py",
        "/ui/....//auth.py",
        "/ui//etc/passwd",
        "/ui/%2fetc%2fpasswd",
        "/v1/documents/..%2f..%2f..%2fetc%2fpasswd",
        "/v1/passages/..%2f..%2fservice%2fauth.py/related",
    ):
        status, _, body = raw_request(
            rel_server.port, f"GET {attempt} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
        )
        assert status in (308, 400, 404), (attempt, status)  # 308: werkzeug merging '//' inside the folder
        assert secret not in body and b"root:" not in body, attempt
    assert requests.get(rel_server.url + "/ui/app.js", timeout=30).status_code == 200  # the folder itself serves
    summary.record(
        "security",
        "file paths",
        "no request value reaches a file call in service/; only static routes take a path; "
        "9 traversal spellings all 404",
    )


def _csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def test_security_headers_on_every_kind_of_response(rel_server):
    url = rel_server.url
    responses = {
        "page": requests.get(url + "/", timeout=30),
        "docs": requests.get(url + "/docs", timeout=30),
        "openapi": requests.get(url + "/openapi.json", timeout=30),
        "metrics": requests.get(url + "/metrics", timeout=30),
        "static": requests.get(url + "/ui/app.js", timeout=30),
        "search": requests.get(url + "/v1/search", params={"q": "Астана", "k": 1}, timeout=30),
        "400": requests.get(url + "/v1/search", params={"k": 1}, timeout=30),
        "401": requests.delete(url + "/v1/documents/x", timeout=30),
        "404": requests.get(url + "/nowhere", timeout=30),
        "405": requests.put(url + "/v1/search", timeout=30),
        "413": requests.post(
            url + "/v1/search", data=b"x" * ((1 << 20) + 1), headers={"Content-Type": "application/json"}
        ),
        "415": requests.post(url + "/v1/search", data=b"x", timeout=30),
    }
    for name, response in responses.items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert "Content-Security-Policy" in response.headers, name
        if response.status_code >= 400:
            check_error(response)
    page = _csp(responses["page"].headers["Content-Security-Policy"])
    assert page["default-src"] == ["'none'"]
    for directive, sources in page.items():
        risky = {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "'unsafe-hashes'"} & set(sources)
        assert not risky, (directive, risky)
        assert not any(s.startswith("http") for s in sources), (directive, sources)
    assert page["script-src"] == ["'self'"] and page["frame-ancestors"] == ["'none'"] and page["base-uri"] == ["'none'"]
    assert "data:" not in page.get("script-src", []) + page.get("default-src", [])
    assert _csp(responses["docs"].headers["Content-Security-Policy"])["default-src"] == ["'none'"]
    summary.record(
        "security",
        "response headers",
        f"nosniff + CSP on {len(responses)} kinds of response (page, docs, JSON, static, 4xx); the page's CSP: "
        "default-src 'none', script-src 'self', no unsafe-inline/eval, frame-ancestors 'none'",
    )


def _chunks(prefix: bytes, total: int):
    yield prefix
    sent = 0
    while sent < total:
        yield b" " * 65536
        sent += 65536


def test_request_size_limits_hold(rel_server):
    url, json_type = rel_server.url, {"Content-Type": "application/json"}
    over = '{"query": "Астана"}'.encode().ljust((1 << 20) + 1)
    assert requests.post(url + "/v1/search", data=over, headers=json_type, timeout=60).status_code == 413
    assert requests.post(url + "/v1/search/batch", data=over, headers=json_type, timeout=60).status_code == 413
    at_limit = '{"query": "Астана", "k": 1}'.encode().ljust(1 << 20)
    assert requests.post(url + "/v1/search", data=at_limit, headers=json_type, timeout=60).status_code == 200
    big_doc = b"{".ljust((10 << 20) + 1)
    assert requests.post(url + "/v1/documents", data=big_doc, headers=json_type | AUTH, timeout=60).status_code == 413
    feed = b"{".ljust((32 << 20) + 1)
    assert (
        requests.post(url + "/v1/documents/batch", data=feed, headers=json_type | AUTH, timeout=60).status_code == 413
    )
    # Without Content-Length (chunked), the same limit: a body over it is refused, not cut short
    # at the limit and read as if that were all of it.
    chunked = requests.post(
        url + "/v1/search", data=_chunks('{"query": "Астана"}'.encode(), 3 << 20), headers=json_type
    )
    summary.record(
        "security",
        "request size limits",
        "1 MiB (search, batch), 10 MiB (a document) and 32 MiB (a batch of documents) with Content-Length: 413; "
        f"a 3 MiB chunked search body: {chunked.status_code}",
        "ok" if chunked.status_code == 413 else "FAILED: a chunked body over the limit is truncated and accepted",
    )
    assert chunked.status_code == 413, chunked.text[:300]


def _bind(env: dict[str, str], tmp_path: Path) -> str:
    """gunicorn's bind address from service/gunicorn_conf.py under ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in {"HOST", "PORT"}}
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; print(runpy.run_path('service/gunicorn_conf.py')['bind'])"],
        cwd=ROOT,
        env=clean | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "127.0.0.1:8000"), ({"PORT": "9001"}, "127.0.0.1:9001"), ({"HOST": "0.0.0.0"}, "0.0.0.0:8000")],
    ids=["default", "port-only", "told-otherwise"],
)
def test_the_server_binds_to_loopback_unless_told_otherwise(env, expected, tmp_path):
    assert _bind(env, tmp_path) == expected


def test_an_empty_host_does_not_expose_the_server(tmp_path):
    """``HOST=`` (set but empty, as an env file or a container template easily leaves it) is not an
    instruction to listen everywhere; gunicorn reads ":8000" as all interfaces."""
    bind = _bind({"HOST": ""}, tmp_path)
    summary.record(
        "security",
        "bind address",
        f"default 127.0.0.1:8000; HOST=0.0.0.0 honoured; HOST='' gives {bind!r}",
        "ok" if bind.startswith("127.0.0.1:") else "FAILED: an empty HOST binds every interface",
    )
    assert bind == "127.0.0.1:8000"


def test_the_live_server_listens_on_loopback_only(rel_server):
    """The socket the test server really holds, read from the kernel: 127.0.0.1, nothing else."""
    port_hex = f"{rel_server.port:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(":" + port_hex):  # 0A: LISTEN
                listening.append(local.split(":")[0])
    assert listening == ["0100007F"], listening  # 127.0.0.1, little-endian hex
