"""JSON out through orjson."""

from __future__ import annotations

import orjson
from flask import Response


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")
