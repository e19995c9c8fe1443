"""Ask one question of an index; print the results as a table, or as JSON with --json."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from pathlib import Path

import orjson

from embeddings.cli import add_date_arguments, check_date_arguments, run
from embeddings.config import Settings
from embeddings.search import (
    DEFAULT_MODE,
    DEFAULT_PASSAGES_PER_ARTICLE,
    GROUPS,
    MAX_K,
    MAX_OFFSET,
    MODES,
    SORTS,
    Searcher,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("query", help="the question, in any language")
    parser.add_argument("--index", type=Path, help="index directory (default: INDEX_DIR or data/index)")
    parser.add_argument("--k", type=int, default=10, help=f"how many results, 1-{MAX_K} (default: %(default)s)")
    parser.add_argument("--lang", help="comma-separated languages to keep, e.g. kk,ru")
    parser.add_argument("--documents", help="comma-separated document ids to keep")
    parser.add_argument("--min-score", type=float, help="drop results below this score")
    parser.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help="ranking (default: %(default)s)")
    add_date_arguments(parser)
    parser.add_argument(
        "--sort", choices=SORTS, default="relevance", help="relevance, or date: the best k × 10 newest first"
    )
    parser.add_argument("--offset", type=int, default=0, help=f"results to skip, 0-{MAX_OFFSET}: the page's start")
    parser.add_argument("--group", choices=GROUPS, help="one result per article, with its other-language versions")
    parser.add_argument(
        "--passages-per-article",
        type=int,
        default=DEFAULT_PASSAGES_PER_ARTICLE,
        help="with --group: more passages shown per article (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    parser.add_argument("--model", help="embedding model (default: EMBEDDING_MODEL or the prepared default)")
    args = parser.parse_args()
    check_date_arguments(args)
    split = lambda value: [x.strip() for x in value.split(",") if x.strip()] if value else None  # noqa: E731
    searcher = Searcher.from_settings(Settings.from_env(), args.index, args.model)
    response = searcher.search(
        args.query,
        args.k,
        langs=split(args.lang),
        doc_ids=split(args.documents),
        min_score=args.min_score,
        mode=args.mode,
        date_from=args.date_from,
        date_to=args.date_to,
        sort=args.sort,
        offset=args.offset,
        group=args.group,
        passages_per_article=args.passages_per_article,
    )
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(response.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    more = f"; more from --offset {response.offset + args.k}" if response.has_more else ""
    print(
        f"{len(response.results)} results for {response.query!r} ({response.query_lang}, {response.took_ms} ms){more}"
    )
    for r in response.results:
        print(f"\n{r.rank:>3}. {r.score:.4f}  [{r.lang}] {r.title[: width - 20]}  ({r.date or 'no date'})")
        print(f"     {r.passage_id}")
        for line in textwrap.wrap(r.highlight.sentence, width=width - 6)[:4]:
            print(f"     {line}")
        for other in r.counterparts or []:
            print(f"     also in {other.lang}: {other.title[: width - 30]} ({other.doc_id}, margin {other.margin:.3f})")
    return 0


if __name__ == "__main__":
    run(main)
