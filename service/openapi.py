"""The OpenAPI 3.1 description of the service, built from what the code already says.

Each view carries an ``@operation`` declaration next to its route (parameters, body and answer;
the summary is the first line of its docstring); the method and path come from the app's URL map,
the security and the key errors from ``service.auth.require_key``, and every schema from a model
that the code uses: the pydantic models that validate request bodies (``service.validation``),
the library's dataclasses and the service's response models (``service.responses``). A route,
added in one place, is described.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import TypeAdapter

from embeddings.alignment import COUNTERPART_MIN_MARGIN
from embeddings.search import Counterpart, Highlight, SearchResponse, SearchResult
from service.responses import Error

REF_TEMPLATE = "#/components/schemas/{model}"
JSON_BODY_ERRORS = (400, 413, 415)  # what service.validation.json_object answers a bad body with
KEY_ERRORS = (401, 403)  # what service.auth.require_key answers with
ERROR_TEXT = {
    400: "invalid request: the message says what is wrong",
    401: "missing or wrong API key",
    403: "writes are disabled: the server has no API key",
    404: "no such document, passage or route",
    413: "request body too large",
    415: "the body is not JSON",
    503: "the index is being rebuilt, or the server is busy with other batches and writes (retry after "
    "Retry-After seconds), or its storage failed (the code says how)",
    507: "the server's disk is full: the write was not carried out",
}
# The library's dataclasses carry no descriptions (embeddings/ does not depend on pydantic); the
# fields that need a word for users of the API get it here.
LIBRARY_FIELD_NOTES: dict[type, dict[str, str]] = {
    Highlight: {"start": "offset into text", "terms": "[start, end] of each query word found in text"},
    SearchResult: {
        "score": "hybrid (the default): the passage's cosine p with the query, lifted toward its article's "
        "cosine a (moved by s onto the passages' scale) and raised by its IDF-weighted coverage c of the "
        "query's words: p + w_a * max(0, a + s - p) + w * c, w = w_l in the query's language, w_x in the "
        "others (ARTICLE_WEIGHT, LEXICAL_WEIGHT, CROSS_LEXICAL_WEIGHT: the server's settings); "
        "dense: the cosine p; lexical: BM25",
        "rank": "the place in the whole ranking (offset + place on this page)",
        "more": "group=article only: the article's next best passages (at most passages_per_article)",
        "counterparts": "group=article only: the documents in other languages that report the same story, best "
        f"first (at most one per language, document margin at least {COUNTERPART_MIN_MARGIN})",
    },
    SearchResponse: {
        "has_more": "whether a next page (offset + k) holds results",
        "offset": "results (articles, when grouped) skipped before this page",
    },
    Counterpart: {"margin": "document-level ratio margin over both neighbourhoods; above 1 stands out"},
}

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One query or path parameter of a route."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    where: str = "query"
    required: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required,
            "schema": self.schema,
            "description": self.description,
        }


def path_param(name: str, description: str, schema: dict[str, Any] | None = None) -> Param:
    return Param(name, description, schema or {"type": "string"}, where="path", required=True)


@dataclass(frozen=True)
class Reply:
    """The answer when all goes well: a JSON body of ``shape`` (a model or dataclass), or no JSON."""

    description: str
    shape: type | None = None
    status: int = 200


@dataclass(frozen=True)
class Operation:
    summary: str
    reply: Reply
    parameters: tuple[Param, ...] = ()
    body: type | None = None  # the pydantic model of a JSON request body
    errors: tuple[int, ...] = ()  # beyond those of the body and of the key, which are added
    also: tuple[Reply, ...] = ()  # other successful answers (a write queued as a job: 202)


def operation(
    reply: Reply,
    *parameters: Param,
    body: type | None = None,
    errors: tuple[int, ...] = (),
    also: tuple[Reply, ...] = (),
) -> Callable[[View], View]:
    """Declares a view for /openapi.json; goes right under the blueprint's route decorator. The
    first line of the view's docstring is the operation's summary."""

    def declare(view: View) -> View:
        summary = (inspect.getdoc(view) or "").partition("\n")[0].rstrip(".")
        if not summary:
            raise TypeError(f"{view.__name__}: a declared view needs a docstring, its summary")
        view.operation = Operation(summary, reply, parameters, body, errors, also)
        return view

    return declare


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)  # /v1/documents/<doc_id> -> /v1/documents/{doc_id}


class _Schemas:
    """The models the operations name, turned into ``components.schemas`` in one go at the end."""

    def __init__(self) -> None:
        self.shapes: list[type] = []

    def ref(self, shape: type) -> dict[str, Any]:
        if shape not in self.shapes:
            self.shapes.append(shape)
        return {"$ref": REF_TEMPLATE.format(model=shape.__name__)}

    def json(self, shape: type) -> dict[str, Any]:
        return {"application/json": {"schema": self.ref(shape)}}

    def components(self) -> dict[str, Any]:
        adapters = [(shape, "validation", TypeAdapter(shape)) for shape in self.shapes]
        refs, definitions = TypeAdapter.json_schemas(adapters, ref_template=REF_TEMPLATE)
        schemas = definitions["$defs"]
        for shape in self.shapes:  # pydantic renames two shapes of one name: the refs above would miss
            if refs[(shape, "validation")] != self.ref(shape):
                raise RuntimeError(f"two schemas are named {shape.__name__}")
        for shape, notes in LIBRARY_FIELD_NOTES.items():
            for name, description in notes.items():
                schemas[shape.__name__]["properties"][name]["description"] = description
        return schemas


def _describe(op: Operation, needs_key: bool, schemas: _Schemas) -> dict[str, Any]:
    replies: dict[str, Any] = {}
    for reply in (op.reply, *op.also):
        replies[str(reply.status)] = {"description": reply.description}
        if reply.shape is not None:
            replies[str(reply.status)]["content"] = schemas.json(reply.shape)
    errors = set(op.errors) | set(JSON_BODY_ERRORS if op.body else ()) | set(KEY_ERRORS if needs_key else ())
    described: dict[str, Any] = {"summary": op.summary}
    if needs_key:
        described["security"] = [{"bearer": []}]
    if op.parameters:
        described["parameters"] = [p.describe() for p in op.parameters]
    if op.body is not None:
        described["requestBody"] = {"required": True, "content": schemas.json(op.body)}
    described["responses"] = replies | {
        str(status): {"description": ERROR_TEXT[status], "content": schemas.json(Error)} for status in sorted(errors)
    }
    return described


def build_spec(app: Flask) -> dict[str, Any]:
    """The description of every route of ``app`` but its static files; a route without an
    ``@operation`` is an error here, at start-up, not a gap in the description."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, "operation", None)
        if op is None:
            raise RuntimeError(f"{rule.rule}: the view {rule.endpoint} has no @operation declaration")
        in_path = {p.name for p in op.parameters if p.where == "path"}
        if in_path != set(rule.arguments):
            raise RuntimeError(f"{rule.rule}: path parameters declared {sorted(in_path)}, in the rule {rule.arguments}")
        needs_key = getattr(view, "requires_key", False)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(_openapi_path(rule.rule), {})[method.lower()] = _describe(op, needs_key, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cross-lingual retrieval over Kazakh and Russian news",
            "version": "1.0.0",
            "description": 'Every error is JSON {"error": {"code", "message"}} with a 4xx status.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
