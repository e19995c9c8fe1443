"""Request parsing and validation: JSON bodies and query strings into typed requests."""

from __future__ import annotations

from typing import Annotated

import orjson
from flask import request
from pydantic import BaseModel, ConfigDict, Field

from embeddings.search import MAX_K, MAX_QUERY_CHARS
from service.errors import ApiError


def json_body() -> object:
    """The request body as JSON, or a 400/415 that says what is wrong with it."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    try:
        return orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS, description="the question, in any language")]
    k: Annotated[int, Field(ge=1, le=MAX_K, description="how many results")] = 10
    lang: Annotated[list[str] | None, Field(description="keep passages in these languages (kk, ru, en, other)")] = None
    documents: Annotated[list[str] | None, Field(description="keep passages of these document ids")] = None
    min_score: Annotated[float | None, Field(description="drop results scoring below this cosine")] = None


def _split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


def search_request_from_args() -> SearchRequest:
    """GET /v1/search?q=...&k=10&lang=kk,ru&documents=a,b&min_score=0.8"""
    args = request.args
    allowed = {"q", "k", "lang", "documents", "min_score"}
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown parameter(s): {', '.join(unknown)}")
    if "q" not in args:
        raise ApiError(400, "invalid_request", "the query parameter q is required")
    data: dict[str, object] = {"query": args["q"]}
    if "k" in args:
        data["k"] = args["k"]
    if "min_score" in args:
        data["min_score"] = args["min_score"]
    data["lang"] = _split_list(args.get("lang"))
    data["documents"] = _split_list(args.get("documents"))
    return SearchRequest.model_validate(data)


def search_request_from_body() -> SearchRequest:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return SearchRequest.model_validate(body, strict=True)
