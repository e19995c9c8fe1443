"""Bearer-key protection for the routes that change the index."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path

from flask import current_app, request

from service.errors import ApiError


def load_api_key() -> str | None:
    """RETRIEVAL_API_KEY, or the first line of the file named by RETRIEVAL_API_KEY_FILE."""
    key = os.environ.get("RETRIEVAL_API_KEY")
    path = os.environ.get("RETRIEVAL_API_KEY_FILE")
    if not key and path:
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RuntimeError(f"RETRIEVAL_API_KEY_FILE={path}: cannot be read ({exc.strerror})") from exc
    return key.strip() if key and key.strip() else None


def require_key(view: Callable) -> Callable:
    @wraps(view)
    def guarded(*args, **kwargs):
        expected: str | None = current_app.config["API_KEY"]
        if expected is None:
            raise ApiError(
                403, "writes_disabled", "writes are disabled: the server has no API key (set RETRIEVAL_API_KEY)"
            )
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        # compare_digest runs in time independent of where the strings differ; the same answer
        # for a missing, malformed or wrong key tells an attacker nothing about which it was.
        ok = hmac.compare_digest(given.strip().encode(), expected.encode()) and scheme.lower() == "bearer"
        if not ok:
            raise ApiError(401, "unauthorized", "a valid API key is required: Authorization: Bearer <key>")
        return view(*args, **kwargs)

    guarded.requires_key = True  # read by the OpenAPI builder
    return guarded
