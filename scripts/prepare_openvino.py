"""Make the static-int8 OpenVINO model folder from the default model folder (idempotent, deterministic, offline)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from embeddings.cli import run
from embeddings.encoder import DEFAULT_MODEL_DIR
from embeddings.openvino_encoder import DEFAULT_OPENVINO_DIR, export_int8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OPENVINO_DIR, help="OpenVINO folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="export again even if the folder is up to date")
    args = parser.parse_args()
    started = time.perf_counter()
    with tqdm(total=2, desc="openvino int8", unit="step") as bar:

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            if name != "export":
                bar.update(1)

        made = export_int8(args.source, args.out, force=args.force, progress=step)
        bar.update(bar.total - bar.n)
    if made:
        print(f"int8 OpenVINO model written to {args.out} in {time.perf_counter() - started:.1f} s")
    else:
        print(f"int8 OpenVINO model already prepared at {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
