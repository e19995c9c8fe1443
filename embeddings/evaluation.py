"""Retrieval quality on real third-party data (``../shared/eval``), through the project's pipeline.

Every set is indexed with :func:`embeddings.index.build` into a temporary index directory (so the
documents are cleaned, chunked and encoded with the ``passage:`` prompt exactly as a corpus
would be) and queried through :class:`embeddings.search.Searcher` with ``query:`` vectors.

- Bitext sets (FLORES-200 devtest, Tatoeba kk-ru, X-WMT): index one language's sentences, query
  with another's; top-1 accuracy per direction. A hit is the gold row, or a row whose text is
  identical to the gold row's (Tatoeba repeats some sentences).
- KazQAD: index the 697 passages (title + text), query with the Kazakh questions; recall@10,
  MRR@10 and nDCG@10 (binary relevance) over passages, a passage split into several chunks
  counting once, at its best rank.
- Headline → article: index the kk / ru / en article texts, query with the English WikiNews
  headline restricted to kk and ru passages (the cross-lingual case); hit@1 and recall@10 over
  the article's kk and ru versions.
- Counterparts: FLORES articles in kk and ru, a sentence per paragraph, with every other article's
  ru version left out; for each document the best document in the other language by the document
  margin (:func:`embeddings.alignment.counterparts`): precision and recall of those shown at
  ``COUNTERPART_MIN_MARGIN``, and the margins that separate true from wrong ones.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from embeddings.alignment import COUNTERPART_MIN_MARGIN, counterparts
from embeddings.corpus import CorpusError, Document, make_document, read_corpus, read_jsonl
from embeddings.fusion import TUNED, Fusion
from embeddings.index import build
from embeddings.search import MAX_K, MODES, Searcher, SearchResult
from embeddings.text import normalize

QUERY_BATCH = 64

FLORES = "flores200_devtest_kk_ru_en.jsonl"
TATOEBA = "tatoeba_v20210807_kk_ru.jsonl"
XWMT = "xwmt_kk_ru_en.jsonl"
KAZQAD_QUERIES = "kazqad_val.queries.jsonl"
KAZQAD_PASSAGES = "kazqad_val.passages.jsonl"
HEADLINE_QUERIES = "derived/flores_wikinews_title2article.queries.jsonl"
HEADLINE_PASSAGES = "derived/flores_wikinews_title2article.passages.jsonl"
FLORES_DOCS = "flores200_devtest_docs_kk_ru_en.jsonl"
SIB200 = "flores_sib200_kk_ru_en.jsonl"  # its FLORES dev rows: the tuning set, never reported
ARTICLE_LANGS = ("kk", "ru")


@dataclass(frozen=True)
class Column:
    """One way of ranking a set is scored in: a search mode, and the hybrid mode's weights."""

    label: str
    mode: str
    fusion: Fusion = TUNED


@dataclass(frozen=True)
class Ranking:
    """The columns of a run: each set is indexed and its queries encoded once, then searched in each."""

    columns: tuple[Column, ...]

    @classmethod
    def of(cls, modes: Sequence[str] = MODES, fusion: Fusion = TUNED) -> Ranking:
        return cls(tuple(Column(mode, mode, fusion) for mode in modes))

    @classmethod
    def grid(cls, fusions: Iterable[Fusion]) -> Ranking:
        """dense, then hybrid at each of these weights: how the weights are chosen on the tuning set."""
        hybrid = (Column(_label(f), "hybrid", f) for f in fusions)
        return cls((Column("dense", "dense"), *hybrid))


def _label(fusion: Fusion) -> str:
    return f"a{fusion.article_weight:g} l{fusion.lexical_weight:g} x{fusion.cross_lexical_weight:g}"


# The weights tried on the tuning set (``scripts/evaluate.py --tune``): article x own-language
# words x other-language words.
TUNING_GRID = tuple(
    Fusion(article, lexical, cross)
    for article in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    for lexical in (0.0, 0.04, 0.06, 0.08, 0.1, 0.12)
    for cross in (0.0, 0.03)
)
TUNING_TOLERANCE = 0.005  # no tuning figure may fall further below dense's
SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"

