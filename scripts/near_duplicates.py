"""Near-duplicate passages, within and across languages and articles, grouped into clusters.

A pair counts when its cosine stands out from both passages' neighbourhoods (ratio margin over
the k nearest passages, per language); plain cosine cannot tell duplicates from neighbours with
this model. Output lines, one per cluster (largest first):
{"cluster", "size", "passage_ids", "doc_ids", "langs", "pairs": [{"source_id", "target_id", "margin", "cosine"}]}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from embeddings.checks import check_languages
from embeddings.cli import add_margin_job_arguments, margin_job_options, open_margin_job_index, run, write_jsonl
from embeddings.config import Settings
from embeddings.near_duplicates import DEFAULT_SAME_LANGUAGE_THRESHOLD, DEFAULT_THRESHOLD, find_near_duplicates


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_margin_job_arguments(parser, settings)
    parser.add_argument("--out", type=Path, required=True, help="clusters, one JSON object a line")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="least margin of a pair across languages (default: %(default)s)",
    )
    parser.add_argument(
        "--same-language-threshold",
        type=float,
        default=DEFAULT_SAME_LANGUAGE_THRESHOLD,
        help="least margin of a pair within one language (default: %(default)s)",
    )
    parser.add_argument("--lang", action="append", help="only passages of this language (repeatable; default: all)")
    args = parser.parse_args()
    check_languages(args.lang)
    started = time.perf_counter()
    index = open_margin_job_index(parser, args, settings)
    with margin_job_options(args, "passage") as options:
        found = find_near_duplicates(
            index, args.threshold, same_language_threshold=args.same_language_threshold, langs=args.lang, **options
        )
    write_jsonl(args.out, (cluster.as_dict(number) for number, cluster in enumerate(found.clusters, 1)))
    print(
        f"{len(found.pairs)} near-duplicate pairs in {len(found.clusters)} clusters among {found.passages} passages "
        f"into {args.out} in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    run(main)
