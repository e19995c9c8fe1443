"""What the views work with: the app's searcher, and its index caught up with other processes' writes."""

from __future__ import annotations

from flask import current_app

from embeddings.index import Index
from embeddings.search import Searcher


def searcher() -> Searcher:
    return current_app.extensions["searcher"]


def current_index() -> Index:
    """The index with every write committed so far, by this process or another worker."""
    index = searcher().index
    index.refresh()
    return index
