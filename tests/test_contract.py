"""The exact contract, in-process: what the spec says is what the server enforces, and every
refusal is the documented JSON error with the right status."""

from __future__ import annotations

import json
import re
import sys

import pytest

from embeddings.search import GROUPS, MAX_K, MAX_PASSAGES_PER_ARTICLE, NOT_BLANK, SORTS
from embeddings.search import MAX_OFFSET as MAX_SEARCH_OFFSET
from service.validation import MAX_FILTER_DOCUMENTS, SAFE_INTEGER

KEY = {"Authorization": "Bearer contract-key"}


@pytest.fixture
def writable(index_copy, encoder, monkeypatch):
    from embeddings.search import Searcher
    from service import create_app

    monkeypatch.setenv("RETRIEVAL_API_KEY", "contract-key")
    return create_app(searcher=Searcher.open(index_copy, encoder)).test_client()


def _refused(answer, field: str) -> None:
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["error"]["code"] in ("invalid_request", "invalid_json") and field in body["error"]["message"]


@pytest.mark.parametrize("doc_id", [".", "..", ".hidden", "evil\n", "a b", "Қазақ", "x" * 129])
def test_document_ids_follow_one_anchored_pattern(writable, doc_id):
    _refused(writable.post("/v1/documents", json={"id": doc_id, "text": "Мәтін."}, headers=KEY), "id")


def test_a_path_that_cannot_be_an_id_is_a_400_not_a_404(writable):
    _refused(writable.get("/v1/documents/.hidden"), "document id")
    _refused(writable.get("/v1/passages/no-ordinal"), "passage id")
    assert writable.get("/v1/documents/no-such-doc").status_code == 404


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309"])
def test_numbers_are_finite_on_get_and_post(client, value):
    _refused(client.get("/v1/search", query_string={"q": "Астана", "min_score": value}), "min_score")
    answer = client.post(
        "/v1/search", data=f'{{"query": "Астана", "min_score": {value}}}', content_type="application/json"
    )
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] in ("invalid_json", "invalid_request")


@pytest.mark.parametrize("k", ["5_0", "+5", " 5", "٥", "5.0"])
def test_integer_parameters_are_plain_digits(client, k):
    _refused(client.get("/v1/search", query_string={"q": "Астана", "k": k}), "k")


@pytest.mark.parametrize("k", [True, "5", 5.5])
def test_an_integer_field_is_a_json_number(client, k):
    _refused(client.post("/v1/search", json={"query": "Астана", "k": k}), "k")


def test_an_integral_number_is_an_integer_in_a_json_body(client):
    """JSON Schema counts 5.0 as an integer, so the spec allows it: the server does too."""
    answer = client.post("/v1/search", json={"query": "Астана", "k": 5.0, "ef_search": 64.0})
    assert answer.status_code == 200 and len(answer.get_json()["results"]) == 5
    _refused(client.post("/v1/search", json={"query": "Астана", "k": 5.5}), "k")


def test_a_repeated_parameter_is_refused_not_guessed(client):
    _refused(client.get("/v1/search?q=Астана&lang=kk&lang=ru"), "lang")


@pytest.mark.parametrize(
    "query", ["lang=", "lang=kk,,ru", "lang=kk,", "documents=", "documents=a,,b"], ids=lambda q: q or "empty"
)
def test_a_list_parameter_has_no_empty_item(client, query):
    """The spec's patterns allow none: refused, not silently dropped (GET /v1/documents?lang= too)."""
    _refused(client.get(f"/v1/search?q=Астана&{query}"), query.partition("=")[0])


def test_an_empty_language_is_not_a_filter(client):
    _refused(client.get("/v1/documents?lang="), "language")


def test_filters_and_queries_have_bounds(client):
    ids = [f"d{i}" for i in range(MAX_FILTER_DOCUMENTS + 1)]
    _refused(client.post("/v1/search", json={"query": "Астана", "documents": ids}), "documents")
    _refused(client.post("/v1/search", json={"query": "   "}), "query")
    _refused(client.post("/v1/search", json={"query": "Астана", "lang": ["de"]}), "lang")


def test_a_405_says_which_methods_are_allowed(client):
    answer = client.put("/v1/search")
    assert answer.status_code == 405 and answer.get_json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in answer.headers["Allow"].split(",")} >= {"GET", "POST"}


