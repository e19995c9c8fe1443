"""What the benchmark runs on: real documents and queries from the evaluation folder (the seed
articles when it is absent), and the texts the scale section draws its vectors from."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

from embeddings.chunking import ChunkerSettings, Passage, chunk_document
from embeddings.corpus import Document, make_document, read_corpus, read_jsonl
from embeddings.encoders import Encoder

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval"
FLORES_DOCS = "flores200_devtest_docs_kk_ru_en.jsonl"
FLORES_SENTENCES = "flores200_devtest_kk_ru_en.jsonl"
HEADLINES = "derived/flores_wikinews_title2article.queries.jsonl"
KAZQAD_QUESTIONS = "kazqad_val.queries.jsonl"
# The FLORES articles carry no dates: the benchmark gives them one a day from here (a story's kk
# and ru versions the same day), so that a date range has something to keep.
FIRST_DAY = datetime.date(2025, 1, 1)
SCALE_TEXT_FILES = (
    "derived/flores_wikinews_title2article.passages.jsonl",
    "kazqad_val.passages.jsonl",
    FLORES_SENTENCES,
    "flores_sib200_kk_ru_en.jsonl",
    "tatoeba_laser_kk_en.jsonl",
    "tatoeba_laser_ru_en.jsonl",
    "tatoeba_v20210807_kk_en.jsonl",
    "tatoeba_v20210807_kk_ru.jsonl",
    "wmt19_newstest_kk_en.jsonl",
    "xwmt_kk_ru_en.jsonl",
)


def load_documents(eval_dir: Path, limit: int | None) -> tuple[list[Document], str]:
    """The FLORES devtest articles, kk and ru versions as separate documents dated a day apart
    from FIRST_DAY (the seeds when the evaluation folder is absent), and a label saying which."""
    path = Path(eval_dir) / FLORES_DOCS
    if path.is_file():
        rows = read_jsonl(path, limit=limit)
        docs = [
            make_document(
                f"{row['doc_id']}-{lang}",
                row[lang],
                lang=lang,
                date=(FIRST_DAY + datetime.timedelta(days=number)).isoformat(),
            )
            for number, row in enumerate(rows)
            for lang in ("kk", "ru")
            if isinstance(row.get(lang), str) and row[lang].strip()
        ]
        return docs, f"FLORES-200 devtest articles ({path.name}), kk + ru"
    return list(read_corpus(SEEDS)), "the seed articles (evaluation data absent)"


def load_queries(eval_dir: Path, quick: bool) -> list[str]:
    """Real queries in the three languages: WikiNews headlines (en) and FLORES sentences (kk, ru)."""
    eval_dir = Path(eval_dir)
    per_kind = 3 if quick else 40
    queries: list[str] = []
    if (eval_dir / HEADLINES).is_file():
        queries += [str(q["query"]) for q in read_jsonl(eval_dir / HEADLINES, limit=per_kind)]
    if (eval_dir / FLORES_SENTENCES).is_file():
        rows = read_jsonl(eval_dir / FLORES_SENTENCES, limit=2 * per_kind)
        queries += [row["kk"] for row in rows[::2]] + [row["ru"] for row in rows[1::2]]
    if not queries:
        queries = [doc.title for doc in read_corpus(SEEDS)]
    return queries


def scale_texts(eval_dir: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """Distinct texts of the evaluation sets (passages, and sentences in kk, ru and en) and
    questions (KazQAD, headlines); empty lists when the data is absent."""
    eval_dir = Path(eval_dir)
    texts: list[str] = []
    for name in SCALE_TEXT_FILES:
        if (eval_dir / name).is_file():
            for row in read_jsonl(eval_dir / name, limit=limit):
                texts += [row[f] for f in ("text", "kk", "ru", "en") if isinstance(row.get(f), str) and row[f].strip()]
    questions: list[str] = []
    for name in (KAZQAD_QUESTIONS, HEADLINES):
        if (eval_dir / name).is_file():
            questions += [str(row["query"]) for row in read_jsonl(eval_dir / name, limit=limit)]
    return list(dict.fromkeys(texts)), questions


def chunk_all(documents: Sequence[Document], encoder: Encoder) -> list[Passage]:
    """The documents' passages as the index build cuts them."""
    settings = ChunkerSettings()
    budget = encoder.passage_token_budget()
    return [p for doc in documents for p in chunk_document(doc, encoder.token_count, budget, settings)]
