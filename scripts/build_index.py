"""Build an index directory from a corpus (a folder of seed-format .txt articles, saved .html/.htm
news pages and .rss/.atom/.xml feeds, one such file, or a .jsonl file), keeping the documents added
through the API, or re-index it from the documents it holds."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from embeddings import index
from embeddings.ann import AUTO, KINDS, kinds_help
from embeddings.chunking import ChunkerSettings
from embeddings.cli import add_engine_arguments, run
from embeddings.config import Settings
from embeddings.corpus import CorpusReport, read_corpus
from embeddings.encoders import load_encoder


def main() -> int:
    settings = Settings.from_env()
    defaults = ChunkerSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path("seeds"),
        help="corpus folder (.txt, .html, .htm, .rss, .atom, .xml), one such file, or a .jsonl (default: %(default)s)",
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
        help="when the index exists, leave it as it is, or re-index it from its own documents when it was "
        "built by another model, backend or kind than asked for; never rebuild it from the corpus",
    )
    parser.add_argument(
        "--reindex",
        action="store_true",
        help="build a new generation from the documents the index holds (corpus and API ones alike), not from a corpus",
    )
    parser.add_argument(
        "--drop-api-documents",
        action="store_true",
        help="a build from a corpus leaves out the documents added through the API (kept by default)",
    )
    add_engine_arguments(parser)
    args = parser.parse_args()
    if args.max_tokens < 16 or args.min_chars < 0:
        parser.error("--max-tokens must be at least 16 and --min-chars at least 0")
    if args.reindex and args.drop_api_documents:
        parser.error("--reindex keeps every document the index holds: leave out --drop-api-documents")
    reindex = args.reindex
    if reindex and not index.exists(args.index):
        parser.error(f"--reindex: no index at {args.index}")

    report = CorpusReport()
    documents = None
    if not reindex and not (args.if_missing and index.exists(args.index)):
        documents = read_corpus(args.corpus, report)  # fails now on a missing path
    encoder = load_encoder(args.model, settings.backend, engine=args.engine, ray_address=args.ray_address)
    if args.if_missing and index.exists(args.index):
        reason = index.stale_reason(args.index, encoder.identity, args.index_kind)
        if reason is None:
            print(f"index already exists at {args.index}; not rebuilt")
            return 0
        print(f"re-indexing {args.index} from its own documents: {reason}", file=sys.stderr)
        reindex = True
    started = time.perf_counter()
    try:
        with tqdm(unit="text", desc="encoding", file=sys.stderr) as bar:
            result = index.rebuild(
                args.index,
                encoder,
                None if reindex else documents,
                keep_api_documents=not args.drop_api_documents,
                chunker=ChunkerSettings(args.max_tokens, args.min_chars),
                progress=bar.update,
                on_total=lambda n: setattr(bar, "total", n),
                kind=args.index_kind,
            )
    finally:  # what was skipped is worth knowing, above all when nothing could be indexed
        for problem in report.problems:
            print(f"warning: {problem}", file=sys.stderr)
    built = result.build
    for problem in built.problems:
        print(f"warning: {problem}", file=sys.stderr)
    counts = built.manifest["counts"]
    skipped = len(report.problems) + len(built.problems)
    source = "its own documents" if reindex else f"{args.corpus}"
    print(
        f"indexed {counts['documents']} documents from {source} as {counts['passages']} passages into {args.index} "
        f"({built.manifest['faiss']['kind']} index, "
        f"generation {built.manifest['generation']}) in {time.perf_counter() - started:.1f} s"
        + (f"; {skipped} item(s) skipped" if skipped else "")
    )
    if args.drop_api_documents:
        print("documents added through the API were dropped (--drop-api-documents)")
    elif not reindex:
        replaced = result.replaced_corpus_documents
        print(
            f"kept {result.kept_api_documents} document(s) added through the API"
            + (f" ({replaced} in place of the corpus's version)" if replaced else "")
        )
    return 0


if __name__ == "__main__":
    run(main)
