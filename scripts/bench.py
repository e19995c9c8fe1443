"""Speed as ratios measured side by side in one run: build and query overhead against the bare
model, the int8 ONNX encoder against float32 PyTorch, txtai as a peer, and the approximate index
kinds at scale (hnsw at a million vectors, ivfpq at ten million).

Prints a table (median over rounds and its min–max spread, target, met) and writes JSON.
The full run takes a long time on 2 cores (the scale section builds hnsw over a million vectors
and ivfpq over ten million, which needs about 17 GiB of memory and 16 GB of disk in the workdir);
--quick runs every section small, as a smoke test.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from functools import partial
from pathlib import Path

from embeddings.benchmark import DEFAULT_EVAL_DIR, SECTIONS, BenchOptions, run
from embeddings.benchmark.figures import format_table, write_json
from embeddings.cli import run as run_script
from service.process import SHARDED_COMMAND, ServerProcess
from service.validation import MAX_BATCH_CHARS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs, 2 rounds, 20k vectors: a smoke test")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="comma-separated sections to run (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure in a full run (default: %(default)s)")
    parser.add_argument(
        "--scale-n",
        type=int,
        default=1_000_000,
        help="vectors of hnsw in the scale section, and of the workers section (default: %(default)s)",
    )
    parser.add_argument(
        "--ivfpq-n",
        type=int,
        default=10_000_000,
        help="vectors of ivfpq in the scale section, streamed; 0 leaves it out (default: %(default)s)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_EVAL_DIR, help="evaluation data (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("data/bench.json"), help="JSON report (default: %(default)s)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder for the run's indexes (ivfpq at ten million writes 16 GB; default: a temporary folder)",
    )
    parser.add_argument("--docs", type=int, help="FLORES articles to build from (default: all 281)")
    parser.add_argument("--profile", action="store_true", help="add cProfile listings of one build and of the queries")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.rounds < 1 or args.scale_n < 1000 or (args.ivfpq_n and args.ivfpq_n < 1000):
        parser.error("--rounds must be at least 1, --scale-n at least 1000 and --ivfpq-n 0 or at least 1000")
    options = BenchOptions(
        quick=args.quick,
        sections=sections,
        eval_dir=args.data,
        rounds=args.rounds,
        scale_n=args.scale_n,
        ivfpq_n=args.ivfpq_n,
        profile=args.profile,
        docs=args.docs,
        workdir=args.workdir,
        launch_server=ServerProcess,  # the library never imports the service: the script hands it in
        launch_sharded=partial(ServerProcess, command=SHARDED_COMMAND),
        batch_chars=MAX_BATCH_CHARS,
    )
    started = time.perf_counter()
    result = run(options, log=lambda line: print(line, file=sys.stderr))
    print(format_table(result))
    for key in ("profile_build", "profile_query"):
        if key in result.details:
            print(f"\n{key}:\n{result.details[key]}")
    load = result.details["machine"]
    print(
        f"\n{time.perf_counter() - started:.0f} s; load average {load['loadavg_at_start'][0]} at start, "
        f"{load['loadavg_at_end'][0]} at end ({load['cpus']} cores); JSON: {args.out}"
    )
    write_json(result, args.out, shlex.join(["scripts/bench.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    run_script(main)
