"""Cross-lingual alignment with margin scoring, on the real seed articles."""

from __future__ import annotations

import time

import orjson
import pytest

from embeddings.alignment import PassageNotFound, align, passage_key, related_passages
from embeddings.checks import QueryError
from embeddings.index import Index
from tests.test_scripts import script

# Seed 000 (kk): Koshanov met ... and Natalya Kochanova ↔ seed 003 (ru): Ashimbayev's talks with Kochanova.
KOCHANOVA = ("000_51035c6eea1197a6:0", "003_50027884f20b3e6f:6")
# Seed 001 (kk): Koshanov met Rustami Emomali ↔ seed 003 (ru): the meeting with Rustami Emomali.
EMOMALI = ("001_fdb75db5e4a0ae0c:0", "003_50027884f20b3e6f:5")


@pytest.fixture(scope="module")
def index(seed_index_dir, encoder) -> Index:
    return Index(seed_index_dir, encoder.identity)


@pytest.mark.parametrize(("source", "target"), [KOCHANOVA, EMOMALI])
def test_related_passages_find_the_russian_paragraph_about_the_same_people(index, source, target):
    related = related_passages(index, passage_key(index, source), k=3, langs=["ru"])
    assert related[0].passage_id == target
    assert [r.margin for r in related] == sorted((r.margin for r in related), reverse=True)
    assert related[0].margin > 1.0 and 0.0 < related[0].cosine <= 1.0


def test_related_passages_default_to_other_languages_and_never_return_the_passage(index):
    key = passage_key(index, KOCHANOVA[1])  # a Russian passage: the related ones are Kazakh
    related = related_passages(index, key, k=5)
    assert len(related) == 5 and key not in {r.key for r in related}
    rows = index.store.passages_by_key([r.key for r in related])
    assert {rows[r.key].lang for r in related} == {"kk"}
    same = related_passages(index, key, k=5, langs=["ru"])  # its own language asked for explicitly
    assert key not in {r.key for r in same} and len(same) == 5


def test_related_passages_is_fast_for_one_passage(index):
    key = passage_key(index, EMOMALI[0])
    related_passages(index, key)
    started = time.perf_counter()
    for _ in range(20):
        related_passages(index, key)
    assert (time.perf_counter() - started) / 20 < 0.05


def test_related_passages_refuses_bad_input(index):
    with pytest.raises(QueryError, match="unknown language"):
        related_passages(index, 0, langs=["xx"])
    with pytest.raises(PassageNotFound):
        related_passages(index, 10_000)
    with pytest.raises(PassageNotFound):
        passage_key(index, "nope:0")
    with pytest.raises(QueryError):
        related_passages(index, 0, k=0)


def test_passage_alignment_finds_both_pairs_and_mutual_keeps_them(index):
    pairs = align(index, "kk", "ru")
    by_source = {p.source_id: p for p in pairs}
    kk_passages = index.store.keys_matching(["kk"], None)
    assert len(pairs) == len(kk_passages)  # every source passage gets its best counterpart
    for source, target in (KOCHANOVA, EMOMALI):
        assert by_source[source].target_id == target
    mutual = {(p.source_id, p.target_id) for p in align(index, "kk", "ru", mutual=True)}
    assert {KOCHANOVA, EMOMALI} <= mutual and len(mutual) < len(pairs)
    strict = align(index, "kk", "ru", threshold=1.02)
    assert strict and all(p.margin >= 1.02 for p in strict) and len(strict) < len(pairs)


def test_document_alignment_uses_every_document(index):
    pairs = align(index, "kk", "ru", "document")
    assert {p.source_id for p in pairs} == {
        "000_51035c6eea1197a6",
        "001_fdb75db5e4a0ae0c",
        "002_6b6f623981be19cf",
        "004_4c27e8987007a86f",
    }
    assert {p.target_id for p in pairs} == {"003_50027884f20b3e6f"}  # the only Russian article
    mutual = align(index, "kk", "ru", "document", mutual=True)
    assert len(mutual) == 1


def test_alignment_refuses_bad_language_codes(index):
    with pytest.raises(QueryError, match="unknown language"):
        align(index, "kz", "ru")
    with pytest.raises(QueryError, match="differ"):
        align(index, "kk", "kk", "document")


def test_related_script_writes_pairs_and_fails_clearly(seed_index_dir, tmp_path):
    out = tmp_path / "pairs.jsonl"
    done = script(
        "related.py", "--index", str(seed_index_dir), "--from", "kk", "--to", "ru", "--mutual", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert set(rows[0]) == {"source_id", "target_id", "margin", "cosine"}
    assert {KOCHANOVA, EMOMALI} <= {(r["source_id"], r["target_id"]) for r in rows}

    assert script("related.py", "--help").returncode == 0
    missing = script("related.py", "--index", str(tmp_path / "none"), "--from", "kk", "--to", "ru", "--out", str(out))
    assert missing.returncode == 2 and "no index" in missing.stderr and "Traceback" not in missing.stderr
    bad_lang = script("related.py", "--index", str(seed_index_dir), "--from", "kz", "--to", "ru", "--out", str(out))
    assert bad_lang.returncode == 2 and "unknown language" in bad_lang.stderr and "Traceback" not in bad_lang.stderr
