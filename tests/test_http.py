"""The HTTP API against a real gunicorn server process."""

from __future__ import annotations

import pytest
import requests


def test_health(live_server, encoder):
    body = requests.get(live_server.url + "/health", timeout=10).json()
    assert body["status"] == "ok" and body["documents"] == 5 and body["passages"] > 40
    assert body["model"]["name"] == encoder.identity.name == "multilingual-e5-small (openvino-int8)"  # the default
    assert body["index"]["generation"] == 1


def test_search_get_and_post_answer_the_same(live_server):
    got = requests.get(
        live_server.url + "/v1/search", params={"q": "Lukashenko trade with Kazakhstan", "k": 3}, timeout=30
    )
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/json"
    body = got.json()
    assert body["query_lang"] == "en" and len(body["results"]) == 3
    assert {r["lang"] for r in body["results"]} == {"kk"}
    assert set(body["results"][0]) == {
        "rank",
        "score",
        "passage_id",
        "doc_id",
        "title",
        "date",
        "lang",
        "text",
        "highlight",
    }
    posted = requests.post(
        live_server.url + "/v1/search", json={"query": "Lukashenko trade with Kazakhstan", "k": 3}, timeout=30
    ).json()
    assert [r["passage_id"] for r in posted["results"]] == [r["passage_id"] for r in body["results"]]


def test_a_question_finds_paragraphs_in_both_languages(live_server):
    body = requests.get(live_server.url + "/v1/search", params={"q": "Рустами Эмомали", "k": 10}, timeout=30).json()
    assert {r["lang"] for r in body["results"]} == {"kk", "ru"}


def test_filters_over_http(live_server):
    body = requests.post(
        live_server.url + "/v1/search",
        json={"query": "Лукашенко", "k": 5, "lang": ["ru"], "documents": ["003_50027884f20b3e6f"], "min_score": 0.5},
        timeout=30,
    ).json()
    assert body["results"] and {(r["lang"], r["doc_id"]) for r in body["results"]} == {("ru", "003_50027884f20b3e6f")}
    got = requests.get(live_server.url + "/v1/search", params={"q": "Лукашенко", "lang": "kk,ru", "k": 2}, timeout=30)
    assert got.status_code == 200 and len(got.json()["results"]) == 2


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"k": 3}, "q is required"),
        ({"q": "", "k": 3}, "empty"),
        ({"q": "x", "k": 0}, "k"),
        ({"q": "x", "k": 101}, "k"),
        ({"q": "x", "k": "ten"}, "k"),
        ({"q": "x", "lang": "kk,de"}, "unknown language"),
        ({"q": "x", "color": "red"}, "unknown parameter(s): color"),
    ],
)
def test_bad_get_requests_are_400_with_a_json_error(client, params, fragment):
    response = client.get("/v1/search", query_string=params)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and fragment in error["message"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "fragment"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "invalid_json", "not valid JSON"),
        (b'{"query": "x"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type", "application/json"),
        (b'["x"]', {"Content-Type": "application/json"}, 400, "invalid_request", "JSON object"),
        (b'{"k": 3}', {"Content-Type": "application/json"}, 400, "invalid_request", "query: is required"),
        (b'{"query": "x", "k": true}', {"Content-Type": "application/json"}, 400, "invalid_request", "k"),
        (b'{"query": "x", "k": 500}', {"Content-Type": "application/json"}, 400, "invalid_request", "k"),
        (b'{"query": "x", "lang": ["zz"]}', {"Content-Type": "application/json"}, 400, "invalid_request", "zz"),
        (
            b'{"query": "x", "top": 3}',
            {"Content-Type": "application/json"},
            400,
            "invalid_request",
            "unknown field(s): top",
        ),
    ],
)
def test_bad_post_requests_say_what_is_wrong(client, body, headers, status, code, fragment):
    response = client.post("/v1/search", data=body, headers=headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and fragment in error["message"]


def test_unknown_routes_and_methods_are_json_errors(live_server):
    missing = requests.get(live_server.url + "/v1/nothing", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = requests.delete(live_server.url + "/v1/search", timeout=10)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
