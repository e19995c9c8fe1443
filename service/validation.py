"""Request parsing and validation: JSON bodies and query strings into typed requests.

The pydantic models and the query parameters here are also what ``/openapi.json`` says of requests.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from werkzeug.exceptions import RequestEntityTooLarge

from embeddings.ann.hnsw import MAX_EF_SEARCH
from embeddings.ann.ivfpq import MAX_NPROBE
from embeddings.checks import ISO_DATE_PATTERN
from embeddings.corpus import DOC_ID_PATTERN
from embeddings.search import (
    DATE_SORT_POOL,
    DEFAULT_MODE,
    DEFAULT_PASSAGES_PER_ARTICLE,
    GROUPS,
    MAX_K,
    MAX_PASSAGES_PER_ARTICLE,
    MAX_QUERY_CHARS,
    MODES,
    NOT_BLANK,
    SORTS,
)
from embeddings.search import MAX_OFFSET as MAX_SEARCH_OFFSET
from embeddings.text import LANGUAGES
from service.errors import ApiError
from service.openapi import Param

MAX_BATCH_QUERIES = 256
# The characters of all a batch's queries together: what bounds the cost of one unauthenticated
# batch (encoding grows with the text; measured in the README, "HTTP API").
MAX_BATCH_CHARS = 16_000
MAX_PAGE = 200
# A posted document's text (or page) over this many characters is written as a background job
# (202), not while the client waits: about 1.5 s of encoding here ("HTTP API" in the README).
SYNC_DOCUMENT_MAX_CHARS = 100_000
MAX_DOCUMENT_BATCH = 1000  # documents in one POST /v1/documents/batch
MAX_OFFSET = 10**9
MAX_FILTER_DOCUMENTS = 1000  # document ids one search may be restricted to
K_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_K}
_ONE_LANG = "(" + "|".join(LANGUAGES) + ")"
LANG_LIST_SCHEMA = {"type": "string", "pattern": f"^{_ONE_LANG}(,{_ONE_LANG})*$"}
_DIGITS = re.compile(r"[0-9]{1,10}")  # what an integer parameter may be: not "5_0", " 5", "+5" or "٥"


def _integral(value: object) -> object:
    """JSON Schema counts 64.0 as an integer: so does the server (but never true or "64")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# The integers every JSON reader holds exactly (2**53 - 1); a larger one comes back as a float.
SAFE_INTEGER = 2**53 - 1


def integer(low: int, high: int) -> Any:
    """An integer from ``low`` to ``high``: strict (never true or "64"), with the bounds inside the
    number's own schema so that the OpenAPI spec says minimum/maximum (bounds put on a type that
    carries a validator come out as keywords JSON Schema does not know)."""
    return Annotated[int, Field(strict=True, ge=low, le=high), BeforeValidator(_integral)]


Lang = Annotated[Literal[LANGUAGES], Field(description=f"one of {', '.join(LANGUAGES)}")]
DocId = Annotated[str, Field(pattern=DOC_ID_PATTERN)]
Mode = Annotated[
    Literal[MODES],
    Field(
        description="hybrid (the default: the cosine lifted toward the passage's article and raised by the query's "
        "words), dense (the cosine alone) or lexical (BM25)"
    ),
]
EfSearch = Annotated[
    integer(1, MAX_EF_SEARCH) | None,
    Field(
        description="search effort of an hnsw index (more: slower, closer to exact); "
        "no effect on another kind; default: the server's HNSW_EF_SEARCH",
    ),
]
Nprobe = Annotated[
    integer(1, MAX_NPROBE) | None,
    Field(
        description="cells an ivfpq index scans (more: slower, closer to exact); "
        "no effect on another kind; default: the server's IVF_NPROBE",
    ),
]

