"""The full HTTP service against real gunicorn processes: every route and error, auth, limits,
request ids and logs, OpenAPI, metrics, and writes that are durable and visible across workers."""

from __future__ import annotations

import re
import signal
import time

import orjson
import pytest
import requests
from openapi_spec_validator import validate

from service.process import ServerProcess
from service.validation import MAX_BATCH_CHARS
from tests.conftest import WRITE_AUTH, WRITE_KEY

KEY, AUTH = WRITE_KEY, WRITE_AUTH
KOCHANOVA_KK = "000_51035c6eea1197a6:0"  # Koshanov met Lukashenko, Sergeenko and Kochanova in Minsk
KOCHANOVA_RU = "003_50027884f20b3e6f:6"  # Ashimbaev discussed cooperation with Kochanova
RUSTAMI_KK = "001_fdb75db5e4a0ae0c:0"  # Koshanov met Rustami Emomali in Astana
RUSTAMI_RU = "003_50027884f20b3e6f:5"  # Ashimbaev met Rustami Emomali
NEW_DOC = {
    "id": "weather-astana",
    "title": "Погода",
    "date": "2026-03-01",
    "text": "В Астане ожидается сильный снегопад и метель.\nСиноптики советуют не выезжать за город.",
}


@pytest.fixture(scope="module")
def server(writable_server):
    return writable_server


def fresh_get(url: str, **kwargs) -> requests.Response:
    """A request on a new connection, so successive calls spread over the worker processes."""
    with requests.Session() as session:
        return session.get(url, timeout=30, headers={"Connection": "close"}, **kwargs)


def error_of(response) -> dict:
    """The JSON error of a requests or a Flask test-client response, checked for its shape."""
    body = response.get_json() if hasattr(response, "get_json") else response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


# --- reading ------------------------------------------------------------------------------------


def test_batch_search_answers_in_order_with_ids(live_server):
    queries = [
        {"id": "a", "query": "Lukashenko trade with Kazakhstan", "k": 2},
        {"id": 7, "query": "Рустами Эмомали", "k": 3, "lang": ["ru"]},
        {"query": "Лондон", "k": 1},
    ]
    response = requests.post(live_server.url + "/v1/search/batch", json={"queries": queries}, timeout=60)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["a", 7, None]
    assert [len(r["results"]) for r in results] == [2, 3, 1]
    assert {x["lang"] for x in results[1]["results"]} == {"ru"}
    single = requests.get(live_server.url + "/v1/search", params={"q": queries[0]["query"], "k": 2}, timeout=30)
    assert [x["passage_id"] for x in results[0]["results"]] == [x["passage_id"] for x in single.json()["results"]]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"queries": []}, "queries"),
        ({"queries": [{"query": "x"}] * 257}, "queries"),
        ({"queries": [{"query": "x"}, {"query": " "}]}, "queries.1.query: must not be empty or blank"),
        ({"queries": [{"query": "x", "lang": ["xx"]}]}, "xx"),
        ({"queries": [{"query": "x", "top": 1}]}, "unknown field(s): queries.0.top"),
        ({"q": []}, "unknown field(s): q"),
    ],
)
def test_bad_batches_are_refused(client, body, fragment):
    response = client.post("/v1/search/batch", json=body)
    assert response.status_code == 400 and fragment in error_of(response)["message"]


