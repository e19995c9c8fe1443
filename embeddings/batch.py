"""Batch querying: many queries from a JSONL file, encoded in batches, answered in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from embeddings.checks import QueryError, check_languages
from embeddings.corpus import CorpusReport, jsonl_objects
from embeddings.search import DEFAULT_MODE, Searcher, SearchQuery, check_query


@dataclass
class QueryLine:
    id: object
    query: str
    langs: list[str] | None


def read_queries(path: Path, report: CorpusReport) -> list[QueryLine]:
    """Input lines ``{"id", "query"}`` with an optional ``"lang"`` list; bad lines are reported and skipped."""
    queries = []
    for where, row in jsonl_objects(path, report):
        if "id" not in row:
            report.problems.append(f'{where}: expected an object with "id" and "query"; skipped')
            continue
        langs = row.get("lang")
        if isinstance(langs, str):
            langs = [langs]
        try:
            check_query(row.get("query"), 1)
            if langs is not None and not (isinstance(langs, list) and all(isinstance(x, str) for x in langs)):
                raise QueryError('"lang" must be a list of language codes')
            langs = check_languages(langs)
        except QueryError as exc:
            report.problems.append(f"{where}: {exc}; skipped")
            continue
        queries.append(QueryLine(row["id"], row["query"], langs))
    return queries


def run_batch(
    searcher: Searcher,
    queries: list[QueryLine],
    k: int,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    mode: str = DEFAULT_MODE,
    dates: tuple[str | None, str | None] = (None, None),
) -> Iterator[dict]:
    """Output rows in input order: ``{"id", "query", "results": [{rank, score, passage_id, doc_id, lang}]}``."""
    check_query("k", k)
    for lo in range(0, len(queries), batch_size):
        batch = queries[lo : lo + batch_size]
        responses = searcher.search_many(
            [SearchQuery(q.query, k, q.langs, mode=mode, date_from=dates[0], date_to=dates[1]) for q in batch]
        )
        answers = [response.results for response in responses]
        for q, results in zip(batch, answers, strict=True):
            yield {
                "id": q.id,
                "query": q.query,
                "results": [
                    {"rank": r.rank, "score": r.score, "passage_id": r.passage_id, "doc_id": r.doc_id, "lang": r.lang}
                    for r in results
                ],
            }
        if progress:
            progress(len(batch))