DATE_FROM_TEXT = "keep documents dated on or after this day, YYYY-MM-DD; an undated document is outside every range"
DATE_TO_TEXT = "keep documents dated on or before this day, YYYY-MM-DD; not before date_from"
SORT_TEXT = f"relevance, or date: the best k × {DATE_SORT_POOL} matches (at or above min_score), newest first"
OFFSET_TEXT = "results to skip (articles, when grouped): the page's start; pages are stable for an unchanged index"
GROUP_TEXT = "article: one result per document, with more of its passages and its versions in other languages"
PER_ARTICLE_TEXT = f"with group=article: more passages per article (default {DEFAULT_PASSAGES_PER_ARTICLE})"
_Date = Annotated[str, Field(pattern=ISO_DATE_PATTERN, json_schema_extra={"format": "date"})]
DateFrom = Annotated[_Date | None, Field(description=DATE_FROM_TEXT)]
DateTo = Annotated[_Date | None, Field(description=DATE_TO_TEXT)]
Sort = Annotated[Literal[SORTS], Field(description=SORT_TEXT)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # finite numbers only, GET and POST alike


class SearchRequest(_Strict):
    query: Annotated[
        str, Field(max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK, description="the question, in any language")
    ]
    k: Annotated[integer(1, MAX_K), Field(description="how many results")] = 10
    lang: Annotated[list[Lang] | None, Field(description="keep passages in these languages")] = None
    documents: Annotated[
        list[DocId] | None,
        Field(max_length=MAX_FILTER_DOCUMENTS, description="keep passages of these document ids"),
    ] = None
    min_score: Annotated[
        float | None, Field(description="drop results whose score is below this (the score field of the mode)")
    ] = None
    mode: Mode = DEFAULT_MODE
    ef_search: EfSearch = None
    nprobe: Nprobe = None
    date_from: DateFrom = None
    date_to: DateTo = None
    sort: Sort = "relevance"
    offset: Annotated[integer(0, MAX_SEARCH_OFFSET), Field(description=OFFSET_TEXT)] = 0
    group: Annotated[Literal[GROUPS] | None, Field(description=GROUP_TEXT)] = None
    passages_per_article: Annotated[integer(0, MAX_PASSAGES_PER_ARTICLE), Field(description=PER_ARTICLE_TEXT)] = (
        DEFAULT_PASSAGES_PER_ARTICLE
    )


class BatchQuery(_Strict):
    id: Annotated[
        str | integer(-SAFE_INTEGER, SAFE_INTEGER) | None, Field(description="echoed back with the results")
    ] = None
    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK)]
    k: integer(1, MAX_K) = 10
    lang: list[Lang] | None = None
    mode: Mode = DEFAULT_MODE
    ef_search: EfSearch = None
    nprobe: Nprobe = None
    date_from: DateFrom = None
    date_to: DateTo = None
    sort: Sort = "relevance"


class BatchSearchRequest(_Strict):
    queries: Annotated[
        list[BatchQuery],
        Field(
            min_length=1,
            max_length=MAX_BATCH_QUERIES,
            description=f"their query texts hold at most {MAX_BATCH_CHARS:,} characters together (over it: 413)",
        ),
    ]


def check_batch_budget(req: BatchSearchRequest) -> None:
    """A batch whose queries hold more than MAX_BATCH_CHARS characters is refused before any work."""
    total = sum(len(q.query) for q in req.queries)
    if total > MAX_BATCH_CHARS:
        raise ApiError(
            413,
            "payload_too_large",
            f"the batch's queries hold {total:,} characters; the limit is {MAX_BATCH_CHARS:,} for a batch "
            "(split it into several batches)",
        )


class DocumentIn(_Strict):
    """A document to add: its text, or an HTML page to take the article from (exactly one of the two).

    From a page, the main text, title, date and declared language (kk, ru or en) are extracted;
    the id, title, date and lang given here win over them."""

    # The spec's form of _text_or_html: a field that is null counts as absent, as the server reads it.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in ("text", "html")]
        }
    )

    id: Annotated[
        str | None,
        Field(
            pattern=DOC_ID_PATTERN,
            description="1-128 ASCII letters, digits, '_', '-', '.', not starting with '.'; default: from the text "
            "or the html; an existing id is replaced",
        ),
    ] = None
    title: Annotated[str | None, Field(max_length=1000, description="default: the page's, else the first sentence")] = (
        None
    )
    date: Annotated[_Date | None, Field(description="a day that exists, YYYY-MM-DD; default: the page's")] = None
    lang: Annotated[Lang | None, Field(description="default: the page's (kk, ru or en), else detected")] = None
    text: Annotated[
        str | None,
        Field(
            pattern=NOT_BLANK,
            description="paragraphs separated by newlines; or html (a text of nothing but captions and credits, "
            "which cleaning removes, is a 400)",
        ),
    ] = None
    html: Annotated[
        str | None,
        Field(
            min_length=1,
            description="a whole HTML page (a news site's article page); its article text is indexed, menus, "
            "share buttons, related links, comments and footers are not (a page without article text is a 400); "
            "or text",
        ),
    ] = None

    @model_validator(mode="after")
    def _text_or_html(self) -> DocumentIn:
        if (self.text is None) == (self.html is None):
            raise PydanticCustomError("text_or_html", "give exactly one of the fields text and html")
        return self

    @property
    def posted(self) -> str:
        """The text, or the page, as posted."""
        return self.text if self.text is not None else self.html


class DocumentBatchIn(_Strict):
    documents: Annotated[
        list[DocumentIn],
        Field(
            min_length=1,
            max_length=MAX_DOCUMENT_BATCH,
            description="written in this order, as one background job (a later one with the same id replaces "
            "an earlier one)",
        ),
    ]


