"""gunicorn settings for `make serve`, from the environment (HOST, PORT, WORKERS, THREADS)."""

from __future__ import annotations

import os
import tempfile

from service import worker_threads

# Loopback unless told otherwise: exposing the service is a decision, not a default.
# BIND (a Unix socket) is how service/front.py puts gunicorn behind nginx.
bind = os.environ.get("BIND") or f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
# More than one process, so that writes must be (and are) visible across processes.
workers = int(os.environ.get("WORKERS", "2"))
# Threads are cheap behind nginx (it reads slow requests whole): more than the bulk work may take.
threads = worker_threads()
timeout = 120  # each worker loads the model once at start
graceful_timeout = 10
accesslog = None  # the app logs each request itself, as JSON with its request id
errorlog = "-"

# Metrics from every worker are summed through files in this folder; it must exist before the
# workers import prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="retrieval-metrics-")


def on_starting(server) -> None:
    """In the master, before any worker is forked: the workers then share one copy of the
    tokenizer (about 290 MB) instead of reading one each. Anything wrong is left for the workers
    to report, with their clear messages."""
    try:
        from embeddings.config import Settings
        from embeddings.encoders import preload_tokenizer

        settings = Settings.from_env()
        preload_tokenizer(settings.model, settings.backend)
    except Exception:
        pass


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# A 2,000-character Cyrillic query percent-encoded in a GET URL is ~24 kB, over gunicorn's
# default 4 kB request line, and gunicorn clamps any limit to 8 kB. 0 lifts the limit (gunicorn's
# Python parser then reads the line whole) so that the app, not the server, judges the query and
# answers with its JSON error; a long line costs about what a 1 MiB body does.
limit_request_line = 0

# gunicorn's threaded worker, with its own rejections (not valid HTTP) answered as JSON errors.
worker_class = "service.gunicorn_worker.JsonErrorWorker"
