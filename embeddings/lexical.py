"""Lexical tokens for BM25 (SQLite FTS5): words that match across Kazakh and Russian spellings.

Dense retrieval is strong across languages but weak on rare names, numbers and exact terms; a
BM25 side catches those. For Kazakh and Russian that takes more than lowercasing:
- the pipeline's own normalisation (NFC, Latin look-alikes inside Cyrillic words folded);
- Kazakh-specific letters folded to their nearest Russian ones (ә→а, ғ→г, қ→к, ң→н, ө→о, ұ→у,
  ү→у, һ→х, і→и), so Қошанов / Кошанов, Тоқаев / Токаев and Мәжіліс / Мажилис meet;
- a Russian Snowball stemmer for Russian text, English Snowball for English, and for Kazakh a
  light suffix stripper (plural, case and possessive endings; measured, see README);
- in queries, a name written in Latin letters (Tokayev, Ashimbaev, Shymkent) also stands for its
  Cyrillic spelling, so an English question meets the Kazakh and Russian texts that name it.
The same function tokenises passages at indexing time and queries at search time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import Stemmer

from embeddings.text import normalize

# Recorded in the index manifest: an index whose stored tokens were made by another version would
# silently stop matching queries, so opening it is refused instead.
TOKENIZER_VERSION = 1
KAZAKH_FOLD = str.maketrans("әғқңөұүһіё", "агкноуухие")
_WORD = re.compile(r"\w+")

# Kazakh endings, already folded, longest first. Stripped repeatedly (a word can carry plural +
# possessive + case: "депутаттарымыздың") while the stem keeps at least MIN_KAZAKH_STEM letters.
KAZAKH_SUFFIXES = sorted(
    {
        # plural
        "лар", "лер", "дар", "дер", "тар", "тер",
        # genitive, accusative, dative, locative, ablative, instrumental
        "нын", "нин", "дын", "дин", "тын", "тин",
        "ны", "ни", "ды", "ди", "ты", "ти",
        "га", "ге", "ка", "ке", "на", "не",
        "да", "де", "та", "те", "нда", "нде",
        "дан", "ден", "тан", "тен", "нан", "нен",
        "мен", "бен", "пен",
        # possessive
        "ым", "им", "ын", "ин", "мыз", "миз", "ымыз", "имиз", "сы", "си", "ы", "и",
        # relative "-дағы" and adjectival "-лық"
        "дагы", "деги", "тагы", "теги", "лык", "лик", "дык", "дик", "тык", "тик",
    },
    key=len,
    reverse=True,
)  # fmt: skip
MIN_KAZAKH_STEM = 4

# Function words, folded: Russian and Kazakh prepositions, conjunctions, particles and pronouns,
# and the commonest English ones (queries are often English).
STOP_WORDS = frozenset(
    """
    на по за из от до для при без над под про через как что это так уже еще или но да же ли бы не ни
    его ее их он она оно они мы вы ты то та те тот эта этот все всё был была были быть есть также
    мен мен бен пен жане де да те та ма ме ба бе па пе ол бул осы сол мына кейин ушин туралы
    бойынша сияякты сиякты арасында дейин соң сон биз сиз олар жане немесе бирак гана гой
    the of and to in is was for on that with as by at from are be this it an has have not were
    which or his her their will would said after who been but its what how when where
    """.split()
)


# How Kazakh and Russian names are spelt in Latin letters (BGN/PCGN and the usual press forms),
# longest first. "y" is й after a vowel (Kostanay, Semey) and ы elsewhere (Shymkent, Almaty);
# "ye" is е (Tokayev, Yerlan), "j" is ж (Jomart), "q" is к (Qaraghandy: the 2021 Kazakh alphabet).
LATIN_TO_CYRILLIC = (
    ("shch", "щ"), ("sch", "щ"),
    ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("gh", "г"),
    ("ya", "я"), ("yu", "ю"), ("yo", "ё"), ("ye", "е"),
    ("a", "а"), ("b", "б"), ("c", "к"), ("d", "д"), ("e", "е"), ("f", "ф"), ("g", "г"), ("h", "х"),
    ("i", "и"), ("j", "ж"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"),
    ("q", "к"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("w", "в"), ("x", "кс"),
    ("z", "з"),
)  # fmt: skip
_LATIN_NAME = re.compile(r"[A-Z][a-z]{2,}")  # a capitalised word of Latin letters: a name, maybe
_LATIN_PIECE = re.compile("|".join(latin for latin, _ in LATIN_TO_CYRILLIC) + "|y")
_CYRILLIC_OF = dict(LATIN_TO_CYRILLIC)
_VOWELS = frozenset("aeiou")


def transliterate(word: str) -> str:
    """The Cyrillic spelling of a lowercase Latin-letter Kazakh or Russian name: ashimbaev → ашимбаев."""

    def piece(m: re.Match[str]) -> str:
        if m.group(0) != "y":
            return _CYRILLIC_OF[m.group(0)]
        return "й" if m.start() and word[m.start() - 1] in _VOWELS else "ы"

    return _LATIN_PIECE.sub(piece, word)


def fold(word: str) -> str:
    """Lowercase, with Kazakh-specific letters folded to their nearest Russian ones."""
    return word.casefold().translate(KAZAKH_FOLD)


def stem_kazakh(word: str) -> str:
    for _ in range(3):
        for suffix in KAZAKH_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= MIN_KAZAKH_STEM:
                word = word[: -len(suffix)]
                break
        else:
            break
    return word


@lru_cache(maxsize=4)
def _snowball(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


@lru_cache(maxsize=200_000)
def stem(word: str, lang: str) -> str:
    """The lexical key of one folded word, for text in language ``lang``.

    Kazakh words lose their Kazakh endings and then go through the Russian stemmer too: names
    and loanwords are what the two languages share, and the Russian stemmer trims them
    (Кошанова, Кошанов → кошан) so the Kazakh side must be trimmed the same way (Қошановты →
    кошанов → кошан) to meet it.
    """
    if lang == "en":
        return _snowball("english").stemWord(word)
    if lang == "kk":
        word = stem_kazakh(word)
    if lang in ("kk", "ru"):
        word = _snowball("russian").stemWord(word)
        # The Russian stemmer keeps the surname ending in oblique cases (Кошанова → кошанов) but
        # drops it in the nominative (Кошанов → кошан); dropping it always makes them meet.
        if len(word) >= 6 and word.endswith(("ов", "ев", "ин")):
            word = word[:-2]
    return word


@lru_cache(maxsize=20_000)
def token_spans(text: str, lang: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, key) of every kept word of an already normalised ``text`` (a passage's).
    Cached: the same passages come back in answer after answer, and highlighting needs them."""
    return tuple((m.start(), m.end(), stem(word, lang)) for m, word in _kept_words(text))