# The cross-lingual seed questions: (question, the seed articles that answer it). Half are asked in
# another language than their article. Every one must keep an article in the top 3 passages of the
# default mode (tests/test_search.py); the tuning rule holds the weights to that too.
SEED_QUESTIONS: list[tuple[str, set[str]]] = [
    ("Lukashenko trade with Kazakhstan", {"000_51035c6eea1197a6", "004_4c27e8987007a86f"}),
    ("Kazakh foreign minister meets British members of parliament in London", {"002_6b6f623981be19cf"}),
    ("Ashimbaev CIS Interparliamentary Assembly", {"003_50027884f20b3e6f"}),
    ("Chairman of the upper house of Tajikistan's parliament visits Astana", {"001_fdb75db5e4a0ae0c"}),
    ("Lindsay Hoyle, Speaker of the House of Commons", {"002_6b6f623981be19cf"}),
    ("Встреча Кошанова с Лукашенко в Минске", {"000_51035c6eea1197a6", "004_4c27e8987007a86f"}),
    ("Министр иностранных дел Казахстана встретился с британскими депутатами", {"002_6b6f623981be19cf"}),
    ("Рустами Эмомали прибыл в Астану с официальным визитом", {"001_fdb75db5e4a0ae0c"}),
    ("Цифровой кодекс и закон об искусственном интеллекте", {"000_51035c6eea1197a6"}),
    ("Ашимбаев ТМД Парламентаралық Ассамблеясының отырысында сөз сөйледі", {"003_50027884f20b3e6f"}),
    ("Лукашенко бір-бірімізді жоғалтпайық деді", {"004_4c27e8987007a86f"}),
    ("Беларусь пен Қазақстан арасындағы тауар айналымы", {"000_51035c6eea1197a6", "004_4c27e8987007a86f"}),
    ("Тәжікстан депутаттары Қазақстандағы электрондық үкімет тәжірибесімен танысты", {"001_fdb75db5e4a0ae0c"}),
]
SEED_METRIC = "seed questions top-3"
SEED_POOL_METRIC = "top-3 among articles"


ALL_DIRECTIONS = (("kk", "ru"), ("ru", "kk"), ("en", "kk"), ("en", "ru"))


@dataclass
class SetResult:
    name: str
    description: str
    metrics: dict[str, dict[str, float]]  # metric -> mode -> value
    counts: dict[str, int]  # queries behind each metric
    pool: int  # documents indexed (per side for bitext sets)
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self) | {"seconds": round(self.seconds, 2)}


@dataclass
class Progress:
    """Where the long steps report: ``add_total(n)`` as work is planned, ``update(n)`` as it is done."""

    add_total: Callable[[int], None] = lambda n: None
    update: Callable[[int], None] = lambda n: None


@dataclass
class EvalSet:
    name: str
    description: str
    files: tuple[str, ...]
    run: Callable[..., SetResult] = field(repr=False)
    tuning: bool = False  # chooses weights and thresholds; run only when asked for, never reported


def _safe_id(raw: str) -> str:
    """Document ids allow letters, digits, '_', '-', '.': FLORES uses '#'."""
    return raw.replace("#", ".")


def _build_index(documents: list[Document], where: Path, encoder, progress: Progress) -> Searcher:
    build(documents, where, encoder, progress=progress.update, on_total=progress.add_total)
    return Searcher.open(where, encoder)


def _encode_queries(encoder, texts: Sequence[str], progress: Progress) -> np.ndarray:
    parts = []
    for lo in range(0, len(texts), QUERY_BATCH):
        batch = [normalize(t).strip() for t in texts[lo : lo + QUERY_BATCH]]
        parts.append(encoder.encode_queries(batch))
        progress.update(len(batch))
    return np.vstack(parts) if parts else np.empty((0, encoder.identity.dimension), np.float32)


def _search(
    searcher: Searcher,
    texts: Sequence[str],
    vectors: np.ndarray,
    k: int,
    column: Column,
    langs: Sequence[str] | None = None,
) -> list[list[SearchResult]]:
    return searcher.search_encoded(texts, vectors, k, langs, column.mode, column.fusion)


def _ranked_docs(
    searcher: Searcher,
    texts: Sequence[str],
    vectors: np.ndarray,
    k_docs: int,
    column: Column,
    langs: Sequence[str] | None = None,
) -> list[list[str]]:
    """Each query's documents, best first, a document counted once at its best passage."""
    out = []
    for lo in range(0, len(texts), QUERY_BATCH):
        found = _search(searcher, texts[lo : lo + QUERY_BATCH], vectors[lo : lo + QUERY_BATCH], MAX_K, column, langs)
        out.extend(list(dict.fromkeys(r.doc_id for r in results))[:k_docs] for results in found)
    return out