def test_a_batch_is_bounded_by_its_text_before_any_work(client):
    """MAX_BATCH_CHARS characters of queries in all: at the limit answered, one over it a 413 that
    names the limit (the OpenAPI spec says so too)."""
    question = "Лукашенко торговля " * 110  # 2,090 characters: 8 slices of 2,000 make the limit
    fits = [{"query": question[: MAX_BATCH_CHARS // 8]} for _ in range(8)]
    assert client.post("/v1/search/batch", json={"queries": fits}).status_code == 200
    over = [*fits, {"query": "x"}]
    response = client.post("/v1/search/batch", json={"queries": over})
    assert response.status_code == 413 and f"{MAX_BATCH_CHARS:,}" in error_of(response)["message"]
    spec = client.get("/openapi.json").get_json()
    assert (
        f"{MAX_BATCH_CHARS:,}"
        in spec["components"]["schemas"]["BatchSearchRequest"]["properties"]["queries"]["description"]
    )


def test_a_passage_with_its_document_and_neighbours(live_server):
    body = requests.get(live_server.url + "/v1/passages/000_51035c6eea1197a6:1", timeout=10).json()
    assert body["doc_id"] == "000_51035c6eea1197a6" and body["ordinal"] == 1 and body["lang"] == "kk"
    assert body["previous"] == "000_51035c6eea1197a6:0" and body["next"] == "000_51035c6eea1197a6:2"
    assert body["date"] == "2026-02-06" and body["text"]
    first = requests.get(live_server.url + "/v1/passages/000_51035c6eea1197a6:0", timeout=10).json()
    assert first["previous"] is None
    missing = requests.get(live_server.url + "/v1/passages/nope:3", timeout=10)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


@pytest.mark.parametrize(("source", "target"), [(KOCHANOVA_KK, KOCHANOVA_RU), (RUSTAMI_KK, RUSTAMI_RU)])
def test_related_finds_the_russian_paragraph_that_says_the_same(live_server, source, target):
    body = requests.get(live_server.url + f"/v1/passages/{source}/related", params={"lang": "ru"}, timeout=30).json()
    assert body["results"][0]["passage_id"] == target
    assert {r["lang"] for r in body["results"]} == {"ru"}
    margins = [r["margin"] for r in body["results"]]
    assert margins == sorted(margins, reverse=True) and len(margins) == 5


def test_related_defaults_to_the_other_languages(live_server):
    body = requests.get(live_server.url + f"/v1/passages/{KOCHANOVA_RU}/related?k=3", timeout=30).json()
    assert len(body["results"]) == 3 and {r["lang"] for r in body["results"]} == {"kk"}
    bad = requests.get(live_server.url + f"/v1/passages/{KOCHANOVA_RU}/related?k=0", timeout=30)
    assert bad.status_code == 400
    bad_lang = requests.get(live_server.url + f"/v1/passages/{KOCHANOVA_RU}/related?lang=fr", timeout=30)
    assert bad_lang.status_code == 400 and "fr" in error_of(bad_lang)["message"]


def test_documents_are_listed_a_page_at_a_time(client):
    page = client.get("/v1/documents", query_string={"limit": 2, "offset": 1}).get_json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [d["id"] for d in page["documents"]] == ["001_fdb75db5e4a0ae0c", "002_6b6f623981be19cf"]
    ru = client.get("/v1/documents", query_string={"lang": "ru"}).get_json()
    assert ru["total"] == 1 and ru["documents"][0]["id"] == "003_50027884f20b3e6f"
    for params in ({"limit": 0}, {"limit": 1000}, {"offset": -1}, {"lang": "fr"}, {"lang": ""}, {"page": 2}):
        assert client.get("/v1/documents", query_string=params).status_code == 400


def test_a_document_with_its_passages_in_order(live_server):
    doc = requests.get(live_server.url + "/v1/documents/003_50027884f20b3e6f", timeout=10).json()
    assert doc["lang"] == "ru" and doc["date"] == "2025-11-14"
    assert [p["ordinal"] for p in doc["passages"]] == list(range(len(doc["passages"])))
    assert requests.get(live_server.url + "/v1/documents/none", timeout=10).status_code == 404


# --- writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": KEY}, {"Authorization": "Basic " + KEY}, {"Authorization": "Bearer wrong"},
     {"Authorization": "Bearer " + KEY + "x"}, {"Authorization": "Bearer"}],
    ids=["missing", "no-scheme", "basic", "wrong", "longer", "empty"],
)  # fmt: skip
def test_writes_without_the_right_key_are_401_and_say_nothing_more(server, headers):
    posted = requests.post(server.url + "/v1/documents", json=NEW_DOC, headers=headers, timeout=30)
    deleted = requests.delete(server.url + "/v1/documents/000_51035c6eea1197a6", headers=headers, timeout=30)
    for response in (posted, deleted):
        assert response.status_code == 401
        assert error_of(response) == {
            "code": "unauthorized",
            "message": "a valid API key is required: Authorization: Bearer <key>",
        }


def test_writes_are_403_when_the_server_has_no_key(live_server):
    response = requests.post(live_server.url + "/v1/documents", json=NEW_DOC, headers=AUTH, timeout=30)
    assert response.status_code == 403 and "RETRIEVAL_API_KEY" in error_of(response)["message"]


def test_a_document_added_is_visible_in_every_worker_and_can_be_replaced_and_deleted(server):
    created = requests.post(server.url + "/v1/documents", json=NEW_DOC, headers=AUTH, timeout=60)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "weather-astana" and body["lang"] == "ru" and body["replaced"] is False
    assert body["passages"][0]["passage_id"] == "weather-astana:0"

    # Within one second, every worker answers with the new document.
    deadline = time.monotonic() + 1.0
    seen_processes, hits = set(), 0
    while time.monotonic() < deadline or len(seen_processes) < 2:
        health = fresh_get(server.url + "/health").json()
        seen_processes.add(health["process"])
        assert health["documents"] == 6
        found = fresh_get(server.url + "/v1/search", params={"q": "снегопад в Астане", "k": 1}).json()
        assert found["results"][0]["doc_id"] == "weather-astana"
        hits += 1
        assert hits < 200, "requests never reached a second worker"
    assert len(seen_processes) == 2

    replaced = requests.post(
        server.url + "/v1/documents", json=NEW_DOC | {"text": "Қазір Астанада күн ашық."}, headers=AUTH, timeout=60
    )
    assert replaced.status_code == 201 and replaced.json()["replaced"] is True and replaced.json()["lang"] == "kk"
    for _ in range(6):
        doc = fresh_get(server.url + "/v1/documents/weather-astana").json()
        assert doc["lang"] == "kk" and len(doc["passages"]) == 1

    assert requests.delete(server.url + "/v1/documents/weather-astana", headers=AUTH, timeout=30).status_code == 204
    for _ in range(6):
        assert fresh_get(server.url + "/v1/documents/weather-astana").status_code == 404
        results = fresh_get(server.url + "/v1/search", params={"q": "Астана күн ашық", "k": 20}).json()["results"]
        assert all(r["doc_id"] != "weather-astana" for r in results)
    again = requests.delete(server.url + "/v1/documents/weather-astana", headers=AUTH, timeout=30)
    assert again.status_code == 404


def test_a_document_without_an_id_is_named_by_its_text(server):
    text = {"text": "Алматыда жаңа метро бекеті ашылды. Бекет қала тұрғындарына ыңғайлы болмақ."}
    first = requests.post(server.url + "/v1/documents", json=text, headers=AUTH, timeout=60).json()
    second = requests.post(server.url + "/v1/documents", json=text, headers=AUTH, timeout=60).json()
    assert first["id"] == second["id"] and first["id"].startswith("doc-") and second["replaced"] is True
    assert requests.delete(server.url + f"/v1/documents/{first['id']}", headers=AUTH, timeout=30).status_code == 204


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": ""}, "text"),
        ({"text": "Сурет: кто-то"}, "empty after cleaning"),
        ({"id": "bad id/x", "text": "Текст документа."}, "document id"),
        ({"text": "Текст", "date": "yesterday"}, "date"),
        ({"text": "Текст", "lang": "de"}, "lang"),
        ({"text": "Текст", "author": "me"}, "unknown field(s): author"),
        ({"text": 5}, "text"),
    ],
)
def test_bad_documents_are_refused(server, body, fragment):
    response = requests.post(server.url + "/v1/documents", json=body, headers=AUTH, timeout=30)
    assert response.status_code == 400 and fragment in error_of(response)["message"]


