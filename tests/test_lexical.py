"""The lexical side: tokens that meet across Kazakh and Russian spellings, BM25 and fusion."""

from __future__ import annotations

import pytest

from embeddings.checks import QueryError
from embeddings.fusion import CROSS_LEXICAL_WEIGHT, LEXICAL_WEIGHT, Fusion, coverages, term_weights
from embeddings.lexical import fold, match_expression, query_terms, token_spans, tokens, transliterate
from embeddings.search import Searcher


def test_kazakh_letters_fold_to_their_russian_neighbours():
    assert fold("ӘҒҚҢӨҰҮҺІ әғқңөұүһі") == "агкноуухи агкноуухи"
    assert tokens("Мәжіліс", "kk") == tokens("Мажилис", "ru")


@pytest.mark.parametrize(
    ("kazakh", "russian"),
    [
        ("Қошановты қабылдады", "встреча с Кошановым"),
        ("Тоқаевтың жолдауы", "послание Токаева"),
        ("Мәжілістің депутаттары", "депутаты Мажилиса"),
        ("Лукашенкомен кездесті", "встреча с Лукашенко"),
    ],
)
def test_a_name_in_kazakh_and_russian_spelling_gives_the_same_key(kazakh, russian):
    assert set(tokens(kazakh, "kk")) & set(tokens(russian, "ru"))


def test_latin_lookalikes_and_mixed_script_words():
    # A Latin "i" and "C" typed inside Cyrillic words become the Cyrillic letters.
    assert tokens("Бiлгiм", "kk") == tokens("Білгім", "kk")
    assert tokens("Қазақстан CІМ басшысы", "kk") == tokens("Қазақстан СІМ басшысы", "kk")
    # A word that is genuinely Latin stays Latin; a mixed word that is not a look-alike stays whole.
    assert tokens("Astana Hub", "kk") == ["astana", "hub"]
    assert len(tokens("COVID-19 вакцинасы", "kk")) == 3


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("ashimbaev", "ашимбаев"),
        ("tokayev", "токаев"),
        ("shymkent", "шымкент"),
        ("kostanay", "костанай"),
        ("zhanaozen", "жанаозен"),
        ("khabarovsk", "хабаровск"),
        ("qaraghandy", "караганды"),
        ("yerlan", "ерлан"),
        ("lukashenko", "лукашенко"),
    ],
)
def test_latin_spellings_of_kazakh_and_russian_names_transliterate(latin, cyrillic):
    assert transliterate(latin) == cyrillic


@pytest.mark.parametrize(
    ("english", "kazakh", "russian"),
    [
        ("Tokayev", "Тоқаевтың жолдауы", "послание Токаева"),
        ("Ashimbaev", "Әшімбаевтың сөзі", "выступил Ашимбаев"),
        ("Lukashenko", "Лукашенкомен кездесті", "встреча с Лукашенко"),
        ("Shymkent", "Шымкентте", "в Шымкенте"),
    ],
)
def test_a_latin_name_in_a_query_meets_its_kazakh_and_russian_spellings(english, kazakh, russian):
    (term,) = query_terms(english, "en")
    assert set(term) & set(tokens(kazakh, "kk")) and set(term) & set(tokens(russian, "ru"))


def test_only_capitalised_latin_words_get_a_cyrillic_key():
    assert query_terms("Tokayev visited the plant", "en") == [
        ("tokayev", "тока"),
        ("visit",),
        ("plant",),
    ]


def test_coverage_counts_whole_keys_and_a_name_once_in_either_spelling():
    terms = [("tokayev", "тока"), ("plant",)]
    weights = term_weights(terms, {"тока": 3, "plant": 1}, passages=100)
    assert weights[("plant",)] > weights[("tokayev", "тока")]  # the rarer key weighs more
    passages = [" тока завод ", " tokayev тока ", " токаев plant ", " plant тока ", " завод "]
    share = weights[("tokayev", "тока")] / sum(weights.values())
    assert coverages(weights, passages).tolist() == pytest.approx([share, share, 1 - share, 1.0, 0.0])


def test_function_words_and_single_letters_are_dropped():
    assert tokens("в Минске и с ним", "ru") == tokens("Минске ним", "ru")
    assert tokens("және мен", "kk") == []
    assert "2026" in tokens("2026 жылы", "kk")