# ---------------------------------------------------------------------------------------------
# Metrics (binary relevance)


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], 1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], 1) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def _top_is_relevant(ranked: Sequence[str], relevant: set[str]) -> float:
    return float(bool(ranked) and ranked[0] in relevant)


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# The sets


def _bitext(
    name: str,
    description: str,
    path: Path,
    directions: Sequence[tuple[str, str]],
    encoder,
    tmp: Path,
    limit: int | None,
    progress: Progress,
    ranking: Ranking,
) -> SetResult:
    started = time.perf_counter()
    rows = read_jsonl(path, limit)
    texts: dict[str, list[str]] = {}
    for lang in {lang for pair in directions for lang in pair}:
        texts[lang] = [row.get(lang) if isinstance(row.get(lang), str) else "" for row in rows]

    searchers: dict[str, Searcher] = {}
    doc_text: dict[str, dict[str, str]] = {}  # target lang -> doc id -> cleaned text
    pool = 0
    for target in dict.fromkeys(t for _, t in directions):
        documents = []
        for i, text in enumerate(texts[target]):
            try:
                documents.append(make_document(f"r{i:06d}", text, lang=target))
            except ValueError:
                continue  # an empty row cannot be a target; its pairs are left out below
        doc_text[target] = {d.id: d.text for d in documents}
        searchers[target] = _build_index(documents, tmp / f"{name}-{target}", encoder, progress)
        pool = max(pool, len(documents))

    metrics: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for source in dict.fromkeys(s for s, _ in directions):
        targets = [t for s, t in directions if s == source]
        usable = [i for i, text in enumerate(texts[source]) if text.strip()]
        progress.add_total(len(usable))
        vectors = _encode_queries(encoder, [texts[source][i] for i in usable], progress)
        for target in targets:
            gold_texts = doc_text[target]
            rows_ok = [n for n, i in enumerate(usable) if f"r{i:06d}" in gold_texts]
            key = f"{source}→{target} top1"
            metrics[key], counts[key] = {}, len(rows_ok)
            for column in ranking.columns:
                found = _search(
                    searchers[target], [texts[source][usable[n]] for n in rows_ok], vectors[rows_ok], 1, column
                )
                hits = 0
                for n, results in zip(rows_ok, found, strict=True):
                    gold = f"r{usable[n]:06d}"
                    if results and (results[0].doc_id == gold or gold_texts.get(results[0].doc_id) == gold_texts[gold]):
                        hits += 1
                metrics[key][column.label] = round(hits / len(rows_ok), 4) if rows_ok else float("nan")
    for searcher in searchers.values():
        searcher.index.close()
    return SetResult(name, description, metrics, counts, pool, time.perf_counter() - started)


