"""Request ids, one JSON log line per request, and Prometheus metrics.

Under gunicorn the metrics are aggregated over worker processes through
``PROMETHEUS_MULTIPROC_DIR`` (set by ``service/gunicorn_conf.py`` before the workers start).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter

log = logging.getLogger("service.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

REQUESTS = Counter("retrieval_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "retrieval_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
ENCODE = Histogram(
    "retrieval_encode_seconds",
    "Time spent encoding texts with the model",
    ["kind"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5),
)
INDEX_PASSAGES = Gauge("retrieval_index_passages", "Passages in the index", multiprocess_mode="livemax")
INDEX_DOCUMENTS = Gauge("retrieval_index_documents", "Documents in the index", multiprocess_mode="livemax")


def configure_logging() -> None:
    """One JSON object per line on stderr, for every logger."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter("{asctime}{levelname}{name}{message}", style="{", rename_fields={"asctime": "time"})
    )
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)  # per-load chatter


def request_id() -> str:
    return g.get("request_id", "-")


def observe_encode(kind: str, seconds: float) -> None:
    ENCODE.labels(kind).observe(seconds)


def register(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        # A client's id is honoured only when it is plain text: never echo header injection.
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        # The rule without its converters' names (<doc:doc_id> -> <doc_id>): labels stay as they were.
        route = re.sub(r"<\w+:", "<", request.url_rule.rule) if request.url_rule else "unmatched"
        response.headers["X-Request-ID"] = request_id()
        response.headers["X-Content-Type-Options"] = "nosniff"
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        LATENCY.labels(route).observe(elapsed)
        log.info(
            "request",
            extra={
                "request_id": request_id(),
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "ms": round(elapsed * 1000, 2),
            },
        )
        return response


def metrics_response(documents: int, passages: int) -> Response:
    INDEX_DOCUMENTS.set(documents)
    INDEX_PASSAGES.set(passages)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
