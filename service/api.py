"""The read API: health and search."""

from __future__ import annotations

from flask import Blueprint, current_app

from embeddings.search import QueryError, Searcher
from service.errors import ApiError
from service.jsonio import json_response
from service.validation import SearchRequest, search_request_from_args, search_request_from_body

bp = Blueprint("api", __name__)


def searcher() -> Searcher:
    return current_app.extensions["searcher"]


@bp.get("/health")
def health():
    s = searcher()
    documents, passages = s.index.counts()
    return json_response(
        {
            "status": "ok",
            "documents": documents,
            "passages": passages,
            "model": {"name": s.encoder.identity.name, "fingerprint": s.encoder.identity.fingerprint},
            "index": {"generation": s.index.generation},
        }
    )


def _run_search(req: SearchRequest):
    try:
        response = searcher().search(req.query, req.k, req.lang, req.documents, req.min_score)
    except QueryError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    return json_response(response.as_dict())


@bp.get("/v1/search")
def search_get():
    return _run_search(search_request_from_args())


@bp.post("/v1/search")
def search_post():
    return _run_search(search_request_from_body())
