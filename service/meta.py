"""Describing and observing the service: /openapi.json, /docs, /metrics."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from service.context import current_index
from service.jsonio import json_response
from service.observability import metrics_response
from service.openapi import Reply, operation

bp = Blueprint("meta", __name__)


@bp.get("/openapi.json")
@operation(Reply("OpenAPI 3.1"))
def openapi():
    """This description."""
    return json_response(current_app.extensions["openapi"])


@bp.get("/docs")
@operation(Reply("HTML"))
def docs():
    """This description, for people."""
    return render_template("docs.html", spec=current_app.extensions["openapi"])


@bp.get("/metrics")
@operation(Reply("text format"))
def metrics():
    """Prometheus metrics."""
    documents, passages = current_index().counts()
    return metrics_response(documents, passages)
