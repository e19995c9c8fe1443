"""The HTTP service: a Flask application factory over the `embeddings` library."""

from __future__ import annotations

import logging

from flask import Flask

from embeddings.config import Settings
from embeddings.search import Searcher

SEARCH_BODY_LIMIT = 1 << 20  # 1 MiB


def create_app(searcher: Searcher | None = None, settings: Settings | None = None) -> Flask:
    """Build the app; without a searcher, load the model and open the index from settings."""
    from service import api, errors

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = SEARCH_BODY_LIMIT
    if searcher is None:
        from embeddings.encoder import Encoder
        from embeddings.index import Index

        settings = settings or Settings.from_env()
        encoder = Encoder(settings.model)
        searcher = Searcher(Index(settings.index_dir, encoder.identity), encoder)
    app.extensions["searcher"] = searcher
    errors.register(app)
    app.register_blueprint(api.bp)
    return app