def _keep(word: str) -> bool:
    """Drop one-letter words and function words: they match everywhere and mean little."""
    return (len(word) > 1 or word.isdigit()) and word not in STOP_WORDS


def _kept_words(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Each word of ``text`` worth a key, with its folded form."""
    for m in _WORD.finditer(text):
        word = fold(m.group(0))
        if _keep(word):
            yield m, word


def tokens(text: str, lang: str) -> list[str]:
    """The lexical keys of ``text``, in order (what the BM25 index stores and matches)."""
    return [stem(word, lang) for _, word in _kept_words(normalize(text))]


def query_terms(text: str, lang: str) -> list[tuple[str, ...]]:
    """The query's lexical keys as terms, one per distinct kept word: its key, and for a name in
    Latin letters also the key of its Cyrillic spelling (as a Russian text holds it; a Kazakh one
    mostly folds to the same key). Only capitalised words: transliterated, ordinary English words would
    make keys that match Russian words by accident."""
    terms = []
    for m, word in _kept_words(normalize(text)):
        key = stem(word, lang)
        if _LATIN_NAME.fullmatch(m.group(0)):
            cyrillic = stem(transliterate(word), "ru")
            terms.append((key, cyrillic) if cyrillic != key else (key,))
        else:
            terms.append((key,))
    return list(dict.fromkeys(terms))


def match_expression(query_tokens: list[str]) -> str | None:
    """An FTS5 query matching any of the tokens (BM25 ranks the documents that match more)."""
    unique = list(dict.fromkeys(t for t in query_tokens if t))
    if not unique:
        return None
    return " OR ".join(f'"{t}"' for t in unique)  # tokens are \w+ only: nothing to escape
