"""Health and search: single queries (GET and POST) and batches."""

from __future__ import annotations

import os
import time

from flask import Blueprint, current_app

from embeddings.checks import QueryError
from embeddings.encoders import Encoder
from embeddings.search import SearchQuery, SearchResponse
from service.context import bulk_work, current_index, searcher
from service.errors import STORAGE_FAULT, ApiError
from service.jsonio import json_response
from service.openapi import Reply, operation
from service.responses import BatchResponse, Health
from service.validation import (
    SEARCH_QUERY,
    BatchQuery,
    BatchSearchRequest,
    SearchRequest,
    check_batch_budget,
    json_object,
    search_request_from_args,
)

bp = Blueprint("api", __name__)

SEARCH_REPLY = Reply("results, best first", SearchResponse)


@bp.get("/health")
@operation(Reply("ok", Health))
def health():
    """Service status and index size."""
    index = current_index()
    documents, passages = index.counts()
    identity = searcher().encoder.identity
    disk = index.disk_problem()
    problem = current_app.extensions.get(STORAGE_FAULT) or (f"storage_{disk}" if disk else None)
    return json_response(
        {
            "status": "degraded" if problem else "ok",
            "problem": problem,
            "documents": documents,
            "passages": passages,
            "jobs": current_app.extensions["jobs"].waiting(),
            "model": {"name": identity.name, "fingerprint": identity.fingerprint},
            "index": {"generation": index.generation} | index.vector_info(),
            "process": os.getpid(),  # which worker answered: helps when reading multi-process logs
        }
    )


def _answer(queries: list[SearchQuery], encoder: Encoder | None = None) -> list[SearchResponse]:
    try:
        return searcher().search_many(queries, encoder)
    except QueryError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


def _library_query(req: SearchRequest | BatchQuery) -> SearchQuery:
    """The library's query from a request: the same fields, but for the API's names of two."""
    fields = req.model_dump(exclude={"id"})
    fields["langs"] = fields.pop("lang")
    if "documents" in fields:
        fields["doc_ids"] = fields.pop("documents")
    return SearchQuery(**fields)


def _search(req: SearchRequest):
    return json_response(_answer([_library_query(req)])[0].as_dict())


@bp.get("/v1/search")
@operation(SEARCH_REPLY, *SEARCH_QUERY, errors=(400,))
def search_get():
    """Search with a query string."""
    return _search(search_request_from_args())


@bp.post("/v1/search")
@operation(SEARCH_REPLY, body=SearchRequest)
def search_post():
    """Search with a JSON body."""
    return _search(json_object(SearchRequest))


@bp.post("/v1/search/batch")
@operation(Reply("one result list per query", BatchResponse), body=BatchSearchRequest, errors=(503,))
def search_batch():
    """A batch of queries (at most maxItems), encoded together, answered in order."""
    started = time.perf_counter()
    req = json_object(BatchSearchRequest)
    check_batch_budget(req)
    with bulk_work() as encoder:
        responses = _answer([_library_query(q) for q in req.queries], encoder)
    return json_response(
        {
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "results": [{"id": q.id} | r.as_dict() for q, r in zip(req.queries, responses, strict=True)],
        }
    )
