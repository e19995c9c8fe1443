"""Cutting a cleaned document into passages.

Passages follow paragraphs. A paragraph over the token budget is split on sentence boundaries
(a single sentence over the budget, on word boundaries); a fragment shorter than
``min_chars`` (a subheading, a one-line title) is merged into its neighbour. Every passage keeps
its character offsets into the cleaned document text, and its own sentence spans.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from embeddings.corpus import Document
from embeddings.text import detect_language, sentence_spans


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 512  # capped further by the model's own budget
    min_chars: int = 100

    def as_dict(self) -> dict:
        return {"max_tokens": self.max_tokens, "min_chars": self.min_chars}


@dataclass
class Passage:
    doc_id: str
    ordinal: int
    lang: str
    text: str
    start: int  # offsets into Document.text
    end: int
    sentences: list[tuple[int, int]] = field(default_factory=list)  # offsets into self.text

    @property
    def id(self) -> str:
        return passage_id(self.doc_id, self.ordinal)


def passage_id(doc_id: str, ordinal: int) -> str:
    return f"{doc_id}:{ordinal}"


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]


def _split_long(
    text: str, start: int, end: int, lang: str, count: Callable[[str], int], budget: int
) -> list[tuple[int, int]]:
    """Pack whole sentences (or, for an overlong sentence, words) into pieces within budget."""
    if count(text[start:end]) <= budget:
        return [(start, end)]
    units = [(start + a, start + b) for a, b in sentence_spans(text[start:end], lang)]
    if len(units) <= 1:
        units = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
        if len(units) <= 1:  # one enormous "word": cut it by characters
            step = max(1, (end - start) // 2)
            return _split_long(text, start, start + step, lang, count, budget) + _split_long(
                text, start + step, end, lang, count, budget
            )
    pieces: list[tuple[int, int]] = []
    piece_start = piece_end = None
    for unit_start, unit_end in units:
        if piece_start is not None and count(text[piece_start:unit_end]) <= budget:
            piece_end = unit_end
            continue
        if piece_start is not None:
            pieces.append((piece_start, piece_end))
        if count(text[unit_start:unit_end]) > budget:
            pieces.extend(_split_long(text, unit_start, unit_end, lang, count, budget))
            piece_start = piece_end = None
        else:
            piece_start, piece_end = unit_start, unit_end
    if piece_start is not None:
        pieces.append((piece_start, piece_end))
    return pieces


def chunk_document(
    doc: Document, count_tokens: Callable[[str], int], budget: int, settings: ChunkerSettings
) -> list[Passage]:
    """Passages of ``doc``; ``count_tokens`` and ``budget`` come from the encoder."""
    budget = min(budget, settings.max_tokens)
    text = doc.text
    pieces: list[tuple[int, int]] = []
    for start, end in _paragraph_spans(text):
        pieces.extend(_split_long(text, start, end, doc.lang, count_tokens, budget))
    merged: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None  # a tiny fragment waiting to join the next piece
    for start, end in pieces:
        if pending is not None:
            if count_tokens(text[pending[0] : end]) <= budget:
                start = pending[0]
            else:
                merged.append(pending)
            pending = None
        if end - start < settings.min_chars:
            pending = (start, end)
        else:
            merged.append((start, end))
    if pending is not None:  # a tiny last fragment joins the piece before it
        if merged and count_tokens(text[merged[-1][0] : pending[1]]) <= budget:
            merged[-1] = (merged[-1][0], pending[1])
        else:
            merged.append(pending)
    passages = []
    for ordinal, (start, end) in enumerate(merged):
        body = text[start:end]
        lang = detect_language(body)
        if lang == "other":
            lang = doc.lang
        sentences = []
        for p_start, p_end in _paragraph_spans(body):
            sentences.extend((p_start + a, p_start + b) for a, b in sentence_spans(body[p_start:p_end], lang))
        passages.append(Passage(doc.id, ordinal, lang, body, start, end, sentences))
    return passages
