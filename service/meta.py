"""Describing and observing the service: /openapi.json, /docs, /metrics."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from service.jsonio import json_response
from service.observability import metrics_response

bp = Blueprint("meta", __name__)


@bp.get("/openapi.json")
def openapi():
    return json_response(current_app.extensions["openapi"])


@bp.get("/docs")
def docs():
    return render_template("docs.html", spec=current_app.extensions["openapi"])


@bp.get("/metrics")
def metrics():
    index = current_app.extensions["searcher"].index
    index.refresh()
    documents, passages = index.counts()
    return metrics_response(documents, passages)
