"""The store answers lookups by any number of keys: SQLite allows 32,766 variables a statement
(250,000 in Debian's build)."""

from __future__ import annotations

from embeddings.store import Store


def test_lookups_by_more_keys_than_sqlite_allows_variables(seed_index_dir):
    from embeddings.index import STORE, current_generation_dir

    store = Store(current_generation_dir(seed_index_dir) / STORE, 384)
    _, passages = store.counts()
    keys = list(range(300_000))  # every real key and many more: over any build's variable limit
    found, vectors = store.vectors_by_key(keys)
    assert len(found) == passages and vectors.shape == (passages, 384)
    article_keys, _ = store.article_vectors(keys)
    assert len(article_keys) == store.counts()[0]
    assert len(store.candidates(keys)) == passages
    assert len(store.passages_by_key(keys)) == passages
    store.close()