def test_token_spans_point_into_the_text():
    text = "Ерлан Қошанов Минскіге келді."
    for start, end, _ in token_spans(text, "kk"):
        assert text[start:end].strip() == text[start:end] and text[start:end]


def test_match_expression_quotes_each_key_once():
    assert match_expression(["кошан", "кошан", "минск"]) == '"кошан" OR "минск"'
    assert match_expression([]) is None


@pytest.mark.parametrize(
    ("russian_query", "kazakh_spelling"),
    [("Кошанов", "Қошанов"), ("Токаев", "Тоқаев"), ("Мажилис", "Мәжіліс")],
)
def test_a_russian_spelling_finds_the_kazakh_paragraph_lexically(searcher, russian_query, kazakh_spelling):
    results = searcher.search(russian_query, k=3, mode="lexical").results
    assert any(r.lang == "kk" and kazakh_spelling in r.text for r in results), [r.passage_id for r in results]
    top = next(r for r in results if r.lang == "kk")
    assert any(top.text[a:b].startswith(kazakh_spelling) for a, b in top.highlight.terms)


@pytest.mark.parametrize(("english", "spelling"), [("Ashimbaev", "Ашимбаев"), ("Tokayev", "Тоқаев")])
def test_an_english_name_finds_the_cyrillic_paragraphs_lexically(searcher, english, spelling):
    spellings = (spelling, spelling.replace("қ", "к"))  # Kazakh and Russian
    results = searcher.search(english, k=3, mode="lexical").results
    assert results and all(any(s in r.text for s in spellings) for r in results)
    assert any(r.text[a:b].startswith(spellings) for r in results for a, b in r.highlight.terms)


def test_modes_on_the_library(searcher):
    for mode in ("dense", "lexical", "hybrid"):
        results = searcher.search("Лукашенко Минск", k=5, mode=mode).results
        assert len(results) == 5 and [r.rank for r in results] == [1, 2, 3, 4, 5]
    with pytest.raises(QueryError, match="unknown mode"):
        searcher.search("x", mode="magic")
    # Lexical filters work like dense ones.
    ru = searcher.search("Кочанова", k=5, langs=["ru"], mode="lexical").results
    assert ru and {r.lang for r in ru} == {"ru"}


def test_the_words_boost_is_bounded_and_weighs_the_query_language_more(searcher, encoder):
    words_only = Searcher(searcher.index, encoder, Fusion(0.0, LEXICAL_WEIGHT, CROSS_LEXICAL_WEIGHT))
    question = "trade with the Belarusian side"  # English: no passage holds its words
    dense = [r.passage_id for r in searcher.search(question, k=10, mode="dense").results]
    assert [r.passage_id for r in words_only.search(question, k=10).results] == dense
    question = "Lukashenko in Minsk"  # English names: they meet their Cyrillic spellings, as another language
    dense_scores = {r.passage_id: r.score for r in searcher.search(question, k=100, mode="dense").results}
    lifted = [r for r in words_only.search(question, k=30).results if r.score > dense_scores[r.passage_id] + 1e-6]
    assert lifted and all("Лукашенко" in r.text or "Минск" in r.text for r in lifted)
    assert all(r.score - dense_scores[r.passage_id] <= CROSS_LEXICAL_WEIGHT + 1e-6 for r in lifted)
    question = "Кочанова Минск"  # Russian: the names meet Kazakh spellings too, folded and stemmed
    dense_scores = {r.passage_id: r.score for r in searcher.search(question, k=100, mode="dense").results}
    boosted = words_only.search(question, k=30).results
    gain = {r.passage_id: (r.lang, r.score - dense_scores[r.passage_id]) for r in boosted}
    assert {lang for lang, g in gain.values() if g > 1e-6} == {"kk", "ru"}
    assert all(g <= (LEXICAL_WEIGHT if lang == "ru" else CROSS_LEXICAL_WEIGHT) + 1e-6 for lang, g in gain.values())
    assert max(g for lang, g in gain.values() if lang == "ru") > CROSS_LEXICAL_WEIGHT  # own language counts more
    own_only = Searcher(searcher.index, encoder, Fusion(0.0, LEXICAL_WEIGHT, 0.0)).search(question, k=30).results
    assert {r.lang for r in own_only if r.score > dense_scores[r.passage_id] + 1e-6} == {"ru"}
