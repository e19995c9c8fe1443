"""Near-duplicate passages, within and across languages and articles, grouped into clusters.

A pair counts when its cosine stands out from both passages' neighbourhoods (ratio margin over
the k nearest passages, per language); plain cosine cannot tell duplicates from neighbours with
this model. Output lines, one per cluster (largest first):
{"cluster", "size", "passage_ids", "doc_ids", "langs", "pairs": [{"source_id", "target_id", "margin", "cosine"}]}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson
from tqdm import tqdm

from embeddings.alignment import DEFAULT_NEIGHBOURS
from embeddings.cli import run
from embeddings.config import Settings
from embeddings.encoder import load_encoder
from embeddings.index import Index
from embeddings.near_duplicates import DEFAULT_SAME_LANGUAGE_THRESHOLD, DEFAULT_THRESHOLD, find_near_duplicates
from embeddings.search import check_languages


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--index", type=Path, default=settings.index_dir, help="index directory (default: INDEX_DIR or %(default)s)"
    )
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
    parser.add_argument(
        "--neighbours",
        type=int,
        default=DEFAULT_NEIGHBOURS,
        help="k of the margin's neighbourhoods (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        default=settings.model,
        help="embedding model the index was built with (default: EMBEDDING_MODEL or the prepared default)",
    )
    args = parser.parse_args()
    check_languages(args.lang)
    if args.neighbours < 1:
        parser.error("--neighbours must be at least 1")
    if not args.out.parent.is_dir():
        raise OSError(f"{args.out.parent}: no such folder for --out")

    started = time.perf_counter()
    encoder = load_encoder(args.model, settings.backend)  # only for the model's identity: the vectors are in the index
    index = Index(args.index, encoder.identity)
    with tqdm(unit="passage", desc="neighbours", file=sys.stderr) as bar:
        found = find_near_duplicates(
            index,
            args.threshold,
            same_language_threshold=args.same_language_threshold,
            neighbours=args.neighbours,
            langs=args.lang,
            progress=bar.update,
            on_total=lambda n: setattr(bar, "total", n),
        )
    tmp = args.out.with_name(args.out.name + ".tmp")
    with tmp.open("wb") as out:
        for number, cluster in enumerate(found.clusters, 1):
            out.write(orjson.dumps(cluster.as_dict(number)) + b"\n")
    tmp.replace(args.out)
    print(
        f"{len(found.pairs)} near-duplicate pairs in {len(found.clusters)} clusters among {found.passages} passages "
        f"into {args.out} in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    run(main)
