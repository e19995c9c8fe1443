"""Every error leaves the service as JSON ``{"error": {"code", "message"}}`` with a fitting status."""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, current_app, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from embeddings.corpus import DOC_ID_PATTERN, DOC_ID_RULE
from embeddings.index import IndexBusyError
from embeddings.search import NOT_BLANK
from embeddings.shards import ShardUnavailableError
from service.jsonio import json_response

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BusyError(Exception):
    """Bulk work is at its limit for now: a 503 the client retries after Retry-After."""


def error_response(status: int, code: str, message: str):
    return json_response({"error": {"code": code, "message": message}}, status)


def describe_validation_error(exc: ValidationError) -> str:
    """One sentence a person can act on, naming the fields at fault."""
    unknown = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "extra_forbidden"]
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    parts = []
    for e in exc.errors():
        where = ".".join(map(str, e["loc"])) or "body"
        if e["type"] == "missing":
            what = "is required"
        elif e["type"] == "string_pattern_mismatch" and e.get("ctx", {}).get("pattern") == NOT_BLANK:
            what = "must not be empty or blank"
        elif e["type"] == "string_pattern_mismatch" and e.get("ctx", {}).get("pattern") == DOC_ID_PATTERN:
            what = f"{e['input']!r} is not a document id ({DOC_ID_RULE})"
        elif e["type"] == "literal_error":
            known = e.get("ctx", {}).get("expected", "")
            noun = "language" if "lang" in map(str, e["loc"]) else "value"
            what = f"unknown {noun} {e['input']!r}; use {known}"
        else:
            what = e["msg"][:1].lower() + e["msg"][1:]  # the rest as written: it may quote a pattern
        parts.append(f"{where}: {what}")
    return "; ".join(parts)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


# SQLite's message of a machine fault -> (status, code, what the client is told: the kind, no paths).
_STORAGE_FAULTS = (
    ("disk is full", 507, "storage_full", "the server's disk is full; the request was not carried out"),
    ("readonly", 503, "storage_read_only", "the index cannot be written at the moment (read-only storage)"),
    ("malformed", 503, "storage_damaged", "the index store is damaged; the operator has to restore or rebuild it"),
    ("not a database", 503, "storage_damaged", "the index store is damaged; the operator has to restore or rebuild it"),
    ("disk i/o error", 503, "storage_io_error", "the server could not read or write its disk"),
    ("locked", 503, "storage_busy", "the index store is busy; retry shortly"),
)


STORAGE_FAULT = "storage_fault"  # app.extensions key: the kind of this worker's last storage fault


def storage_fault(exc: sqlite3.Error) -> tuple[int, str, str]:
    """The status, code and message for a fault of the store's machine (disk full, damage, ...)."""
    text = str(exc).lower()
    for needle, status, code, message in _STORAGE_FAULTS:
        if needle in text:
            return status, code, message
    return 503, "storage_error", "the index store failed to answer; it has been logged"


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(IndexBusyError)
    def _index_busy(exc: IndexBusyError):
        response = error_response(503, "index_rebuilding", "the index is being rebuilt; retry this write shortly")
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(ShardUnavailableError)
    def _shard_unavailable(exc: ShardUnavailableError):
        log.error("shard unavailable: %s", exc)
        response = error_response(503, "shard_unavailable", "a shard of the index did not answer; retry shortly")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(BusyError)
    def _busy(exc: BusyError):
        response = error_response(503, "busy", str(exc))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(sqlite3.Error)
    def _storage_error(exc: sqlite3.Error):
        status, code, message = storage_fault(exc)
        log.error("storage fault (%s): %s", code, exc)  # the cause with its details stays in the log
        current_app.extensions[STORAGE_FAULT] = code  # /health says degraded until a write succeeds
        return error_response(status, code, message)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        return error_response(400, "invalid_request", describe_validation_error(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        if status == 413:
            limit = request.max_content_length
            return error_response(413, "payload_too_large", f"the request body is over the limit of {limit} bytes")
        response = error_response(status, _HTTP_CODES.get(status, "http_error"), exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110: a 405 says what is allowed
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the server failed to answer this request; it has been logged")