def test_an_acknowledged_write_survives_kill_9(seed_index_dir, tmp_path):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir, symlinks=True)
    first = ServerProcess(index_dir, tmp_path / "a.log", RETRIEVAL_API_KEY=KEY, WORKERS="1").wait_ready()
    try:
        created = requests.post(first.url + "/v1/documents", json=NEW_DOC, headers=AUTH, timeout=60)
        assert created.status_code == 201
        deleted = requests.delete(first.url + "/v1/documents/002_6b6f623981be19cf", headers=AUTH, timeout=30)
        assert deleted.status_code == 204
    finally:
        first.stop(signal.SIGKILL)  # no chance to flush or close anything
    second = ServerProcess(index_dir, tmp_path / "b.log", RETRIEVAL_API_KEY=KEY, WORKERS="1").wait_ready()
    try:
        assert requests.get(second.url + "/v1/documents/weather-astana", timeout=10).status_code == 200
        assert requests.get(second.url + "/v1/documents/002_6b6f623981be19cf", timeout=10).status_code == 404
        assert requests.get(second.url + "/health", timeout=10).json()["documents"] == 5
    finally:
        second.stop()


# --- limits -------------------------------------------------------------------------------------


def test_body_limits_are_413(server):
    big_search = b'{"query": "' + b"x" * (1 << 20) + b'"}'
    response = requests.post(
        server.url + "/v1/search", data=big_search, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    # Document writes may be up to 10 MiB: 2 MiB passes the size check (and fails as bad JSON).
    mid = b"{" + b" " * (2 << 20)
    response = requests.post(
        server.url + "/v1/documents", data=mid, headers=AUTH | {"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    huge = b"{" + b" " * (11 << 20)
    response = requests.post(
        server.url + "/v1/documents", data=huge, headers=AUTH | {"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413


def test_query_and_k_limits(client):
    long = client.get("/v1/search", query_string={"q": "x" * 2001})
    assert long.status_code == 400 and "2000" in error_of(long)["message"]
    ok = client.get("/v1/search", query_string={"q": "ы" * 2000, "k": 1})
    assert ok.status_code == 200
    big_k = client.post("/v1/search", json={"query": "x", "k": 101})
    assert big_k.status_code == 400


# --- request ids, logs, OpenAPI, metrics --------------------------------------------------------


def test_request_ids_are_returned_honoured_and_logged(live_server):
    generated = requests.get(live_server.url + "/health", timeout=10).headers["X-Request-ID"]
    assert len(generated) == 32
    mine = requests.get(live_server.url + "/health", headers={"X-Request-ID": "client-42.a"}, timeout=10)
    assert mine.headers["X-Request-ID"] == "client-42.a"
    hostile = requests.get(live_server.url + "/health", headers={"X-Request-ID": "a b<script>"}, timeout=10)
    assert hostile.headers["X-Request-ID"] != "a b<script>" and len(hostile.headers["X-Request-ID"]) == 32
    assert mine.headers["X-Content-Type-Options"] == "nosniff"
    time.sleep(0.2)
    lines = [orjson.loads(line) for line in live_server.log().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("request_id") == "client-42.a"]
    assert logged and logged[0]["path"] == "/health" and logged[0]["status"] == 200


def test_openapi_is_valid_and_describes_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <doc:doc_id> -> {doc_id}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == described
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                assert any(status.startswith("4") for status in op["responses"]), (path, method)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["Content-Type"]
    assert all(path in docs.get_data(as_text=True) for path in spec["paths"])


def test_metrics_count_requests_latency_index_size_and_encode_time(live_server):
    for _ in range(3):
        requests.get(live_server.url + "/v1/search", params={"q": "Минск", "k": 1}, timeout=30)
    requests.get(live_server.url + "/v1/documents/none", timeout=10)
    text = requests.get(live_server.url + "/metrics", timeout=10).text
    assert 'retrieval_requests_total{method="GET",route="/v1/search",status="200"}' in text
    assert 'route="/v1/documents/<doc_id>",status="404"' in text
    assert 'retrieval_request_seconds_bucket{le="0.05",route="/v1/search"}' in text
    assert 'retrieval_encode_seconds_count{kind="query"}' in text
    passages = [line for line in text.splitlines() if line.startswith("retrieval_index_passages")]
    assert passages and float(passages[0].split()[-1]) > 40
