"""Search over the seed index: cross-lingual questions, filters, highlights, the index directory."""

from __future__ import annotations

import orjson
import pytest

from embeddings.checks import QueryError
from embeddings.corpus import read_corpus
from embeddings.evaluation import SEED_QUESTIONS
from embeddings.index import MANIFEST, Index, IndexDirError, build, current_generation_dir
from tests.conftest import SEEDS

# The cross-lingual seed questions live with the evaluation: the tuning rule holds weights to them.
QUESTIONS = SEED_QUESTIONS


@pytest.mark.parametrize(("question", "articles"), QUESTIONS, ids=[q for q, _ in QUESTIONS])
def test_cross_lingual_question_finds_its_article_in_top_3(searcher, question, articles):
    top = [r.doc_id for r in searcher.search(question, k=3).results]
    assert set(top) & articles, top


def test_half_of_the_questions_are_asked_in_another_language_than_the_article():
    from embeddings.text import detect_language

    langs = {doc.id: doc.lang for doc in read_corpus(SEEDS)}
    other = [q for q, arts in QUESTIONS if all(langs[a] != detect_language(q) for a in arts)]
    assert len(other) >= len(QUESTIONS) / 2


def test_questions_find_paragraphs_in_both_languages(searcher):
    for question in ("Рустами Эмомали", "Наталья Кочанова"):
        langs = {r.lang for r in searcher.search(question, k=10).results}
        assert langs == {"kk", "ru"}, question


def test_results_carry_metadata_and_a_highlight_inside_the_text(searcher):
    response = searcher.search("Наталья Кочанова", k=5)
    assert response.query_lang == "ru"
    assert [r.rank for r in response.results] == [1, 2, 3, 4, 5]
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    for r in response.results:
        assert r.passage_id.startswith(r.doc_id + ":")
        assert r.title and r.lang in ("kk", "ru")
        h = r.highlight
        assert r.text[h.start : h.end] == h.sentence and h.sentence
    ru = searcher.search("переговоры с Натальей Кочановой", k=1, langs=["ru"]).results[0]
    assert "Кочановой" in ru.highlight.sentence


def test_filters_by_language_document_and_score(searcher):
    ru_only = searcher.search("Lukashenko", k=20, langs=["ru"]).results
    assert ru_only and {r.lang for r in ru_only} == {"ru"}
    assert len(ru_only) == 10  # every Russian passage, none lost to the filter
    one_doc = searcher.search("Lukashenko", k=5, doc_ids=["001_fdb75db5e4a0ae0c"]).results
    assert len(one_doc) == 5 and {r.doc_id for r in one_doc} == {"001_fdb75db5e4a0ae0c"}
    assert searcher.search("Lukashenko", k=5, langs=["en"]).results == []
    dense = searcher.search("Lukashenko", k=10, mode="dense").results
    cut = dense[4].score - 1e-6  # scores are rounded to 6 places
    kept = searcher.search("Lukashenko", k=10, min_score=cut, mode="dense").results
    assert [r.passage_id for r in kept] == [r.passage_id for r in dense[:5]]
    # In hybrid mode min_score bounds the hybrid score, which the results carry.
    hybrid = searcher.search("Lukashenko", k=100, mode="hybrid").results
    cut = hybrid[4].score - 1e-6
    kept = searcher.search("Lukashenko", k=100, min_score=cut, mode="hybrid").results
    assert [r.passage_id for r in kept] == [r.passage_id for r in hybrid[:5]]


@pytest.mark.parametrize(
    ("query", "k", "langs", "message"),
    [
        ("", 5, None, "empty"),
        ("   ", 5, None, "empty"),
        ("x", 0, None, "k must"),
        ("x", 101, None, "k must"),
        ("x", 5, ["de"], "unknown language"),
        ("x" * 2001, 5, None, "2000"),
    ],
)
def test_bad_queries_are_refused(searcher, query, k, langs, message):
    with pytest.raises(QueryError, match=message):
        searcher.search(query, k, langs)


def test_an_index_built_by_another_model_is_refused(index_copy, encoder):
    manifest_path = current_generation_dir(index_copy) / MANIFEST
    manifest = orjson.loads(manifest_path.read_bytes())
    manifest["model"]["name"] = "some-other-model"
    manifest["model"]["fingerprint"] = "0" * 64
    manifest_path.write_bytes(orjson.dumps(manifest))
    with pytest.raises(IndexDirError, match="built with the model 'some-other-model'"):
        Index(index_copy, encoder.identity)


def test_a_rebuild_writes_a_new_generation_and_swaps_it_in(index_copy, encoder):
    before = current_generation_dir(index_copy)
    opened = Index(index_copy, encoder.identity)
    result = build(read_corpus(SEEDS), index_copy, encoder)
    after = current_generation_dir(index_copy)
    assert after != before and result.manifest["generation"] == opened.generation + 1
    # The generation a reader already holds stays readable.
    assert opened.store.counts() == (5, result.manifest["counts"]["passages"])
    manifest = orjson.loads((after / MANIFEST).read_bytes())
    assert manifest["model"]["fingerprint"] == encoder.identity.fingerprint
    assert manifest["dimension"] == 384 and manifest["prompts"]["passage"] == "passage: "
    assert manifest["chunker"]["max_tokens"] == 512 and manifest["counts"]["documents"] == 5


def test_a_missing_index_is_reported(tmp_path, encoder):
    with pytest.raises(IndexDirError, match="no index here"):
        Index(tmp_path, encoder.identity)
