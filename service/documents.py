"""Documents and passages: reading them, adding, replacing and deleting documents, related passages."""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, current_app

from embeddings.alignment import related_passages
from embeddings.checks import QueryError, check_languages
from embeddings.corpus import DOC_ID_PATTERN, make_document, validate_doc_id
from embeddings.news_files import extract_page
from embeddings.text import LANGUAGES
from service import responses
from service.auth import require_key
from service.context import current_index, searcher
from service.errors import STORAGE_FAULT, ApiError
from service.jsonio import json_response
from service.openapi import Param, Reply, operation, path_param
from service.responses import body_of
from service.validation import (
    K_SCHEMA,
    LANG_LIST_SCHEMA,
    MAX_OFFSET,
    MAX_PAGE,
    DocumentIn,
    int_arg,
    json_object,
    list_arg,
    query_args,
)

bp = Blueprint("documents", __name__)

PASSAGE_ID_PATTERN = DOC_ID_PATTERN.removesuffix("$") + ":[0-9]{1,9}$"
DOC_ID = path_param("doc_id", "document id", {"type": "string", "pattern": DOC_ID_PATTERN})
PASSAGE_ID = path_param(
    "passage_id", 'passage id, "<doc_id>:<ordinal>"', {"type": "string", "pattern": PASSAGE_ID_PATTERN}
)
LIST_QUERY = (
    Param("lang", "only this language", {"type": "string", "enum": list(LANGUAGES)}),
    Param("limit", "page size (default 20)", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    Param("offset", "documents to skip", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
)
RELATED_QUERY = (
    Param("k", "how many (default 5)", K_SCHEMA),
    Param("lang", "target languages (default: all but the passage's own)", LANG_LIST_SCHEMA),
)


def _checked_doc_id(doc_id: str) -> str:
    """A path's document id, refused with a 400 when it cannot be one (as the spec's pattern says)."""
    try:
        return validate_doc_id(doc_id)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


def _checked_passage_id(passage_id: str) -> str:
    if not re.fullmatch(PASSAGE_ID_PATTERN.removeprefix("^").removesuffix("$"), passage_id):
        raise ApiError(400, "invalid_request", 'a passage id is "<document id>:<ordinal>"')
    return passage_id


def _not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {ident!r} in the index")


def _check_langs(langs: list[str]) -> None:
    try:
        check_languages(langs)
    except QueryError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


@bp.get("/v1/documents")
@operation(Reply("one page", responses.DocumentList), *LIST_QUERY, errors=(400,))
def list_documents():
    """List documents, a page at a time."""
    args = query_args(LIST_QUERY)
    lang = args.get("lang")
    if lang is not None:  # given, it must be a language: an empty one is refused, as the spec's enum says
        _check_langs([lang])
    limit = int_arg(args, LIST_QUERY[1], 20)
    offset = int_arg(args, LIST_QUERY[2], 0)
    total, documents = current_index().store.list_documents(lang, limit, offset)
    return json_response({"total": total, "limit": limit, "offset": offset, "documents": documents})


@bp.get("/v1/documents/<doc_id>")
@operation(Reply("the document", responses.Document), DOC_ID, errors=(400, 404))
def get_document(doc_id: str):
    """A document with its passages in order."""
    query_args(())
    document = current_index().store.document(_checked_doc_id(doc_id))
    if document is None:
        raise _not_found("document", doc_id)
    return json_response(document)


@bp.post("/v1/documents")
@operation(Reply("indexed and durable", responses.DocumentCreated, status=201), body=DocumentIn, errors=(503, 507))
@require_key
def put_document():
    """Add a document, or replace the one with the same id."""
    body: DocumentIn = json_object(DocumentIn)
    posted = body.text if body.text is not None else body.html
    # Without an id, the text (or page) names the document: posting it twice replaces, not doubles.
    doc_id = body.id or "doc-" + hashlib.sha256(posted.encode()).hexdigest()[:16]
    text, title, date, lang = body.text, body.title, body.date, body.lang
    try:
        if body.html is not None:  # what the request gives wins over what the page says
            page = extract_page(body.html)
            text, title, date, lang = page.text, title or page.title, date or page.date, lang or page.lang
        # "api" is the source a rebuild from a corpus keeps the document by, so a page's URL is not kept
        doc = make_document(doc_id, text, title=title, date=date, lang=lang, source="api")
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    s = searcher()
    passages, replaced = s.index.write_document(doc, s.encoder)
    current_app.extensions.pop(STORAGE_FAULT, None)  # the store takes writes again
    made = [body_of(responses.PassageMade, p, passage_id=p.id) for p in passages]
    return json_response(body_of(responses.DocumentCreated, doc, replaced=replaced, passages=made), 201)


@bp.delete("/v1/documents/<doc_id>")
@operation(Reply("deleted", status=204), DOC_ID, errors=(400, 404, 503, 507))
@require_key
def delete_document(doc_id: str):
    """Delete a document and its passages."""
    deleted = searcher().index.delete_document(_checked_doc_id(doc_id))
    current_app.extensions.pop(STORAGE_FAULT, None)  # the store takes writes again
    if not deleted:
        raise _not_found("document", doc_id)
    return "", 204


@bp.get("/v1/passages/<passage_id>")
@operation(Reply("the passage", responses.Passage), PASSAGE_ID, errors=(400, 404))
def get_passage(passage_id: str):
    """One passage with its document's metadata and its neighbours' ids."""
    query_args(())
    index = current_index()
    key = index.store.passage_key(_checked_passage_id(passage_id))
    row = index.store.passages_by_key([key]).get(key) if key is not None else None
    if row is None:
        raise _not_found("passage", passage_id)
    previous, following = index.store.neighbours(row.doc_id, row.ordinal)
    return json_response(body_of(responses.Passage, row, passage_id=row.id, previous=previous, next=following))


@bp.get("/v1/passages/<passage_id>/related")
@operation(Reply("best first", responses.Related), PASSAGE_ID, *RELATED_QUERY, errors=(400, 404))
def get_related(passage_id: str):
    """Passages in other languages that say the same thing (margin-scored)."""
    args = query_args(RELATED_QUERY)
    k = int_arg(args, RELATED_QUERY[0], 5)
    langs = list_arg(args, "lang")
    if langs:
        _check_langs(langs)
    index = searcher().index
    key = index.store.passage_key(_checked_passage_id(passage_id))
    if key is None:
        raise _not_found("passage", passage_id)
    related = related_passages(index, key, k, langs)  # it catches up with writes and holds the lock
    rows = index.store.passages_by_key([r.key for r in related])
    results = []
    for r in related:
        row = rows.get(r.key)
        if row is None:  # deleted between the search and the read
            continue
        results.append(
            body_of(
                responses.RelatedResult,
                row,
                rank=len(results) + 1,
                margin=round(float(r.margin), 6),
                cosine=round(float(r.cosine), 6),
                passage_id=row.id,
            )
        )
    return json_response({"passage_id": passage_id, "results": results})
