"""The HTTP service: a Flask application factory over the `embeddings` library."""

from __future__ import annotations

import os

from flask import Flask, request
from gunicorn.errors import AppImportError

from embeddings.bulk import BulkLane
from embeddings.compaction import AutoCompaction
from embeddings.config import Settings, SettingsError
from embeddings.jobs import JobQueue, JobRunner, carry_out
from embeddings.search import Searcher

SEARCH_BODY_LIMIT = 1 << 20  # 1 MiB for every route but document writes
DOCUMENT_BODY_LIMIT = 10 << 20  # 10 MiB for POST /v1/documents
BULK_BODY_LIMIT = 32 << 20  # 32 MiB for POST /v1/documents/batch
BODY_LIMITS = {"/v1/documents": DOCUMENT_BODY_LIMIT, "/v1/documents/batch": BULK_BODY_LIMIT}
DEFAULT_THREADS = 16  # per worker: all but SEARCH_THREADS of them may do bulk work (service/context.py)
SEARCH_THREADS = 4  # threads of each worker that bulk work never takes
# Responses that set no policy of their own (JSON, /docs) may load nothing but this origin's CSS.
DEFAULT_CSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"


class StartupError(AppImportError):
    """The index or the model cannot be opened. Under gunicorn, an AppImportError is printed as its
    message alone (no traceback) and stops the server with exit status 4."""


def worker_threads() -> int:
    """gunicorn's threads per worker (THREADS), as service/gunicorn_conf.py reads them."""
    return int(os.environ.get("THREADS") or DEFAULT_THREADS)


def create_app(searcher: Searcher | None = None, settings: Settings | None = None) -> Flask:
    """Build the app; without a searcher, load the model and open the index from settings."""
    from service import api, documents, errors, meta, observability, page
    from service.auth import load_api_key
    from service.openapi import build_spec

    observability.configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = DOCUMENT_BODY_LIMIT
    app.config["API_KEY"] = load_api_key()
    if searcher is None:
        from embeddings.encoders import ModelError, load_bulk_encoder
        from embeddings.index import IndexDirError

        try:
            settings = settings or Settings.from_env()
            searcher = Searcher.from_settings(settings)
            bulk = load_bulk_encoder(searcher.encoder, settings.model, settings.backend)
        except (IndexDirError, ModelError, SettingsError) as exc:
            raise StartupError(f"error: {exc}") from None
    else:  # in-process (tests): the given searcher's encoder does the bulk work too
        bulk = searcher.encoder
    searcher.encoder.on_encode = bulk.on_encode = observability.observe_encode
    app.extensions["searcher"] = searcher
    lane = BulkLane(bulk)
    app.extensions["bulk_lane"] = lane
    queue = JobQueue(searcher.index.index_dir)
    app.extensions["jobs"] = queue
    # In every process; only the one holding the queue's lock writes (embeddings/jobs.py).
    runner = JobRunner(queue, lambda write: carry_out(searcher.index, lane.encoder, write))
    app.extensions["job_runner"] = runner.start()
    # In every process too; one compacts at a time (embeddings/compaction.py). A sharded index's
    # shards compact their own vectors (embeddings/shards.py).
    if searcher.index.compacted_in_process:
        app.extensions["compaction"] = AutoCompaction(searcher.index).start()

    @app.before_request
    def _body_limit() -> None:
        is_write = request.method == "POST"
        request.max_content_length = BODY_LIMITS.get(request.path, SEARCH_BODY_LIMIT) if is_write else SEARCH_BODY_LIMIT

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        return response

    observability.register(app)
    errors.register(app)
    for blueprint in (api.bp, documents.bp, meta.bp, page.bp):
        app.register_blueprint(blueprint)
    app.extensions["openapi"] = build_spec(app)
    return app
