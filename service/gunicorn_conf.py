"""gunicorn settings for `make serve`, from the environment (HOST, PORT, WORKERS, THREADS)."""

from __future__ import annotations

import os

# Loopback unless told otherwise: exposing the service is a decision, not a default.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# More than one process, so that writes must be (and are) visible across processes.
workers = int(os.environ.get("WORKERS", "2"))
threads = int(os.environ.get("THREADS", "2"))
timeout = 120  # each worker loads the model once at start
graceful_timeout = 10
accesslog = None  # the app logs each request itself
errorlog = "-"
