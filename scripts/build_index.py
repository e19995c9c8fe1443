"""Build an index directory from a corpus: a folder of seed-format .txt articles or a .jsonl file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from embeddings import index
from embeddings.chunking import ChunkerSettings
from embeddings.cli import add_engine_arguments, run
from embeddings.config import Settings
from embeddings.corpus import CorpusReport, read_corpus
from embeddings.encoders import load_encoder
from embeddings.vector_index import AUTO, KINDS, kinds_help


def main() -> int:
    settings = Settings.from_env()
    defaults = ChunkerSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus", type=Path, default=Path("seeds"), help="corpus folder or .jsonl (default: %(default)s)"
    )
    parser.add_argument(
        "--index", type=Path, default=settings.index_dir, help="index directory (default: INDEX_DIR or %(default)s)"
    )
    parser.add_argument(
        "--model",
        default=settings.model,
        help="model name or folder (default: EMBEDDING_MODEL or the prepared multilingual-e5-small)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=defaults.max_tokens,
        help="passage token budget (default: %(default)s, capped by the model)",
    )
    parser.add_argument(
        "--min-chars",
        type=int,
        default=defaults.min_chars,
        help="shorter paragraphs merge with a neighbour (default: %(default)s)",
    )
    parser.add_argument("--index-kind", choices=(AUTO, *KINDS), default=settings.index_kind, help=kinds_help())
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when the index already exists (and is of the kind asked for, unless that is auto)",
    )
    add_engine_arguments(parser)
    args = parser.parse_args()
    if args.if_missing and index.exists(args.index):
        built = index.current_kind(args.index)
        if args.index_kind in (AUTO, built):
            print(f"index already exists at {args.index}; not rebuilt")
            return 0
        print(f"index at {args.index} is {built}, {args.index_kind} asked for: rebuilding", file=sys.stderr)
    if args.max_tokens < 16 or args.min_chars < 0:
        parser.error("--max-tokens must be at least 16 and --min-chars at least 0")

    report = CorpusReport()
    documents = read_corpus(args.corpus, report)  # fails now on a missing path
    encoder = load_encoder(args.model, settings.backend, engine=args.engine, ray_address=args.ray_address)
    started = time.perf_counter()
    try:
        with tqdm(unit="passage", desc="encoding", file=sys.stderr) as bar:
            result = index.build(
                documents,
                args.index,
                encoder,
                ChunkerSettings(args.max_tokens, args.min_chars),
                progress=bar.update,
                on_total=lambda n: setattr(bar, "total", n),
                kind=args.index_kind,
            )
    finally:  # what was skipped is worth knowing, above all when nothing could be indexed
        for problem in report.problems:
            print(f"warning: {problem}", file=sys.stderr)
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    counts = result.manifest["counts"]
    skipped = len(report.problems) + len(result.problems)
    print(
        f"indexed {counts['documents']} documents as {counts['passages']} passages into {args.index} "
        f"({result.manifest['faiss']['kind']} index, "
        f"generation {result.manifest['generation']}) in {time.perf_counter() - started:.1f} s"
        + (f"; {skipped} item(s) skipped" if skipped else "")
    )
    return 0


if __name__ == "__main__":
    run(main)
