"""Reading corpora: the seed format, JSONL, and every kind of bad input."""

from __future__ import annotations

import pytest

from embeddings.chunking import ChunkerSettings, chunk_document
from embeddings.corpus import CorpusError, CorpusReport, make_document, read_corpus
from tests.conftest import SEEDS


def test_seed_header_gives_date_and_title_and_files_give_ids():
    docs = {doc.id: doc for doc in read_corpus(SEEDS)}
    assert len(docs) == 5
    first = docs["000_51035c6eea1197a6"]
    assert first.date == "2026-02-06"
    assert first.title == "Қазақстан мен Беларусь депутаттары заң шығару ісінде тәжірибе алмасуды күшейтеді"
    assert "Сурет:" not in first.text and "\n\n" not in first.text
    # Without a header: the first sentence is the title and the date is unknown.
    no_header = docs["001_fdb75db5e4a0ae0c"]
    assert no_header.date is None
    assert no_header.title.startswith("Қазақстан Республикасы Мәжілісінің төрағасы Ерлан Қошанов")
    assert no_header.title.endswith("кездесті.")
    assert "Telegram" not in docs["004_4c27e8987007a86f"].text


def test_jsonl_corpus_reports_bad_lines_and_keeps_the_rest(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        '{"id": "a1", "title": "Сауда", "date": "2026-01-02", "lang": "kk", "text": "Бірінші абзац.\\nЕкінші абзац."}\n'
        "not json\n"
        '{"id": "a2", "title": "no text here"}\n'
        '{"id": "a3", "text": "Только текст, без заголовка. Второе предложение."}\n'
        '{"id": "bad id!", "text": "x"}\n',
        encoding="utf-8",
    )
    report = CorpusReport()
    docs = list(read_corpus(path, report))
    assert [d.id for d in docs] == ["a1", "a3"]
    assert docs[0].text == "Бірінші абзац.\nЕкінші абзац." and docs[0].date == "2026-01-02"
    assert docs[1].lang == "ru" and docs[1].title == "Только текст, без заголовка."
    assert len(report.problems) == 3
    assert any(":2:" in p and "not valid JSON" in p for p in report.problems)
    assert any(":3:" in p and '"text"' in p for p in report.problems)
    assert any(":5:" in p and "document id" in p for p in report.problems)


def test_a_file_that_is_not_utf8_is_skipped_with_its_name(tmp_path):
    (tmp_path / "good.txt").write_text("Ерлан Қошанов Минскіге келді. Тараптар келіссөз жүргізді.", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes("Привет".encode("cp1251"))
    report = CorpusReport()
    assert [d.id for d in read_corpus(tmp_path, report)] == ["good"]
    assert len(report.problems) == 1 and "bad.txt" in report.problems[0] and "UTF-8" in report.problems[0]


def test_missing_and_empty_corpora_raise(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus(tmp_path / "nowhere")
    with pytest.raises(CorpusError, match=r"no \.txt, \.html, \.htm, \.rss, \.atom or \.xml files"):
        read_corpus(tmp_path)


def _count(text: str) -> int:
    return len(text.split())


def test_passages_keep_offsets_and_merge_tiny_fragments(encoder):
    for doc in read_corpus(SEEDS):
        passages = chunk_document(doc, encoder.token_count, encoder.passage_token_budget(), ChunkerSettings())
        assert [p.ordinal for p in passages] == list(range(len(passages)))
        for p in passages:
            assert doc.text[p.start : p.end] == p.text
            assert all(p.text[a:b].strip() for a, b in p.sentences)
    doc = next(d for d in read_corpus(SEEDS) if d.id == "004_4c27e8987007a86f")
    passages = chunk_document(doc, encoder.token_count, encoder.passage_token_budget(), ChunkerSettings())
    # The subheading "Қошанов не дейді?" is not a passage of its own: it joins the next paragraph.
    heading = next(p for p in passages if "Қошанов не дейді?" in p.text)
    assert len(heading.text) > len("Қошанов не дейді?") + 50


def test_a_long_paragraph_is_split_on_sentence_boundaries():
    sentences = [f"Бұл {i}-сөйлем, онда бірнеше сөз бар." for i in range(40)]
    doc = make_document("long", " ".join(sentences))
    passages = chunk_document(doc, _count, 50, ChunkerSettings(max_tokens=50))
    assert len(passages) > 1
    assert all(_count(p.text) <= 50 for p in passages)
    assert all(p.text.endswith(".") for p in passages)
    assert " ".join(p.text for p in passages) == doc.text


def test_a_single_overlong_sentence_is_split_on_words():
    doc = make_document("words", " ".join(["сөз"] * 300))
    passages = chunk_document(doc, _count, 64, ChunkerSettings(max_tokens=64))
    assert all(_count(p.text) <= 64 for p in passages)
    assert sum(_count(p.text) for p in passages) == 300
