"""How the default mode, ``hybrid``, scores a passage: its own cosine, its article's, its words.

    score = p + w_a * max(0, a + s - p) + w_l * c     (w_x * c for a passage in another language)

- p: the cosine of the query with the passage;
- a: the cosine of the query with the passage's *article vector* (the whole document encoded as
  one text: embeddings/articles.py). A passage cut out of an article loses the article's context,
  and a headline names what the whole article is about, which no single paragraph may say;
- s: the shift that puts this query's article cosines on the scale of its passage cosines (the
  mean of the best :data:`SCALE_DEPTH` passage cosines minus the mean of the best as many article
  cosines). A whole article sits a few hundredths below its best passage, so without the shift
  the lift almost never fires; with it a passage of the article that matches best is lifted
  toward where its article stands among the passages, and the lift only ever raises a score;
- c: the passage's *coverage* of the query's words, from 0 to 1: the share of the query's
  words (their lexical keys, embeddings/lexical.py: folded, stemmed; a name in Latin letters
  also by its Cyrillic spelling) that the passage holds, each weighted by
  its BM25 inverse document frequency, so a passage holding the query's rare names scores near 1
  and one holding only common words near 0, whatever else the index holds. It is absolute on
  purpose: normalised by the best match instead, the only Russian article of a mixed corpus got
  the whole boost for every Russian query, however weak its match (the seed questions lost their
  articles from the top 3 with the int8 encoders). Passages in the query's own language get
  w_l, the others w_x: across languages only names and numbers meet, which wrong passages share
  more often.

The weights were chosen on the tuning set (``scripts/evaluate.py --tune``, FLORES *dev*
pseudo-articles, never reported) by the rule of :func:`embeddings.evaluation.choose`; the result
and the reported figures are in the README, "Search modes".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ARTICLE_WEIGHT = 0.6  # w_a
LEXICAL_WEIGHT = 0.12  # w_l
CROSS_LEXICAL_WEIGHT = 0.03  # w_x
SCALE_DEPTH = 10  # best passage / article cosines whose means give the shift s


# The fields of Fusion and the settings (environment variables) that set them.
WEIGHT_SETTINGS = {
    "article_weight": "ARTICLE_WEIGHT",
    "lexical_weight": "LEXICAL_WEIGHT",
    "cross_lexical_weight": "CROSS_LEXICAL_WEIGHT",
}


def check_weight(value: float, name: str) -> float:
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ValueError(f"{name} must be a number from 0 to 1, not {value!r}")
    return value


def parse_weight(text: str, name: str) -> float:
    """A weight written as text (a setting, a command-line option): a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number from 0 to 1, not {text!r}") from None
    return check_weight(value, name)


@dataclass(frozen=True)
class Fusion:
    """The weights of :func:`hybrid_score`; all 0 makes ``hybrid`` rank as ``dense``."""

    article_weight: float = ARTICLE_WEIGHT
    lexical_weight: float = LEXICAL_WEIGHT
    cross_lexical_weight: float = CROSS_LEXICAL_WEIGHT

    def __post_init__(self) -> None:
        for name in WEIGHT_SETTINGS:
            check_weight(getattr(self, name), name)

    @property
    def uses_words(self) -> bool:
        return self.lexical_weight > 0 or self.cross_lexical_weight > 0


def article_shift(passage_cosines: np.ndarray, article_cosines: np.ndarray) -> float:
    """s: how far this query's best article cosines sit below its best passage cosines.

    ``article_cosines`` holds one cosine per candidate *article* (not per passage)."""
    if not len(passage_cosines) or not len(article_cosines):
        return 0.0
    best_passages = -np.sort(-passage_cosines)[:SCALE_DEPTH]
    best_articles = -np.sort(-article_cosines)[:SCALE_DEPTH]
    return float(best_passages.mean() - best_articles.mean())


Term = tuple[str, ...]  # one query word's lexical keys: its own, and a Latin name's Cyrillic one


def term_weights(terms: Iterable[Term], document_frequency: Mapping[str, int], passages: int) -> dict[Term, float]:
    """Each distinct query term's BM25 inverse document frequency (a term no passage holds weighs
    most); a term's document frequency is the sum of its keys' (a passage holding both spellings
    counts twice: a bound from above, capped at ``passages``)."""
    weights = {}
    for term in dict.fromkeys(terms):
        df = min(passages, sum(document_frequency.get(key, 0) for key in term))
        weights[term] = math.log(1.0 + (passages - df + 0.5) / (df + 0.5))
    return weights


def coverages(weights: Mapping[Term, float], passages_keys: Sequence[str]) -> np.ndarray:
    """c of each passage: the weighted share of the query's terms that it holds (a term is held
    when any of its keys is). A passage's keys are its lexical keys as one text with a space
    around each (" a b c ", as embeddings.store.Store.candidates gives them)."""
    total = sum(weights.values())
    if total <= 0:
        return np.zeros(len(passages_keys), dtype=np.float32)
    terms_of: dict[str, list[Term]] = {}
    for term in weights:
        for key in term:
            terms_of.setdefault(key, []).append(term)
    # One regular-expression scan per passage finds every query key it holds: a test of each key
    # against each passage in Python took the largest share of hybrid's own time (0.7 ms for 75 candidates).
    pattern = re.compile(" (" + "|".join(map(re.escape, terms_of)) + ")(?= )")
    held = []
    for keys in passages_keys:
        found = {term for key in pattern.findall(keys) for term in terms_of[key]}
        held.append(sum(weights[term] for term in found))
    return (np.asarray(held, dtype=np.float64) / total).astype(np.float32)


def hybrid_score(
    passage_cosines: np.ndarray,
    article_cosines: np.ndarray,
    shift: float,
    coverages: np.ndarray,
    same_language: np.ndarray,
    fusion: Fusion,
) -> np.ndarray:
    """The hybrid score of each candidate passage (arrays aligned by candidate)."""
    lifted = passage_cosines + fusion.article_weight * np.maximum(0.0, article_cosines + shift - passage_cosines)
    word_weights = np.where(same_language, fusion.lexical_weight, fusion.cross_lexical_weight)
    return lifted + word_weights * coverages


TUNED = Fusion()  # the weights chosen on the tuning set: the default
