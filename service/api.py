"""Health and search: single queries (GET and POST) and batches."""

from __future__ import annotations

import os
import time

from flask import Blueprint, current_app

from embeddings.checks import QueryError
from embeddings.search import SearchQuery, SearchResponse
from service.context import current_index, searcher
from service.errors import STORAGE_FAULT, ApiError
from service.jsonio import json_response
from service.openapi import Reply, operation
from service.responses import BatchResponse, Health
from service.validation import (
    SEARCH_QUERY,
    BatchSearchRequest,
    SearchRequest,
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
    problem = current_app.extensions.get(STORAGE_FAULT)
    return json_response(
        {
            "status": "degraded" if problem else "ok",
            "problem": problem,
            "documents": documents,
            "passages": passages,
            "model": {"name": identity.name, "fingerprint": identity.fingerprint},
            "index": {"generation": index.generation} | index.vector_info(),
            "process": os.getpid(),  # which worker answered: helps when reading multi-process logs
        }
    )


def _answer(queries: list[SearchQuery]) -> list[SearchResponse]:
    try:
        return searcher().search_many(queries)
    except QueryError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


def _search(req: SearchRequest):
    query = SearchQuery(
        req.query,
        req.k,
        req.lang,
        req.documents,
        req.min_score,
        req.mode,
        req.ef_search,
        date_from=req.date_from,
        date_to=req.date_to,
        sort=req.sort,
        offset=req.offset,
        group=req.group,
        passages_per_article=req.passages_per_article,
    )
    return json_response(_answer([query])[0].as_dict())


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
@operation(Reply("one result list per query", BatchResponse), body=BatchSearchRequest)
def search_batch():
    """A batch of queries (at most maxItems), encoded together, answered in order."""
    started = time.perf_counter()
    req = json_object(BatchSearchRequest)
    responses = _answer(
        [
            SearchQuery(
                q.query,
                q.k,
                q.lang,
                mode=q.mode,
                ef_search=q.ef_search,
                date_from=q.date_from,
                date_to=q.date_to,
                sort=q.sort,
            )
            for q in req.queries
        ]
    )
    return json_response(
        {
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "results": [{"id": q.id} | r.as_dict() for q, r in zip(req.queries, responses, strict=True)],
        }
    )
