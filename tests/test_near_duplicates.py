"""Near-duplicate passages on the real seed articles: copies are found, neighbours are not."""

from __future__ import annotations

import orjson
import pytest

from embeddings.checks import QueryError
from embeddings.corpus import make_document, read_corpus
from embeddings.index import Index, build
from embeddings.near_duplicates import find_near_duplicates
from tests.conftest import SEEDS
from tests.test_scripts import script

ORIGINAL = "000_51035c6eea1197a6:2"


@pytest.fixture(scope="module")
def seeds(seed_index_dir, encoder) -> Index:
    return Index(seed_index_dir, encoder.identity)


@pytest.fixture(scope="module")
def with_copy(tmp_path_factory, encoder, seeds) -> Index:
    """The seeds plus a new article that reuses a seed paragraph with small edits."""
    original = seeds.store.passages_by_key([seeds.store.passage_key(ORIGINAL)])
    text = next(iter(original.values())).text
    edited = text.replace("Ерлан Қошанов", "Мәжіліс төрағасы Ерлан Қошанов").replace("кеңінен", "кең түрде")
    assert edited != text
    copy = make_document(
        "copy-article",
        "Астанада ауа райы күн сайын өзгеріп тұр, синоптиктер аптаның соңына дейін жаңбыр мен қар жауатынын, "
        "жел күшейетінін ескертті.\n" + edited,
        lang="kk",
    )
    path = tmp_path_factory.mktemp("dups") / "index"
    build([*read_corpus(SEEDS), copy], path, encoder)
    return Index(path, encoder.identity)


def test_a_copied_paragraph_with_small_edits_is_found(with_copy):
    found = find_near_duplicates(with_copy)
    pairs = {(p.source_id, p.target_id) for p in found.pairs}
    assert (ORIGINAL, "copy-article:1") in pairs
    cluster = next(c for c in found.clusters if ORIGINAL in c.passage_ids)
    assert "copy-article:1" in cluster.passage_ids and "copy-article" in cluster.doc_ids
    assert "copy-article:0" not in {pid for c in found.clusters for pid in c.passage_ids}


def test_no_passage_is_paired_with_itself(with_copy, seeds):
    for index in (with_copy, seeds):
        found = find_near_duplicates(index, 0.9, same_language_threshold=0.9)  # a loose threshold: many pairs
        assert found.pairs
        assert all(p.source_id != p.target_id for p in found.pairs)
        assert len({(p.source_id, p.target_id) for p in found.pairs}) == len(found.pairs)


def test_untouched_seeds_give_few_pairs(seeds):
    found = find_near_duplicates(seeds)
    _, passages = seeds.counts()
    assert len(found.pairs) <= 3, found.pairs
    assert found.passages == passages
    assert sum(len(c.pairs) for c in found.clusters) == len(found.pairs)


def test_bad_language_codes_are_refused(seeds):
    with pytest.raises(QueryError, match="unknown language"):
        find_near_duplicates(seeds, langs=["xx"])


def test_script_writes_clusters_and_fails_clearly(with_copy, tmp_path):
    out = tmp_path / "dups.jsonl"
    done = script("near_duplicates.py", "--index", str(with_copy.index_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr
    clusters = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert any(ORIGINAL in c["passage_ids"] and "copy-article:1" in c["passage_ids"] for c in clusters)
    assert set(clusters[0]) == {"cluster", "size", "passage_ids", "doc_ids", "langs", "pairs"}

    assert script("near_duplicates.py", "--help").returncode == 0
    missing = script("near_duplicates.py", "--index", str(tmp_path / "none"), "--out", str(out))
    assert missing.returncode == 2 and "no index" in missing.stderr and "Traceback" not in missing.stderr
    bad = script("near_duplicates.py", "--index", str(with_copy.index_dir), "--lang", "xx", "--out", str(out))
    assert bad.returncode == 2 and "unknown language" in bad.stderr and "Traceback" not in bad.stderr
