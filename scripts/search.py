"""Ask one question of an index; print the results as a table, or as JSON with --json."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from pathlib import Path

import orjson

from embeddings.cli import run
from embeddings.config import Settings
from embeddings.search import DEFAULT_MODE, MAX_K, MODES, Searcher


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("query", help="the question, in any language")
    parser.add_argument("--index", type=Path, help="index directory (default: INDEX_DIR or data/index)")
    parser.add_argument("--k", type=int, default=10, help=f"how many results, 1-{MAX_K} (default: %(default)s)")
    parser.add_argument("--lang", help="comma-separated languages to keep, e.g. kk,ru")
    parser.add_argument("--documents", help="comma-separated document ids to keep")
    parser.add_argument("--min-score", type=float, help="drop results below this score")
    parser.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help="ranking (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    parser.add_argument("--model", help="embedding model (default: EMBEDDING_MODEL or the prepared default)")
    args = parser.parse_args()
    split = lambda value: [x.strip() for x in value.split(",") if x.strip()] if value else None  # noqa: E731
    searcher = Searcher.from_settings(Settings.from_env(), args.index, args.model)
    response = searcher.search(args.query, args.k, split(args.lang), split(args.documents), args.min_score, args.mode)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(response.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    print(f"{len(response.results)} results for {response.query!r} ({response.query_lang}, {response.took_ms} ms)")
    for r in response.results:
        print(f"\n{r.rank:>3}. {r.score:.4f}  [{r.lang}] {r.title[: width - 20]}  ({r.date or 'no date'})")
        print(f"     {r.passage_id}")
        for line in textwrap.wrap(r.highlight.sentence, width=width - 6)[:4]:
            print(f"     {line}")
    return 0


if __name__ == "__main__":
    run(main)
