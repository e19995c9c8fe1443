"""The OpenAPI 3.1 description of every route, built from the same pydantic models that validate
requests (and response models written for the description)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from embeddings.search import DEFAULT_MODE, MAX_K, MAX_QUERY_CHARS, MODES
from embeddings.text import LANGUAGES
from embeddings.vector_index import MAX_EF_SEARCH
from service.validation import MAX_BATCH_QUERIES, MAX_PAGE, BatchSearchRequest, DocumentIn, SearchRequest


class Highlight(BaseModel):
    sentence: str
    start: Annotated[int, Field(description="offset into text")]
    end: int
    terms: Annotated[list[tuple[int, int]], Field(description="[start, end] of each query word found in text")]


class SearchResult(BaseModel):
    rank: int
    score: Annotated[float, Field(description="cosine (dense), BM25 (lexical) or fused rank score (hybrid)")]
    passage_id: str
    doc_id: str
    title: str
    date: str | None
    lang: str
    text: str
    highlight: Highlight


class SearchResponse(BaseModel):
    query: str
    query_lang: str
    took_ms: float
    results: list[SearchResult]


class BatchResult(SearchResponse):
    id: str | int | None


class BatchResponse(BaseModel):
    took_ms: float
    results: list[BatchResult]


class IndexInfo(BaseModel):
    generation: int
    kind: Annotated[str, Field(description="FAISS index kind: flat (exact) or hnsw (approximate)")]
    ef_search: Annotated[int | None, Field(description="hnsw only: the default search effort")] = None
    deleted_not_compacted: Annotated[
        int | None, Field(description="hnsw only: deleted passages still in the graph until a rebuild")
    ] = None


class Health(BaseModel):
    status: str
    documents: int
    passages: int
    model: dict[str, str]
    index: IndexInfo
    process: Annotated[int, Field(description="id of the worker process that answered")]


class DocumentSummary(BaseModel):
    id: str
    title: str
    date: str | None
    lang: str
    passages: int


class DocumentList(BaseModel):
    total: int
    limit: int
    offset: int
    documents: list[DocumentSummary]


class DocumentPassage(BaseModel):
    passage_id: str
    ordinal: int
    lang: str
    text: str
    start: int
    end: int


class Document(BaseModel):
    id: str
    title: str
    date: str | None
    lang: str
    source: str
    passages: list[DocumentPassage]


class PassageMade(BaseModel):
    passage_id: str
    ordinal: int
    lang: str
    start: int
    end: int


class DocumentCreated(BaseModel):
    id: str
    title: str
    date: str | None
    lang: str
    replaced: Annotated[bool, Field(description="true when a document with this id was replaced")]
    passages: list[PassageMade]


class Passage(BaseModel):
    passage_id: str
    doc_id: str
    ordinal: int
    lang: str
    text: str
    start: int
    end: int
    title: str
    date: str | None
    doc_lang: str
    previous: str | None
    next: str | None


class RelatedResult(BaseModel):
    rank: int
    margin: Annotated[float, Field(description="ratio margin over both k-NN neighbourhoods; above 1 stands out")]
    cosine: float
    passage_id: str
    doc_id: str
    title: str
    date: str | None
    lang: str
    text: str


class Related(BaseModel):
    passage_id: str
    results: list[RelatedResult]


class ErrorBody(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    error: ErrorBody


MODELS = [
    SearchRequest, BatchSearchRequest, DocumentIn, Highlight, SearchResult, SearchResponse, BatchResult,
    BatchResponse, IndexInfo, Health, DocumentSummary, DocumentList, DocumentPassage, Document, PassageMade,
    DocumentCreated, Passage, RelatedResult, Related, ErrorBody, Error,
]  # fmt: skip


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*statuses: int) -> dict:
    text = {
        400: "invalid request: the message says what is wrong",
        401: "missing or wrong API key",
        403: "writes are disabled: the server has no API key",
        404: "no such document, passage or route",
        405: "method not allowed",
        413: "request body too large",
        415: "the body is not JSON",
    }
    return {str(s): _json("Error", text[s]) for s in statuses}


def _param(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": description}


LANG_LIST = {"type": "string", "pattern": r"^[a-z,]*$"}
K = {"type": "integer", "minimum": 1, "maximum": MAX_K}
DOC_ID = _param("doc_id", "path", {"type": "string"}, "document id", True)
PASSAGE_ID = _param("passage_id", "path", {"type": "string"}, 'passage id, "<doc_id>:<ordinal>"', True)
JSON_BODY_ERRORS = (400, 413, 415)
AUTH = [{"bearer": []}]


def build_spec() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    def body(name: str) -> dict:
        return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}

    paths = {
        "/health": {"get": {"summary": "Service status and index size", "responses": {"200": _json("Health", "ok")}}},
        "/v1/search": {
            "get": {
                "summary": "Search with a query string",
                "parameters": [
                    _param(
                        "q",
                        "query",
                        {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                        "the question",
                        True,
                    ),
                    _param("k", "query", K, "how many results (default 10)"),
                    _param("lang", "query", LANG_LIST, f"comma-separated languages to keep ({', '.join(LANGUAGES)})"),
                    _param("documents", "query", {"type": "string"}, "comma-separated document ids to keep"),
                    _param(
                        "min_score",
                        "query",
                        {"type": "number"},
                        "drop results with a cosine below this (BM25 in lexical mode)",
                    ),
                    _param("mode", "query", {"type": "string", "enum": list(MODES)}, f"default {DEFAULT_MODE}"),
                    _param(
                        "ef_search",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": MAX_EF_SEARCH},
                        "search effort of an hnsw index (no effect on a flat one); default: HNSW_EF_SEARCH",
                    ),
                ],
                "responses": {"200": _json("SearchResponse", "results, best first")} | _errors(400),
            },
            "post": {
                "summary": "Search with a JSON body",
                "requestBody": body("SearchRequest"),
                "responses": {"200": _json("SearchResponse", "results, best first")} | _errors(*JSON_BODY_ERRORS),
            },
        },
        "/v1/search/batch": {
            "post": {
                "summary": f"Up to {MAX_BATCH_QUERIES} queries, encoded in one batch, answered in order",
                "requestBody": body("BatchSearchRequest"),
                "responses": {"200": _json("BatchResponse", "one result list per query")} | _errors(*JSON_BODY_ERRORS),
            }
        },
        "/v1/documents": {
            "get": {
                "summary": "List documents, a page at a time",
                "parameters": [
                    _param("lang", "query", {"type": "string", "enum": list(LANGUAGES)}, "only this language"),
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        "page size (default 20)",
                    ),
                    _param("offset", "query", {"type": "integer", "minimum": 0}, "documents to skip"),
                ],
                "responses": {"200": _json("DocumentList", "one page")} | _errors(400),
            },
            "post": {
                "summary": "Add a document, or replace the one with the same id",
                "security": AUTH,
                "requestBody": body("DocumentIn"),
                "responses": {"201": _json("DocumentCreated", "indexed and durable")}
                | _errors(*JSON_BODY_ERRORS, 401, 403),
            },
        },
        "/v1/documents/{doc_id}": {
            "get": {
                "summary": "A document with its passages in order",
                "parameters": [DOC_ID],
                "responses": {"200": _json("Document", "the document")} | _errors(400, 404),
            },
            "delete": {
                "summary": "Delete a document and its passages",
                "security": AUTH,
                "parameters": [DOC_ID],
                "responses": {"204": {"description": "deleted"}} | _errors(401, 403, 404),
            },
        },
        "/v1/passages/{passage_id}": {
            "get": {
                "summary": "One passage with its document's metadata and its neighbours' ids",
                "parameters": [PASSAGE_ID],
                "responses": {"200": _json("Passage", "the passage")} | _errors(400, 404),
            }
        },
        "/v1/passages/{passage_id}/related": {
            "get": {
                "summary": "Passages in other languages that say the same thing (margin-scored)",
                "parameters": [
                    PASSAGE_ID,
                    _param("k", "query", K, "how many (default 5)"),
                    _param("lang", "query", LANG_LIST, "target languages (default: all but the passage's own)"),
                ],
                "responses": {"200": _json("Related", "best first")} | _errors(400, 404),
            }
        },
        "/": {"get": {"summary": "The search page for people", "responses": {"200": {"description": "HTML"}}}},
        "/openapi.json": {"get": {"summary": "This description", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/docs": {"get": {"summary": "This description, for people", "responses": {"200": {"description": "HTML"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format"}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cross-lingual retrieval over Kazakh and Russian news",
            "version": "1.0.0",
            "description": 'Every error is JSON {"error": {"code", "message"}} with a 4xx status.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