def json_body() -> object:
    """The request body as JSON, or a 400/415 that says what is wrong with it."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        # Without Content-Length (chunked), werkzeug stops reading at the limit and returns what it
        # has, without an error: a body that reaches the limit is refused, not parsed cut short.
        raise RequestEntityTooLarge()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def json_object(model: type[BaseModel]) -> BaseModel:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return model.model_validate(body, strict=True)


def query_args(declared: tuple[Param, ...]) -> dict[str, str]:
    """The query string, refusing parameters the route does not declare and parameters given twice
    (which one would count is a guess; a list parameter takes one comma-separated value)."""
    unknown = sorted(set(request.args) - {p.name for p in declared})
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown parameter(s): {', '.join(unknown)}")
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise ApiError(
            400, "invalid_request", f"parameter(s) given more than once: {', '.join(repeated)}; give each once"
        )
    return request.args.to_dict()


def int_arg(args: dict[str, str], param: Param, default: int) -> int:
    """An integer parameter within the bounds its schema declares."""
    raw = args.get(param.name)
    if raw is None:
        return default
    low, high = param.schema["minimum"], param.schema["maximum"]
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise ApiError(400, "invalid_request", f"{param.name} must be an integer from {low} to {high}")
    return value


def list_arg(args: dict[str, str], name: str) -> list[str] | None:
    """A comma-separated list parameter (None when absent), read exactly as the spec's pattern
    says: an empty value or an empty item is refused, not dropped."""
    if name not in args:
        return None
    items = args[name].split(",")
    if not all(items):
        raise ApiError(400, "invalid_request", f"{name}: a comma-separated list with no empty item, e.g. kk,ru")
    return items


SEARCH_QUERY = (
    Param(
        "q",
        "the question",
        {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": NOT_BLANK},
        required=True,
    ),
    Param("k", "how many results (default 10)", K_SCHEMA),
    Param("lang", f"comma-separated languages to keep ({', '.join(LANGUAGES)})", LANG_LIST_SCHEMA),
    Param(
        "documents",
        f"comma-separated document ids to keep (at most {MAX_FILTER_DOCUMENTS})",
        {"type": "string", "pattern": f"^{DOC_ID_PATTERN[1:-1]}(,{DOC_ID_PATTERN[1:-1]})*$"},
    ),
    Param("min_score", "drop results whose score is below this (the score field of the mode)", {"type": "number"}),
    Param("mode", f"default {DEFAULT_MODE}", {"type": "string", "enum": list(MODES)}),
    Param(
        "ef_search",
        "search effort of an hnsw index (no effect on another kind); default: HNSW_EF_SEARCH",
        {"type": "integer", "minimum": 1, "maximum": MAX_EF_SEARCH},
    ),
    Param(
        "nprobe",
        "cells an ivfpq index scans (no effect on another kind); default: IVF_NPROBE",
        {"type": "integer", "minimum": 1, "maximum": MAX_NPROBE},
    ),
    Param("date_from", DATE_FROM_TEXT, {"type": "string", "format": "date", "pattern": ISO_DATE_PATTERN}),
    Param("date_to", DATE_TO_TEXT, {"type": "string", "format": "date", "pattern": ISO_DATE_PATTERN}),
    Param("sort", SORT_TEXT + " (default relevance)", {"type": "string", "enum": list(SORTS)}),
    Param("offset", OFFSET_TEXT + " (default 0)", {"type": "integer", "minimum": 0, "maximum": MAX_SEARCH_OFFSET}),
    Param("group", GROUP_TEXT, {"type": "string", "enum": list(GROUPS)}),
    Param(
        "passages_per_article",
        PER_ARTICLE_TEXT,
        {"type": "integer", "minimum": 0, "maximum": MAX_PASSAGES_PER_ARTICLE},
    ),
)
_INTEGER_PARAMS = ("k", "ef_search", "nprobe", "offset", "passages_per_article")
_TEXT_PARAMS = ("min_score", "mode", "date_from", "date_to", "sort", "group")


def search_request_from_args() -> SearchRequest:
    """GET /v1/search?q=...&k=10&lang=kk,ru&documents=a,b&min_score=0.8&mode=dense&ef_search=128&nprobe=64
    &date_from=2026-01-01&date_to=2026-01-31&sort=date&offset=10&group=article&passages_per_article=2"""
    args = query_args(SEARCH_QUERY)
    if "q" not in args:
        raise ApiError(400, "invalid_request", "the query parameter q is required")
    data: dict[str, object] = {
        "query": args["q"],
        "lang": list_arg(args, "lang"),
        "documents": list_arg(args, "documents"),
    }
    for param in SEARCH_QUERY:
        if param.name in args and param.name in _INTEGER_PARAMS:
            data[param.name] = int_arg(args, param, 0)
        elif param.name in args and param.name in _TEXT_PARAMS:
            data[param.name] = args[param.name]
    return SearchRequest.model_validate(data)
