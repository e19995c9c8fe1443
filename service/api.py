"""Health and search: single queries (GET and POST) and batches."""

from __future__ import annotations

import os
import time

from flask import Blueprint, current_app

from embeddings.search import QueryError, Searcher, SearchQuery
from service.errors import ApiError
from service.jsonio import json_response
from service.validation import BatchSearchRequest, SearchRequest, json_object, search_request_from_args

bp = Blueprint("api", __name__)


def searcher() -> Searcher:
    return current_app.extensions["searcher"]


@bp.get("/health")
def health():
    s = searcher()
    s.index.refresh()
    documents, passages = s.index.counts()
    return json_response(
        {
            "status": "ok",
            "documents": documents,
            "passages": passages,
            "model": {"name": s.encoder.identity.name, "fingerprint": s.encoder.identity.fingerprint},
            "index": {"generation": s.index.generation} | s.index.vector_info(),
            "process": os.getpid(),  # which worker answered: helps when reading multi-process logs
        }
    )


def _answer(queries: list[SearchQuery]):
    try:
        return searcher().search_many(queries)
    except QueryError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


def _search(req: SearchRequest):
    query = SearchQuery(req.query, req.k, req.lang, req.documents, req.min_score, req.mode, req.ef_search)
    return json_response(_answer([query])[0].as_dict())


@bp.get("/v1/search")
def search_get():
    return _search(search_request_from_args())


@bp.post("/v1/search")
def search_post():
    return _search(json_object(SearchRequest))


@bp.post("/v1/search/batch")
def search_batch():
    started = time.perf_counter()
    req = json_object(BatchSearchRequest)
    responses = _answer([SearchQuery(q.query, q.k, q.lang, mode=q.mode, ef_search=q.ef_search) for q in req.queries])
    return json_response(
        {
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "results": [{"id": q.id} | r.as_dict() for q, r in zip(req.queries, responses, strict=True)],
        }
    )
