"""Documents and passages: reading them, adding, replacing and deleting documents, related passages."""

from __future__ import annotations

import hashlib

from flask import Blueprint, current_app

from embeddings.alignment import related_passages
from embeddings.corpus import make_document
from embeddings.search import MAX_K, QueryError, Searcher, check_languages
from service.auth import require_key
from service.errors import ApiError
from service.jsonio import json_response
from service.validation import MAX_PAGE, DocumentIn, int_arg, json_object, list_arg, query_args

bp = Blueprint("documents", __name__)


def searcher() -> Searcher:
    return current_app.extensions["searcher"]


def _not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {ident!r} in the index")


def _check_langs(langs: list[str]) -> None:
    try:
        check_languages(langs)
    except QueryError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


@bp.get("/v1/documents")
def list_documents():
    args = query_args({"lang", "limit", "offset"})
    lang = args.get("lang") or None
    if lang:
        _check_langs([lang])
    limit = int_arg(args, "limit", 20, 1, MAX_PAGE)
    offset = int_arg(args, "offset", 0, 0, 10**9)
    index = searcher().index
    index.refresh()
    total, documents = index.store.list_documents(lang, limit, offset)
    return json_response({"total": total, "limit": limit, "offset": offset, "documents": documents})


@bp.get("/v1/documents/<doc_id>")
def get_document(doc_id: str):
    query_args(set())
    index = searcher().index
    index.refresh()
    document = index.store.document(doc_id)
    if document is None:
        raise _not_found("document", doc_id)
    return json_response(document)


@bp.post("/v1/documents")
@require_key
def put_document():
    body: DocumentIn = json_object(DocumentIn)
    # Without an id, the text names the document: posting the same text twice replaces, not doubles.
    doc_id = body.id or "doc-" + hashlib.sha256(body.text.encode()).hexdigest()[:16]
    try:
        doc = make_document(doc_id, body.text, title=body.title, date=body.date, lang=body.lang, source="api")
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    s = searcher()
    passages, replaced = s.index.write_document(doc, s.encoder)
    return json_response(
        {
            "id": doc.id,
            "title": doc.title,
            "date": doc.date,
            "lang": doc.lang,
            "replaced": replaced,
            "passages": [
                {"passage_id": p.id, "ordinal": p.ordinal, "lang": p.lang, "start": p.start, "end": p.end}
                for p in passages
            ],
        },
        201,
    )


@bp.delete("/v1/documents/<doc_id>")
@require_key
def delete_document(doc_id: str):
    if not searcher().index.delete_document(doc_id):
        raise _not_found("document", doc_id)
    return "", 204


@bp.get("/v1/passages/<passage_id>")
def get_passage(passage_id: str):
    query_args(set())
    index = searcher().index
    index.refresh()
    key = index.store.passage_key(passage_id)
    row = index.store.passages_by_key([key]).get(key) if key is not None else None
    if row is None:
        raise _not_found("passage", passage_id)
    previous, following = index.store.neighbours(row.doc_id, row.ordinal)
    return json_response(
        {
            "passage_id": row.id,
            "doc_id": row.doc_id,
            "ordinal": row.ordinal,
            "lang": row.lang,
            "text": row.text,
            "start": row.start,
            "end": row.end,
            "title": row.title,
            "date": row.date,
            "doc_lang": row.doc_lang,
            "previous": previous,
            "next": following,
        }
    )


@bp.get("/v1/passages/<passage_id>/related")
def get_related(passage_id: str):
    args = query_args({"k", "lang"})
    k = int_arg(args, "k", 5, 1, MAX_K)
    langs = list_arg(args, "lang")
    if langs:
        _check_langs(langs)
    index = searcher().index
    key = index.store.passage_key(passage_id)
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
            {
                "rank": len(results) + 1,
                "margin": round(float(r.margin), 6),
                "cosine": round(float(r.cosine), 6),
                "passage_id": row.id,
                "doc_id": row.doc_id,
                "title": row.title,
                "date": row.date,
                "lang": row.lang,
                "text": row.text,
            }
        )
    return json_response({"passage_id": passage_id, "results": results})
