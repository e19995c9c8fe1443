"""Documents and passages: reading them, adding, replacing and deleting documents (now, or as a
background job: in bulk, too big to wait for, or behind a queued write of the same document),
jobs, related passages."""

from __future__ import annotations

import hashlib
import re
from contextlib import nullcontext

from flask import Blueprint, current_app
from werkzeug.routing import BaseConverter

from embeddings.alignment import related_passages
from embeddings.checks import QueryError, check_languages
from embeddings.corpus import DOC_ID_PATTERN, RESERVED_DOC_IDS, validate_doc_id
from embeddings.jobs import JOB_ID_PATTERN, KEEP_FINISHED, Job, JobQueue, Write, carry_out
from embeddings.text import LANGUAGES
from service import responses
from service.auth import require_key
from service.context import bulk_work, current_index, searcher
from service.errors import STORAGE_FAULT, ApiError
from service.jsonio import json_response
from service.openapi import Param, Reply, operation, path_param
from service.responses import body_of
from service.validation import (
    K_SCHEMA,
    LANG_LIST_SCHEMA,
    MAX_OFFSET,
    MAX_PAGE,
    SYNC_DOCUMENT_MAX_CHARS,
    DocumentBatchIn,
    DocumentIn,
    int_arg,
    json_object,
    list_arg,
    query_args,
)

bp = Blueprint("documents", __name__)


class DocIdConverter(BaseConverter):
    """A document id in a path: any segment but the reserved ones (embeddings.corpus.RESERVED_DOC_IDS),
    so /v1/documents/batch is the batch route alone and its 405s and OPTIONS allow POST only."""

    regex = "(?!(?:" + "|".join(sorted(RESERVED_DOC_IDS)) + ")$)[^/]+"


@bp.record_once
def _register_converter(state) -> None:
    state.app.url_map.converters["doc"] = DocIdConverter


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
JOB_ID = path_param("job_id", "job id", {"type": "string", "pattern": JOB_ID_PATTERN})
QUEUED = Reply("queued as a background job, durable: poll Location (GET /v1/jobs/{job_id})", responses.Job, status=202)
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


@bp.get("/v1/documents/<doc:doc_id>")
@operation(Reply("the document", responses.Document), DOC_ID, errors=(400, 404))
def get_document(doc_id: str):
    """A document with its passages in order."""
    query_args(())
    document = current_index().store.document(_checked_doc_id(doc_id))
    if document is None:
        raise _not_found("document", doc_id)
    return json_response(document)


def jobs() -> JobQueue:
    return current_app.extensions["jobs"]


def job_body(job: Job) -> dict:
    documents = []
    for w in job.writes:
        outcome = w.outcome or {}
        done = w.state == "done"
        documents.append(
            body_of(
                responses.JobDocument,
                id=w.doc_id,
                op=w.op,
                status=w.state,
                document=outcome if done and w.op == "put" else None,
                deleted=outcome.get("deleted") if done and w.op == "delete" else None,
                error=outcome.get("error"),
            )
        )
    counts = {state: sum(d["status"] == state for d in documents) for state in ("queued", "running", "done", "failed")}
    return body_of(
        responses.Job,
        job,
        status=job.state,
        created=job.created,
        finished=job.finished,
        counts=counts,
        documents=documents,
    )


def _queued(writes: list[Write]):
    job_id = jobs().submit(writes)
    response = json_response(job_body(jobs().job(job_id)), 202)
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return response


def _doc_id(body: DocumentIn) -> str:
    # Without an id, the text (or page) names the document: posting it twice replaces, not doubles.
    return body.id or "doc-" + hashlib.sha256(body.posted.encode()).hexdigest()[:16]


def _put(body: DocumentIn) -> Write:
    return Write("put", _doc_id(body), body.model_dump(exclude={"id"}, exclude_none=True))


def _carry_out(write: Write) -> dict:
    """A write now; a put encodes, so it takes its turn in the bulk lane (a delete encodes nothing)."""
    try:
        with bulk_work() if write.op == "put" else nullcontext(searcher().encoder) as encoder:
            outcome = carry_out(searcher().index, encoder, write)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    current_app.extensions.pop(STORAGE_FAULT, None)  # the store takes writes again
    return outcome


@bp.post("/v1/documents")
@operation(
    Reply("indexed and durable", responses.DocumentCreated, status=201),
    body=DocumentIn,
    errors=(503, 507),
    also=(QUEUED,),
)
@require_key
def put_document():
    """Add a document, or replace the one with the same id.

    Over SYNC_DOCUMENT_MAX_CHARS characters, or while a write of the same id is queued, it is
    queued as a background job (202) instead."""
    body: DocumentIn = json_object(DocumentIn)
    write = _put(body)
    if len(body.posted) > SYNC_DOCUMENT_MAX_CHARS or jobs().pending(write.doc_id):
        return _queued([write])
    return json_response(_carry_out(write), 201)


@bp.post("/v1/documents/batch")
@operation(QUEUED, body=DocumentBatchIn, errors=(503, 507))
@require_key
def put_documents():
    """Add or replace many documents as one background job, written in order."""
    return _queued([_put(doc) for doc in json_object(DocumentBatchIn).documents])


@bp.get("/v1/jobs/<job_id>")
@operation(Reply("the job and each document's write", responses.Job), JOB_ID, errors=(400, 404))
def get_job(job_id: str):
    """A background job: queued, running, done (each document's passages) or failed (each reason)."""
    query_args(())
    if not re.fullmatch(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"), job_id):
        raise ApiError(400, "invalid_request", 'a job id is "job-" and 20 hex digits')
    job = jobs().job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r} (finished jobs are kept {KEEP_FINISHED.days} days)")
    return json_response(job_body(job))


@bp.delete("/v1/documents/<doc:doc_id>")
@operation(Reply("deleted", status=204), DOC_ID, errors=(400, 404, 503, 507), also=(QUEUED,))
@require_key
def delete_document(doc_id: str):
    """Delete a document and its passages (queued behind a queued write of it: 202)."""
    write = Write("delete", _checked_doc_id(doc_id))
    if jobs().pending(write.doc_id):
        return _queued([write])
    if not _carry_out(write)["deleted"]:
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
