"""Cross-lingual alignment: for every source-language passage (or document), its best target-language
counterpart, scored by the ratio margin over k nearest neighbours in both directions (bitext mining).

Output lines: {"source_id", "target_id", "margin", "cosine"}. At --level document, articles are
aligned from their passages (each passage's best margin against the other article's passages).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from embeddings.alignment import LEVELS, align
from embeddings.checks import check_languages
from embeddings.cli import add_margin_job_arguments, margin_job_options, open_margin_job_index, run, write_jsonl
from embeddings.config import Settings


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_margin_job_arguments(parser, settings)
    parser.add_argument("--from", dest="source", required=True, help="source language code (kk, ru, en, other)")
    parser.add_argument("--to", dest="target", required=True, help="target language code (kk, ru, en, other)")
    parser.add_argument("--level", choices=LEVELS, default="passage", help="what to align (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="pairs, one JSON object a line")
    parser.add_argument(
        "--threshold", type=float, help="keep only pairs with at least this margin (default: keep every best pair)"
    )
    parser.add_argument("--mutual", action="store_true", help="keep only pairs that pick each other")
    args = parser.parse_args()
    check_languages([args.source, args.target])  # a clear message before the model loads
    started = time.perf_counter()
    index = open_margin_job_index(parser, args, settings)
    with margin_job_options(args, args.level) as options:
        pairs = align(
            index, args.source, args.target, args.level, mutual=args.mutual, threshold=args.threshold, **options
        )
    write_jsonl(args.out, (pair.as_dict() for pair in pairs))
    print(
        f"aligned {len(pairs)} {args.source}→{args.target} {args.level} pairs into {args.out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    run(main)
