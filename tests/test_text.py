"""Cleaning, normalisation and language detection."""

from __future__ import annotations

import unicodedata

import pytest

from embeddings.corpus import read_corpus
from embeddings.text import clean_paragraphs, detect_language, fold_lookalikes, normalize, sentence_spans
from tests.conftest import SEEDS


def test_the_five_seeds_get_their_languages():
    langs = {doc.id: doc.lang for doc in read_corpus(SEEDS)}
    assert langs == {
        "000_51035c6eea1197a6": "kk",
        "001_fdb75db5e4a0ae0c": "kk",
        "002_6b6f623981be19cf": "kk",
        "003_50027884f20b3e6f": "ru",
        "004_4c27e8987007a86f": "kk",
    }


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Қазақстан мен Беларусь арасындағы сауда айналымы өсті", "kk"),
        ("Председатель Сената встретился с Касым-Жомартом Токаевым", "ru"),
        # A Russian sentence with one Kazakh name stays Russian.
        ("Спикер Мажилиса Ерлан Қошанов провёл переговоры в Минске с президентом Беларуси", "ru"),
        ("Lukashenko trade with Kazakhstan", "en"),
        ("The speaker met the president of Belarus in Minsk on Friday", "en"),
        ("Kazakh foreign minister meets British MPs", "en"),  # a headline: no function words
        ("Le président a rencontré les députés à Minsk", "other"),
        ("Der Präsident traf gestern den Sprecher des Parlaments in Minsk", "other"),
        ("12345 !!!", "other"),
    ],
)
def test_language_of_a_text(text, lang):
    assert detect_language(text) == lang


def test_latin_lookalikes_inside_cyrillic_words_are_folded():
    assert fold_lookalikes("Бiлгiм Aмерика cпорттық") == "Білгім Америка спорттық"
    # Whole Latin words and words with non-look-alike Latin letters are left alone.
    assert fold_lookalikes("APPG Astana Hub Bаq") == "APPG Astana Hub Bаq"
    assert fold_lookalikes("Қазақстан CІМ басшысы") == "Қазақстан СІМ басшысы"


def test_normalize_is_nfc_and_keeps_length_of_folded_words():
    decomposed = unicodedata.normalize("NFD", "Й ё Ә")
    assert normalize(decomposed) == "Й ё Ә"
    assert len(normalize("Бiлгiм")) == len("Бiлгiм")


def test_photo_credits_promotions_and_empty_lines_are_dropped():
    lines = [
        "Сурет: Т.Таныбаев",
        "Фото: Пресс-служба Сената Парламента РК",
        "",
        "   ",
        "📌 Ertenmedia-ның Telegram арнасына жазылыңыз: қысқа әрі нұсқа, ең өзекті ақпарат осында!",
        "Ерлан Қошанов Минскіге келді.",
        "Подписывайтесь на наш Telegram-канал",
    ]
    assert clean_paragraphs(lines) == ["Ерлан Қошанов Минскіге келді."]


def test_an_article_sentence_about_telegram_is_kept():
    line = "Telegram мессенджерінің қолданушылары саны Қазақстанда былтыр екі есе артты, деп хабарлайды агенттік."
    assert clean_paragraphs([line]) == [line]


def test_sentence_spans_cover_the_sentences():
    text = "Ол Минскіде кездесті. Т.б. мәселелер талқыланды! Сауда 1,5 млрд. долларға жетті."
    sentences = [text[a:b] for a, b in sentence_spans(text, "kk")]
    assert sentences[0] == "Ол Минскіде кездесті."
    assert sentences[-1].endswith("долларға жетті.")