def _flores(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    description = SETS["flores"].description
    return _bitext("flores", description, data / FLORES, ALL_DIRECTIONS, encoder, tmp, limit, progress, ranking)


def _tatoeba(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    directions = (("kk", "ru"), ("ru", "kk"))
    description = SETS["tatoeba"].description
    return _bitext("tatoeba", description, data / TATOEBA, directions, encoder, tmp, limit, progress, ranking)


def _xwmt(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    description = SETS["xwmt"].description
    return _bitext("xwmt", description, data / XWMT, ALL_DIRECTIONS, encoder, tmp, limit, progress, ranking)


def _ranked_retrieval(
    name: str,
    documents: list[Document],
    texts: list[str],
    relevant: list[set[str]],
    scorers: dict[str, Callable[[Sequence[str], set[str]], float]],
    encoder,
    tmp: Path,
    progress: Progress,
    ranking: Ranking,
    started: float,
    langs: Sequence[str] | None = None,
) -> SetResult:
    """Index ``documents``, search with each query text (among ``langs``) in every mode, and score
    each metric in ``scorers`` over the top 10 documents of the queries that have relevant ones."""
    searcher = _build_index(documents, tmp / name, encoder, progress)
    progress.add_total(len(texts))
    vectors = _encode_queries(encoder, texts, progress)
    metrics: dict[str, dict[str, float]] = {metric: {} for metric in scorers}
    judged_count = sum(1 for rel in relevant if rel)
    for column in ranking.columns:
        ranked = _ranked_docs(searcher, texts, vectors, 10, column, langs)
        judged = [(r, rel) for r, rel in zip(ranked, relevant, strict=True) if rel]
        for metric, score in scorers.items():
            metrics[metric][column.label] = _mean(score(r, rel) for r, rel in judged)
    searcher.index.close()
    return SetResult(
        name,
        SETS[name].description if name in SETS else "",
        metrics,
        dict.fromkeys(metrics, judged_count),
        len(documents),
        time.perf_counter() - started,
    )


def _kazqad(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    started = time.perf_counter()
    queries = [q for q in read_jsonl(data / KAZQAD_QUERIES, limit) if isinstance(q.get("query"), str)]
    passages = read_jsonl(data / KAZQAD_PASSAGES)
    if limit is not None:
        # A slice: the sliced questions' relevant passages plus the first `limit` as distractors.
        wanted = {p for q in queries for p in q.get("relevant_passage_ids", [])}
        passages = [p for n, p in enumerate(passages) if n < limit or p.get("id") in wanted]
    documents = []
    for p in passages:
        title = p.get("title") or ""
        try:
            documents.append(
                make_document(str(p["id"]), f"{title}\n{p.get('text', '')}", title=title or None, lang="kk")
            )
        except (KeyError, ValueError):
            continue
    relevant = [set(q.get("relevant_passage_ids", [])) for q in queries]
    scorers = {
        "recall@10": partial(recall_at, k=10),
        "MRR@10": partial(mrr_at, k=10),
        "nDCG@10": partial(ndcg_at, k=10),
    }
    texts = [q["query"] for q in queries]
    return _ranked_retrieval("kazqad", documents, texts, relevant, scorers, encoder, tmp, progress, ranking, started)


def _headline(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    started = time.perf_counter()
    queries = [q for q in read_jsonl(data / HEADLINE_QUERIES, limit) if isinstance(q.get("query"), str)]
    passages = read_jsonl(data / HEADLINE_PASSAGES)
    if limit is not None:
        wanted_docs = {str(q["id"]).split("#")[0] for q in queries}
        passages = [p for p in passages if p.get("doc_id") in wanted_docs]
    documents = []
    for p in passages:
        try:
            documents.append(make_document(_safe_id(str(p["id"])), p.get("text", ""), lang=p.get("lang")))
        except (KeyError, ValueError):
            continue
    relevant = [{_safe_id(p) for p in q.get("relevant_passage_ids", [])} for q in queries]
    scorers = {"hit@1": _top_is_relevant, "recall@10": partial(recall_at, k=10)}
    texts = [q["query"] for q in queries]
    return _ranked_retrieval(
        "headline", documents, texts, relevant, scorers, encoder, tmp, progress, ranking, started, langs=["kk", "ru"]
    )


def _article_documents(articles: Iterable[tuple[str, dict[str, list[str]]]]) -> list[Document]:
    """Each article in kk and in ru, one sentence per paragraph, so an article has several passages."""
    documents = []
    for article_id, sentences in articles:
        for lang in ARTICLE_LANGS:
            text = "\n".join(s for s in sentences[lang] if s.strip())
            try:
                documents.append(make_document(f"{article_id}.{lang}", text, lang=lang))
            except ValueError:
                continue
    return documents


def _article_retrieval(
    name: str,
    documents: list[Document],
    queries: list[tuple[str, str]],
    encoder,
    tmp: Path,
    progress: Progress,
    ranking: Ranking,
    started: float,
) -> SetResult:
    """(query text, article id) pairs against kk + ru articles: hit@1 and recall@10 over both
    language versions, documents ranked at their best passage."""
    ids = {doc.id for doc in documents}
    relevant = [{f"{article}.{lang}" for lang in ARTICLE_LANGS} & ids for _, article in queries]
    scorers = {"hit@1": _top_is_relevant, "recall@10": partial(recall_at, k=10)}
    texts = [text for text, _ in queries]
    return _ranked_retrieval(
        name, documents, texts, relevant, scorers, encoder, tmp, progress, ranking, started, langs=ARTICLE_LANGS
    )


def _sentences_by_language(rows: Sequence[dict]) -> dict[str, list[str]]:
    return {lang: [str(r.get(lang) or "") for r in rows] for lang in ARTICLE_LANGS}


def devtest_articles(data: Path, limit: int | None = None) -> list[Document]:
    """The (first ``limit``) FLORES devtest articles in kk and in ru, a sentence per paragraph,
    ids ``<article id>.<lang>``."""
    sentences = read_jsonl(data / FLORES)
    articles = []
    for doc in read_jsonl(data / FLORES_DOCS, limit):
        first = int(doc["first_line"]) - 1
        rows = sentences[first : first + int(doc["n_sents"])]
        articles.append((_safe_id(str(doc["doc_id"])), _sentences_by_language(rows)))
    return _article_documents(articles)


def _articles(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    started = time.perf_counter()
    queries = [
        (q["query"], _safe_id(str(q["id"]).split("#")[0]))
        for q in read_jsonl(data / HEADLINE_QUERIES, limit)
        if isinstance(q.get("query"), str)
    ]
    return _article_retrieval("articles", devtest_articles(data), queries, encoder, tmp, progress, ranking, started)


def dev_articles(data: Path, keep_lead: bool = False) -> tuple[list[Document], list[tuple[str, str]]]:
    """The tuning set: pseudo-articles from FLORES *dev* rows (runs of consecutive lines of one
    topic in SIB-200) whose first sentence, in kk, ru and en, is the query, as a news lead stands
    for its story; the article keeps that sentence or not (``keep_lead``). Runs of one line stay
    as distractors."""
    rows = sorted(
        (r for r in read_jsonl(data / SIB200) if r.get("flores_split") == "dev"), key=lambda r: r["flores_line"]
    )
    runs: list[list[dict]] = []
    for row in rows:
        last = runs[-1][-1] if runs else None
        if last and row["flores_line"] == last["flores_line"] + 1 and row["category"] == last["category"]:
            runs[-1].append(row)
        else:
            runs.append([row])
    articles, queries = [], []
    for n, run in enumerate(runs):
        article_id = f"dev{n:04d}"
        body = run[1:] if len(run) > 1 and not keep_lead else run
        articles.append((article_id, _sentences_by_language(body)))
        if len(run) > 1:
            queries += [(str(run[0][lang]), article_id) for lang in ("kk", "ru", "en") if run[0].get(lang)]
    return _article_documents(articles), queries


def _dev(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    """Both forms of the tuning set: the lead sentence kept in its article, and left out."""
    started = time.perf_counter()
    metrics: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for keep_lead, label in ((True, "lead kept"), (False, "lead left out")):
        documents, queries = dev_articles(data, keep_lead)
        name = f"dev-{label.replace(' ', '-')}"
        part = _article_retrieval(name, documents, queries[:limit], encoder, tmp, progress, ranking, started)
        metrics |= {f"{label} {m}": v for m, v in part.metrics.items()}
        counts |= {f"{label} {m}": n for m, n in part.counts.items()}
    return SetResult("dev", SETS["dev"].description, metrics, counts, part.pool, time.perf_counter() - started)


def _seed_questions(
    seeds_dir: Path,
    encoder,
    tmp: Path,
    progress: Progress,
    ranking: Ranking,
    distractors: Sequence[Document] = (),
    name: str = "seeds",
) -> SetResult:
    """The share of :data:`SEED_QUESTIONS` with an answering article in the top 3 passages, in
    an index of the seed articles and ``distractors``."""
    started = time.perf_counter()
    documents = list(read_corpus(seeds_dir)) + list(distractors)
    searcher = _build_index(documents, tmp / name, encoder, progress)
    texts = [question for question, _ in SEED_QUESTIONS]
    vectors = _encode_queries(encoder, texts, progress)
    shares = {}
    for column in ranking.columns:
        found = _search(searcher, texts, vectors, 3, column)
        pairs = zip(found, SEED_QUESTIONS, strict=True)
        hits = [bool({r.doc_id for r in results} & articles) for results, (_, articles) in pairs]
        shares[column.label] = round(sum(hits) / len(hits), 4)
    searcher.index.close()
    metric = SEED_METRIC if not distractors else SEED_POOL_METRIC
    metrics = {metric: shares}
    counts = {metric: len(texts)}
    return SetResult(name, "seed questions", metrics, counts, len(documents), time.perf_counter() - started)


def _seeds_among_articles(
    data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking
) -> SetResult:
    """The seed questions asked where a news archive would hold their articles: among the FLORES
    devtest articles (kk + ru, a sentence per paragraph), whose passages compete for the top 3."""
    distractors = devtest_articles(data, limit)
    return _seed_questions(SEEDS_DIR, encoder, tmp, progress, ranking, distractors, "seeds-pool")


COUNTERPART_COLUMN = "document margin"  # the counterpart sets' figures depend on no search mode
# The thresholds tried on counterparts-dev; COUNTERPART_MIN_MARGIN is the one with the best F1 there.
COUNTERPART_GRID = (1.0, 1.005, 1.01, 1.015, 1.02, 1.025, 1.03)


def _without_every_other_russian(documents: list[Document]) -> list[Document]:
    """Articles in order, kk and ru: the ru version of every other article left out, so half the
    Kazakh articles have a counterpart and half have none."""
    articles = list(dict.fromkeys(doc.id.rsplit(".", 1)[0] for doc in documents))
    dropped = {f"{article}.ru" for article in articles[::2]}
    return [doc for doc in documents if doc.id not in dropped]


def counterpart_margins(
    documents: list[Document], encoder, tmp: Path, progress: Progress
) -> list[tuple[str, bool, float]]:
    """For each document that has a best document in the other language (kk ↔ ru): (its direction
    "kk→ru" or "ru→kk", whether that best one is its own other version, the margin)."""
    searcher = _build_index(documents, tmp / "counterparts", encoder, progress)
    found = []
    for doc in documents:
        article, lang = doc.id.rsplit(".", 1)
        other = "ru" if lang == "kk" else "kk"
        best = [
            pair
            for pair in counterparts(searcher.index, doc.id, min_margin=0.0)
            if pair.target_id.endswith(f".{other}")
        ]
        if best:
            true = best[0].target_id == f"{article}.{other}"
            found.append((f"{lang}→{other}", true, best[0].margin))
    searcher.index.close()
    return found


def _having_counterparts(ids: set[str], lang: str, other: str) -> int:
    return sum(1 for d in ids if d.endswith(f".{lang}") and f"{d.rsplit('.', 1)[0]}.{other}" in ids)


def best_counterpart_margin(margins: list[tuple[str, bool, float]], ids: set[str]) -> float:
    """The threshold of COUNTERPART_GRID with the best F1 of the counterparts shown (both
    directions together); ties go to the higher threshold (fewer wrong ones shown)."""
    having = _having_counterparts(ids, "kk", "ru") + _having_counterparts(ids, "ru", "kk")

    def f1(threshold: float) -> float:
        shown = [true for _, true, margin in margins if margin >= threshold]
        right = sum(shown)
        return 2 * right / (len(shown) + having) if shown or having else 0.0

    return max(reversed(COUNTERPART_GRID), key=f1)


def _counterpart_figures(
    name: str, documents: list[Document], encoder, tmp: Path, progress: Progress, started: float
) -> SetResult:
    documents = _without_every_other_russian(documents)
    ids = {doc.id for doc in documents}
    margins = counterpart_margins(documents, encoder, tmp, progress)
    metrics: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    for direction, (lang, other) in (("kk→ru", ("kk", "ru")), ("ru→kk", ("ru", "kk"))):
        having = _having_counterparts(ids, lang, other)
        shown = [true for kind, true, margin in margins if kind == direction and margin >= COUNTERPART_MIN_MARGIN]
        metrics[f"{direction} precision"] = {COUNTERPART_COLUMN: round(sum(shown) / len(shown), 4) if shown else 1.0}
        metrics[f"{direction} recall"] = {COUNTERPART_COLUMN: round(sum(shown) / having, 4) if having else 1.0}
        counts[f"{direction} precision"], counts[f"{direction} recall"] = len(shown), having
    true_margins = [margin for _, true, margin in margins if true]
    wrong_margins = [margin for _, true, margin in margins if not true]
    if true_margins and wrong_margins:
        metrics["true margin p1"] = {COUNTERPART_COLUMN: round(float(np.percentile(true_margins, 1)), 4)}
        metrics["wrong margin max"] = {COUNTERPART_COLUMN: round(max(wrong_margins), 4)}
        counts["true margin p1"], counts["wrong margin max"] = len(true_margins), len(wrong_margins)
    if SETS[name].tuning:
        metrics["best threshold"] = {COUNTERPART_COLUMN: best_counterpart_margin(margins, ids)}
        counts["best threshold"] = len(margins)
    return SetResult(name, SETS[name].description, metrics, counts, len(documents), time.perf_counter() - started)


def _counterparts(data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking) -> SetResult:
    started = time.perf_counter()
    return _counterpart_figures("counterparts", devtest_articles(data, limit), encoder, tmp, progress, started)


def _counterparts_dev(
    data: Path, encoder, tmp: Path, limit: int | None, progress: Progress, ranking: Ranking
) -> SetResult:
    started = time.perf_counter()
    documents, _ = dev_articles(data, keep_lead=True)
    return _counterpart_figures(
        "counterparts-dev", documents[: 2 * limit if limit else None], encoder, tmp, progress, started
    )


SETS: dict[str, EvalSet] = {
    "flores": EvalSet("flores", "FLORES-200 devtest sentences, top-1 bitext retrieval", (FLORES,), _flores),
    "tatoeba": EvalSet("tatoeba", "Tatoeba kk-ru (v2021-08-07), top-1 bitext retrieval", (TATOEBA,), _tatoeba),
    "xwmt": EvalSet("xwmt", "X-WMT (WMT20 news) kk/ru/en, top-1 bitext retrieval", (XWMT,), _xwmt),
    "kazqad": EvalSet(
        "kazqad", "KazQAD validation, kk question → kk passage", (KAZQAD_QUERIES, KAZQAD_PASSAGES), _kazqad
    ),
    "headline": EvalSet(
        "headline", "FLORES WikiNews en headline → kk/ru article", (HEADLINE_QUERIES, HEADLINE_PASSAGES), _headline
    ),
    "articles": EvalSet(
        "articles",
        "FLORES devtest articles, a sentence per paragraph, kk + ru in one pool; en WikiNews headline → article",
        (FLORES, FLORES_DOCS, HEADLINE_QUERIES),
        _articles,
    ),
    "seeds-pool": EvalSet(
        "seeds-pool",
        "the 13 cross-lingual seed questions among the FLORES devtest articles (kk + ru): answer in the top 3",
        (FLORES, FLORES_DOCS),
        _seeds_among_articles,
    ),
    "counterparts": EvalSet(
        "counterparts",
        "FLORES devtest articles kk + ru, every other ru version left out: the other version by document margin",
        (FLORES, FLORES_DOCS),
        _counterparts,
    ),
    "counterparts-dev": EvalSet(
        "counterparts-dev",
        "TUNING ONLY (not reported): the same on FLORES dev pseudo-articles, where the margin threshold is chosen",
        (SIB200,),
        _counterparts_dev,
        tuning=True,
    ),
    "dev": EvalSet(
        "dev",
        "TUNING ONLY (not reported): FLORES dev pseudo-articles, first sentence in kk/ru/en → the rest",
        (SIB200,),
        _dev,
        tuning=True,
    ),
}
REPORTED = [name for name, s in SETS.items() if not s.tuning]


def check_data(data_dir: Path, names: Sequence[str]) -> None:
    """Fail before any work when the folder or one of the needed files is missing."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CorpusError(f"{data_dir}: no such folder (expected the shared evaluation data, e.g. ../shared/eval)")
    for name in names:
        for file in SETS[name].files:
            if not (data_dir / file).is_file():
                raise CorpusError(f"{data_dir / file}: missing (needed by the {name!r} set)")


def evaluate(
    data_dir: Path,
    encoder,
    only: Sequence[str] | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    on_result: Callable[[SetResult], None] | None = None,
    ranking: Ranking | None = None,
) -> list[SetResult]:
    """Run the chosen sets (every reported set by default) on ``data_dir`` in each column of
    ``ranking`` (every mode by default);
    ``limit`` slices each set."""
    names = list(only) if only else REPORTED
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise ValueError(f"unknown evaluation set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    check_data(data_dir, names)
    progress = progress or Progress()
    ranking = ranking or Ranking.of()
    results = []
    with tempfile.TemporaryDirectory(prefix="kazru-eval-") as tmp:
        for name in names:
            result = SETS[name].run(Path(data_dir), encoder, Path(tmp), limit, progress, ranking)
            results.append(result)
            if on_result:
                on_result(result)
    return results


def report(results: Sequence[SetResult], data_dir: Path, model: str, limit: int | None, seconds: float) -> dict:
    return {
        "data": str(data_dir),
        "model": model,
        "limit": limit,
        "total_seconds": round(seconds, 2),
        "mode_means": mode_means(results),
        "sets": [r.as_dict() for r in results],
    }


def format_table(results: Sequence[SetResult]) -> str:
    """A plain-text table: one line per metric, one column per mode, the set's time on its first line."""
    modes = list(dict.fromkeys(mode for r in results for values in r.metrics.values() for mode in values))
    lines = [
        f"{'set':<16} {'metric':<17} " + " ".join(f"{m:>8}" for m in modes) + f" {'n':>6} {'pool':>6} {'seconds':>8}"
    ]
    lines.append("-" * len(lines[0]))
    for result in results:
        for i, (metric, values) in enumerate(result.metrics.items()):
            seconds = f"{result.seconds:8.1f}" if i == 0 else " " * 8
            name = result.name if i == 0 else ""
            pool = str(result.pool) if i == 0 else ""
            cells = " ".join(f"{values[m]:>8.4f}" if m in values else f"{'':>8}" for m in modes)
            lines.append(f"{name:<16} {metric:<17} {cells} {result.counts[metric]:>6} {pool:>6} {seconds}")
    return "\n".join(lines)


def mode_means(results: Sequence[SetResult]) -> dict[str, float]:
    """Each mode's mean over every figure of every set: how the default mode is chosen (the
    counterpart figures depend on no mode and stay out)."""
    values: dict[str, list[float]] = {}
    for result in results:
        for per_mode in result.metrics.values():
            for mode, value in per_mode.items():
                if mode != COUNTERPART_COLUMN:
                    values.setdefault(mode, []).append(value)
    return {mode: round(float(np.mean(v)), 4) for mode, v in values.items()}


def tune(data_dir: Path, encoders: dict[str, object], progress: Progress | None = None) -> SetResult:
    """The tuning run: the dev set and the seed questions with each encoder (the default backend
    and the float32 reference: a weight must hold for both), at every weight of
    :data:`TUNING_GRID`; metric names carry the backend."""
    check_data(data_dir, ["dev"])
    progress = progress or Progress()
    ranking = Ranking.grid(TUNING_GRID)
    started = time.perf_counter()
    metrics: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="kazru-tune-") as tmp:
        for name, encoder in encoders.items():
            where = Path(tmp) / name
            where.mkdir()
            for part in (
                _dev(data_dir, encoder, where, None, progress, ranking),
                _seed_questions(SEEDS_DIR, encoder, where, progress, ranking),
            ):
                metrics |= {f"{name}: {m}": v for m, v in part.metrics.items()}
                counts |= {f"{name}: {m}": n for m, n in part.counts.items()}
    return SetResult("tuning", SETS["dev"].description, metrics, counts, 0, time.perf_counter() - started)


def choose(result: SetResult) -> tuple[str, list[tuple[str, float, float, bool]]]:
    """The tuning rule. A column qualifies when none of its dev figures falls more than
    :data:`TUNING_TOLERANCE` below dense's and every seed question keeps its article in the top 3,
    for every backend of the run. Among those: the largest article weight (as much article
    context as sentence-like queries and the mixed seed corpus allow: the dev set has no
    headline-like queries, where article context gains most), then the best mean dev figure.
    Returns the choice and (label, mean dev figure, worst dev difference from dense, qualifies)
    of every column, best first."""
    fusion_of = {_label(f): f for f in TUNING_GRID}
    labels = list(next(iter(result.metrics.values())))
    dev = {m: v for m, v in result.metrics.items() if not m.endswith(SEED_METRIC)}
    seeds = [v for m, v in result.metrics.items() if m.endswith(SEED_METRIC)]
    rows = []
    for label in labels:
        mean = round(float(np.mean([v[label] for v in dev.values()])), 4)
        worst = round(min(v[label] - v["dense"] for v in dev.values()), 4)
        qualifies = worst >= -TUNING_TOLERANCE and all(v[label] == 1.0 for v in seeds)
        rows.append((label, mean, worst, qualifies))

    def rank(row: tuple[str, float, float, bool]) -> tuple:
        fusion = fusion_of.get(row[0])
        return (row[3], fusion.article_weight if fusion else -1.0, row[1])

    rows.sort(key=rank, reverse=True)
    return rows[0][0], rows


def format_tuning(result: SetResult) -> str:
    """The tuning run as a table, a line per column, the rule's order, and the choice."""
    chosen, rows = choose(result)
    metrics = list(result.metrics)
    lines = [f"{'weights':<18} {'qualifies':>9} {'dev mean':>8} {'worst':>7}   " + "  ".join(metrics)]
    for label, mean, worst, qualifies in rows:
        figures = "  ".join(f"{result.metrics[m][label]:>{len(m)}.4f}" for m in metrics)
        lines.append(f"{label:<18} {'yes' if qualifies else 'no':>9} {mean:>8.4f} {worst:>+7.4f}   {figures}")
    lines.append(f"chosen: {chosen}")
    return "\n".join(lines)
