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


def test_filter_keys_come_in_key_order(seed_index_dir, encoder):
    """The search tests membership in a filter by binary search: every filter must be sorted,
    a filter of several languages too (SQLite would walk its language index otherwise)."""
    import numpy as np

    from embeddings.index import Index

    index = Index(seed_index_dir, encoder.identity)
    filters = [
        index.filter_keys(["ru", "kk"], None, ("2000-01-01", None)),
        index.filter_keys(["kk", "ru"], ["003_50027884f20b3e6f", "000_51035c6eea1197a6"]),
        index.store.keys_matching(["ru", "kk"], None),
        index.filter_keys(["ru"], None),
    ]
    for keys in filters:
        assert len(keys) > 1 and np.all(np.diff(keys) > 0)
    index.close()
