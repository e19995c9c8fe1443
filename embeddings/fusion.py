"""How the default mode, ``hybrid``, scores a passage: its own cosine, its article's, its words.

    score = p + w_a * max(0, a + s - p) + w_l * b / b_best

- p: the cosine of the query with the passage;
- a: the cosine of the query with the passage's *article vector* (the whole document encoded as
  one text: embeddings/articles.py). A passage cut out of an article loses the article's context,
  and a headline names what the whole article is about, which no single paragraph may say;
- s: the shift that puts this query's article cosines on the scale of its passage cosines (the
  mean of the best :data:`SCALE_DEPTH` passage cosines minus the mean of the best as many article
  cosines). A whole article sits a few hundredths below its best passage, so without the shift
  the lift almost never fires; with it a passage of the article that matches best is lifted
  toward where its article stands among the passages, and the lift only ever raises a score;
- b: the passage's BM25 for the query's words among passages in the *query's own language*
  (0 when it has none), divided by the best such BM25, so the boost is at most ``w_l``: a name or
  a rare term the model blurs decides among close cosines without outvoting them. Across
  languages the words that match are names and numbers wrong passages share too, and one lexical
  list per language cost 0.09-0.12 top-1 on the bitext sets (README, "Search modes").

The weights were chosen on the tuning set only (``scripts/evaluate.py --only dev``, FLORES *dev*
pseudo-articles, never reported): the best mean of its four figures over a grid of w_a x w_l x
depth, none of them below dense by more than 0.005. Reported figures: README, "Search modes".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARTICLE_WEIGHT = 0.6  # w_a
LEXICAL_WEIGHT = 0.04  # w_l
SCALE_DEPTH = 10  # best passage / article cosines whose means give the shift s


@dataclass(frozen=True)
class Fusion:
    """The weights of :func:`hybrid_score`; both 0 makes ``hybrid`` rank as ``dense``."""

    article_weight: float = ARTICLE_WEIGHT
    lexical_weight: float = LEXICAL_WEIGHT

    def __post_init__(self) -> None:
        for name in ("article_weight", "lexical_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also refuses nan
                raise ValueError(f"{name} must be a number from 0 to 1, not {value!r}")


def article_shift(passage_cosines: np.ndarray, article_cosines: np.ndarray) -> float:
    """s: how far this query's best article cosines sit below its best passage cosines.

    ``article_cosines`` holds one cosine per candidate *article* (not per passage)."""
    if not len(passage_cosines) or not len(article_cosines):
        return 0.0
    best_passages = -np.sort(-passage_cosines)[:SCALE_DEPTH]
    best_articles = -np.sort(-article_cosines)[:SCALE_DEPTH]
    return float(best_passages.mean() - best_articles.mean())


def lexical_share(bm25: np.ndarray) -> np.ndarray:
    """b / b_best for each passage (0 where the passage matched none of the query's words)."""
    best = float(bm25.max()) if len(bm25) else 0.0
    return bm25 / best if best > 0 else np.zeros_like(bm25)


def hybrid_score(
    passage_cosines: np.ndarray,
    article_cosines: np.ndarray,
    shift: float,
    bm25: np.ndarray,
    fusion: Fusion,
) -> np.ndarray:
    """The hybrid score of each candidate passage (arrays aligned by candidate)."""
    lifted = passage_cosines + fusion.article_weight * np.maximum(0.0, article_cosines + shift - passage_cosines)
    return lifted + fusion.lexical_weight * lexical_share(bm25)


TUNED = Fusion()  # the weights chosen on the tuning set: the default