def test_the_spec_states_the_bounds_the_server_enforces(client):
    spec = client.get("/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/v1/search"]["get"]["parameters"]}
    assert params["q"]["pattern"] == NOT_BLANK and params["lang"]["pattern"].startswith("^(kk|ru|en|other)")
    assert "pattern" in params["documents"] and params["k"]["type"] == "integer"
    body = spec["components"]["schemas"]["SearchRequest"]["properties"]
    assert body["query"]["pattern"] == NOT_BLANK and body["documents"]["anyOf"][0]["maxItems"] == MAX_FILTER_DOCUMENTS
    assert _not_null(spec["components"]["schemas"]["DocumentIn"]["properties"]["text"])["pattern"] == NOT_BLANK
    # A batch query's id is echoed back exactly: only integers that a JSON double holds exactly.
    id_forms = spec["components"]["schemas"]["BatchQuery"]["properties"]["id"]["anyOf"]
    number_id = next(form for form in id_forms if form.get("type") == "integer")
    assert (number_id["minimum"], number_id["maximum"]) == (-SAFE_INTEGER, SAFE_INTEGER)
    doc_path = spec["paths"]["/v1/documents/{doc_id}"]["get"]["parameters"][0]["schema"]
    assert doc_path["pattern"].startswith("^[A-Za-z0-9_")
    # Every bound is a JSON Schema keyword (pydantic's own ge/le names would be ignored by clients).
    assert '"ge"' not in json.dumps(spec) and '"le"' not in json.dumps(spec)
    for schema in (params, {name: _not_null(value) for name, value in body.items()}):
        assert (schema["k"]["minimum"], schema["k"]["maximum"]) == (1, MAX_K)
        assert (schema["offset"]["minimum"], schema["offset"]["maximum"]) == (0, MAX_SEARCH_OFFSET)
        assert schema["passages_per_article"]["maximum"] == MAX_PASSAGES_PER_ARTICLE
        assert schema["sort"]["enum"] == list(SORTS)
        group = schema["group"]
        assert group.get("enum", [group.get("const")]) == list(GROUPS)
        for name in ("date_from", "date_to"):
            assert schema[name]["format"] == "date" and schema[name]["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def test_blank_means_the_same_to_the_spec_and_the_server(client):
    """The spec's "not blank" pattern spells out its whitespace (a regex engine's \\s differs between
    languages): every character that Python's str.strip() removes, and nothing else, is blank."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert all(not re.search(NOT_BLANK, space) for space in spaces) and re.search(NOT_BLANK, "\u200b")
    for space in ("\x1e", "\u3000", "\x85"):
        _refused(client.post("/v1/search", json={"query": f"{space} {space}"}), "query")


def _not_null(schema: dict) -> dict:
    """The non-null branch of an optional field's schema."""
    branches = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    return branches[0]


def test_a_full_disk_is_a_507_naming_its_kind_health_degrades_and_nothing_is_half_written(
    index_copy, encoder, monkeypatch
):
    from embeddings.search import Searcher
    from service import create_app

    monkeypatch.setenv("RETRIEVAL_API_KEY", "contract-key")
    searcher = Searcher.open(index_copy, encoder)
    client = create_app(searcher=searcher).test_client()
    conn = searcher.index.store.conn()  # this thread's connection: the one the write below uses
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL, as on a full disk
    text = "\n".join(
        f"Астанада {i}-ші жаңа ғимарат салынып жатыр, құрылысшылар жұмысты жалғастыруда." for i in range(200)
    )
    answer = client.post("/v1/documents", json={"id": "big", "text": text}, headers=KEY)
    assert answer.status_code == 507, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == "storage_full" and "/" not in error["message"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded" and health["problem"] == "storage_full"
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert client.get("/v1/documents/big").status_code == 404  # the failed write left nothing behind
    assert client.post("/v1/documents", json={"id": "big", "text": text}, headers=KEY).status_code == 201
    health = client.get("/health").get_json()
    assert health["status"] == "ok" and health["problem"] is None  # writes are taken again


def test_health_degrades_when_the_disk_under_the_index_is_read_only_or_almost_full(app, monkeypatch):
    import os

    from embeddings import index as index_mod

    real = os.statvfs

    def disk(flag: int = 0, free_blocks: int | None = None):
        def statvfs(path):
            got = real(path)
            values = list(got)
            values[8] = got.f_flag | flag  # f_flag
            if free_blocks is not None:
                values[4] = free_blocks  # f_bavail
            return os.statvfs_result(values)

        return statvfs

    client = app.test_client()
    assert client.get("/health").get_json()["status"] == "ok"
    monkeypatch.setattr(index_mod.os, "statvfs", disk(flag=os.ST_RDONLY))
    health = client.get("/health").get_json()
    assert (health["status"], health["problem"]) == ("degraded", "storage_read_only")
    monkeypatch.setattr(index_mod.os, "statvfs", disk(free_blocks=1))
    health = client.get("/health").get_json()
    assert (health["status"], health["problem"]) == ("degraded", "storage_full")
    assert health["jobs"] == {"queued": 0, "running": 0}
