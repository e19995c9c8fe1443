"""Fold the documents written through the API since the last snapshot (the delta) and the deleted
passages (tombstones) into a new vector snapshot of the index, while the service keeps running.
A serving process does this by itself past a threshold; this is the same, on demand."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from embeddings.cli import run
from embeddings.compaction import compact
from embeddings.config import Settings


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--index", type=Path, default=settings.index_dir, help="index directory (default: INDEX_DIR or %(default)s)"
    )
    args = parser.parse_args()
    result = compact(args.index)
    if result is None:
        print(f"{args.index}: nothing to compact (no write since the snapshot)")
    else:
        print(f"{args.index}: compacted into snapshot {result.version}: {orjson.dumps(result.as_dict()).decode()}")
    return 0


if __name__ == "__main__":
    run(main)
