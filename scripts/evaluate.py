"""Retrieval quality on the shared evaluation data (FLORES-200, Tatoeba, X-WMT, KazQAD, headline → article).

Each set is indexed into a temporary index with the project's own pipeline and queried through
the searcher; the results print as a table and go to --out as JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson
from tqdm import tqdm

from embeddings.cli import run
from embeddings.config import Settings
from embeddings.encoders import load_encoder
from embeddings.evaluation import (
    REPORTED,
    SETS,
    Progress,
    Ranking,
    check_data,
    evaluate,
    format_table,
    format_tuning,
    mode_means,
    report,
    tune,
)
from embeddings.fusion import WEIGHT_SETTINGS, Fusion, parse_weight
from embeddings.search import MODES

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"


# What each of Fusion's weights does in hybrid mode, for its option's help.
WEIGHT_HELP = {
    "article_weight": "how far a passage is lifted toward its article",
    "lexical_weight": "the most the query's words add to a cosine in its own language",
    "cross_lexical_weight": "the same in the other languages",
}


def weight(text: str) -> float:
    try:
        return parse_weight(text, "weight")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1") from None


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the evaluation data folder (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SETS),
        help="run only this set (repeatable; default: every set but the tuning sets 'dev' and 'counterparts-dev')",
    )
    parser.add_argument(
        "--mode",
        action="append",
        choices=MODES,
        help="rank in this mode only (repeatable; default: every mode)",
    )
    for field, setting in WEIGHT_SETTINGS.items():
        parser.add_argument(
            "--" + field.replace("_", "-"),
            type=weight,
            default=getattr(settings.fusion, field),
            help=f"hybrid: {WEIGHT_HELP[field]}, 0-1 (default: {setting} or %(default)s)",
        )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="run the tuning set 'dev' and the seed questions at every weight of the tuning grid, with the "
        "configured backend and float32 torch, and print the rule's choice",
    )
    parser.add_argument("--limit", type=int, help="use only the first N rows (queries) of each set, for a quick check")
    parser.add_argument(
        "--model", default=settings.model, help="embedding model (default: EMBEDDING_MODEL or the prepared default)"
    )
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.out is not None and not args.out.parent.is_dir():
        raise OSError(f"{args.out.parent}: no such folder for --out")

    if args.tune and (args.only or args.mode or args.limit):
        parser.error("--tune runs the whole 'dev' set in every column of its grid: leave out --only, --mode, --limit")
    names = ["dev"] if args.tune else args.only or REPORTED
    fusion = Fusion(**{field: getattr(args, field) for field in WEIGHT_SETTINGS})
    check_data(args.data, names)  # before the model loads: fail fast
    started = time.perf_counter()
    encoder = load_encoder(args.model, settings.backend)
    encoders = {settings.backend: encoder}
    if args.tune and settings.backend != "torch":
        encoders["torch"] = load_encoder(args.model, "torch")
    with tqdm(total=0, unit="text", desc="encoding", file=sys.stderr) as bar:

        def add_total(n: int) -> None:
            bar.total += n
            bar.refresh()

        def on_result(result) -> None:
            bar.write(f"{result.name}: done in {result.seconds:.1f} s", file=sys.stderr)

        progress = Progress(add_total, bar.update)
        if args.tune:
            results = [tune(args.data, encoders, progress)]
        else:
            ranking = Ranking.of(tuple(args.mode or MODES), fusion)
            results = evaluate(args.data, encoder, names, args.limit, progress, on_result, ranking)
    seconds = time.perf_counter() - started
    if args.tune:
        print(format_tuning(results[0]))
    else:
        print(format_table(results))
        means = mode_means(results)
        if means:
            print("mean of every figure: " + ", ".join(f"{mode} {value:.4f}" for mode, value in means.items()))
    print(
        f"total {seconds:.1f} s (model {encoder.identity.name}, data {args.data}"
        + (f", first {args.limit} rows of each set" if args.limit else "")
        + ")"
    )
    if args.out is not None:
        args.out.write_bytes(
            orjson.dumps(
                report(results, args.data, encoder.identity.name, args.limit, seconds), option=orjson.OPT_INDENT_2
            )
        )
        print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
