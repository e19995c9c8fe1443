"""Text normalisation, cleaning, language detection and sentence splitting.

Everything here keeps string lengths where offsets matter: look-alike folding maps one
character to one character, so offsets computed on normalised text stay valid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sentencex import segment

LANGUAGES = ("kk", "ru", "en", "other")

# Letters Kazakh has and Russian lacks; their share among Cyrillic letters tells kk from ru.
KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Latin letters that look like Cyrillic ones; inside a Cyrillic word they are typing slips
# (about 6-12 % of Kazakh rows in public data have them: `Бiлгiм`, `Aмерика`, `cпорттық`).
LATIN_TO_CYRILLIC = str.maketrans(
    "aceopxyiABCEHIKMOPTXY",
    "асеорхуіАВСЕНІКМОРТХУ",
)
_LATIN_LOOKALIKES = frozenset("aceopxyiABCEHIKMOPTXY")
_WORD = re.compile(r"\w+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")

# A photo credit on a line of its own ("Сурет: Т.Таныбаев", "Фото: Пресс-служба ...").
_PHOTO_CREDIT = re.compile(r"^\s*(сурет|фото|фотосурет|фотография|photo|image)\s*:", re.IGNORECASE)
# A channel promotion ("📌 Ertenmedia-ның Telegram арнасына жазылыңыз: ...").
_PROMO_NETWORK = re.compile(r"telegram|whatsapp|instagram|youtube|tiktok|facebook|дзен", re.IGNORECASE)
_PROMO_ASK = re.compile(r"жазылыңыз|подпис|subscribe|арнасы|каналы?\b|follow us", re.IGNORECASE)
_PROMO_MAX_CHARS = 300

_OTHER_LATIN_WORDS = frozenset(
    "der die das den dem des und ist nicht ein eine im zu mit von auf für le la les et est une des du au "
    "el los las y es una del il che di della per ve bir bu ile da de em os as um uma".split()
)
_ENGLISH_WORDS = frozenset(
    "the of and to in is was for on that with as by at from are be this it an has have not were "
    "which or his her their will would said after who been but its how what when where why do does".split()
)


def fold_lookalikes(text: str) -> str:
    """Replace Latin look-alike letters inside words that also contain Cyrillic letters."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if _CYRILLIC.search(word) and _LATIN.search(word):
            if all(ch in _LATIN_LOOKALIKES for ch in _LATIN.findall(word)):
                return word.translate(LATIN_TO_CYRILLIC)
        return word

    return _WORD.sub(fix, text)


def normalize(text: str) -> str:
    """NFC, look-alike folding, and whitespace runs inside a line collapsed to one space."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u00a0", " ").replace("\ufeff", "")
    text = re.sub(r"[ \t\r\f\v\u2000-\u200b\u202f\u205f\u3000]+", " ", text)
    return fold_lookalikes(text)


def is_boilerplate(line: str) -> bool:
    """True for a photo credit or a channel promotion: lines that are not article text."""
    if _PHOTO_CREDIT.match(line):
        return True
    return len(line) <= _PROMO_MAX_CHARS and bool(_PROMO_NETWORK.search(line)) and bool(_PROMO_ASK.search(line))


def clean_paragraphs(lines: Iterable[str]) -> list[str]:
    """Normalised, non-empty, non-boilerplate paragraphs."""
    kept = []
    for line in lines:
        line = normalize(line).strip()
        if line and not is_boilerplate(line):
            kept.append(line)
    return kept


def detect_language(text: str) -> str:
    """``kk``, ``ru``, ``en`` or ``other``, from the letters used.

    Kazakh is told from Russian by its own letters (ә ғ қ ң ө ұ ү һ і): in Kazakh prose they
    are several per cent of Cyrillic letters, in Russian text they only appear in a Kazakh name.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "other"
    cyrillic = [ch for ch in letters if "\u0400" <= ch <= "\u04ff"]
    latin = [ch for ch in letters if ch.isascii()]
    if len(cyrillic) >= max(len(latin), 1) and len(cyrillic) >= 0.5 * len(letters):
        kazakh = sum(ch in KAZAKH_LETTERS for ch in cyrillic)
        return "kk" if kazakh >= max(1, 0.015 * len(cyrillic)) else "ru"
    if len(latin) >= 0.5 * len(letters):
        # Latin text here is English unless it shows another language: its letters with
        # diacritics (ä, é, ş...) or more of another language's function words than English's.
        # Headlines and short queries carry few function words, so none at all still means English.
        words = re.findall(r"[^\W\d_]+", text.lower())
        english = sum(w in _ENGLISH_WORDS for w in words)
        foreign = sum(w in _OTHER_LATIN_WORDS for w in words)
        accented = sum(not ch.isascii() for ch in letters)
        if accented <= 0.01 * len(letters) and foreign <= english:
            return "en"
    return "other"


def sentence_spans(text: str, lang: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, trailing spaces excluded."""
    spans = []
    pos = 0
    for sentence in segment(lang if lang in ("kk", "ru", "en") else "en", text):
        start = text.find(sentence, pos) if sentence else -1
        if start < 0:
            continue
        end = start + len(sentence.rstrip())
        start += len(sentence) - len(sentence.lstrip())
        if end > start:
            spans.append((start, end))
        pos = start + len(sentence.strip())
    if not spans and text.strip():
        stripped_start = len(text) - len(text.lstrip())
        spans.append((stripped_start, len(text.rstrip())))
    return spans
