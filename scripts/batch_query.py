"""Answer many queries from a JSONL file ({"id", "query", optional "lang": [...]}) into a JSONL file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from embeddings.batch import read_queries, run_batch
from embeddings.cli import add_date_arguments, add_engine_arguments, check_date_arguments, run, write_jsonl
from embeddings.config import Settings
from embeddings.corpus import CorpusReport
from embeddings.search import DEFAULT_MODE, MAX_K, MODES, Searcher


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, help="index directory (default: INDEX_DIR or data/index)")
    parser.add_argument("--in", dest="infile", type=Path, required=True, help="queries, one JSON object a line")
    parser.add_argument("--out", type=Path, required=True, help="results, one JSON object a line")
    parser.add_argument("--k", type=int, default=10, help=f"results per query, 1-{MAX_K} (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, help="queries encoded together (default: 64; 1024 with --engine ray)")
    parser.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help="ranking (default: %(default)s)")
    parser.add_argument("--model", help="embedding model (default: EMBEDDING_MODEL or the prepared default)")
    add_date_arguments(parser)
    add_engine_arguments(parser)
    args = parser.parse_args()
    if args.batch_size is None:  # each Ray batch starts an actor pool: give it many queries at once
        args.batch_size = 1024 if args.engine == "ray" else 64
    if not 1 <= args.k <= MAX_K:
        parser.error(f"--k must be from 1 to {MAX_K}")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if not args.infile.is_file():
        raise OSError(f"{args.infile}: no such file")

    check_date_arguments(args)
    report = CorpusReport()
    queries = read_queries(args.infile, report)
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    searcher = Searcher.from_settings(Settings.from_env(), args.index, args.model, args.engine, args.ray_address)
    with tqdm(total=len(queries), unit="query", desc="searching", file=sys.stderr) as bar:
        write_jsonl(
            args.out,
            run_batch(
                searcher,
                queries,
                args.k,
                args.batch_size,
                progress=bar.update,
                mode=args.mode,
                dates=(args.date_from, args.date_to),
            ),
        )
    print(f"answered {len(queries)} queries into {args.out}; {len(report.problems)} line(s) skipped")
    return 1 if not queries and report.problems else 0


if __name__ == "__main__":
    run(main)
