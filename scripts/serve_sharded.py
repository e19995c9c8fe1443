"""Serve an index split into shards on Ray Serve: each shard a deployment holding the vectors of
its documents, and a front that encodes each query once, asks every shard and merges their
answers; the same HTTP API as `make serve`. A local Ray instance by default; --address joins a
cluster (the index directory must then be on storage that every node reads at the same path: the
shards read only their immutable snapshot files from it, the front alone reads the store)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import threading
from pathlib import Path

from embeddings.cli import run
from embeddings.config import Settings
from embeddings.encoders import load_encoder
from embeddings.index import IndexDirError, current_generation_dir, exists, stale_reason
from embeddings.shards import MAX_SHARDS, split


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--index", type=Path, default=settings.index_dir, help="index directory (default: INDEX_DIR or %(default)s)"
    )
    parser.add_argument("--shards", type=int, default=2, help="how many shards (default: %(default)s)")
    parser.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS") or None,
        help="the Ray cluster to join: 'auto' (the one `ray start` made on this machine) or ray://HOST:PORT; "
        "default: RAY_ADDRESS, or else a local Ray instance started here (and stopped at the end)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("HOST") or "127.0.0.1",
        help="where the API listens (default: HOST or %(default)s)",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 8000), help="its port (default: PORT or %(default)s)"
    )
    args = parser.parse_args()
    if not 1 <= args.shards <= MAX_SHARDS:
        parser.error(f"--shards must be between 1 and {MAX_SHARDS}")
    if not exists(args.index):
        raise IndexDirError(f"{args.index}: no index here; build one with scripts/build_index.py")
    encoder = load_encoder(settings.model, settings.backend)
    reason = stale_reason(args.index, encoder.identity)
    if reason:
        raise IndexDirError(f"{args.index}: cannot be served as it is: {reason}; re-index it first")
    del encoder  # the front replica loads its own
    split(current_generation_dir(args.index), args.shards)  # here, where the store is: shards never read it

    import ray
    from ray import serve

    from service.sharded import APP_NAME, application

    ray.init(address=args.address, include_dashboard=False, logging_level="WARNING")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        app = application(dataclasses.replace(settings, index_dir=args.index), args.shards)
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        where = f"http://{args.host}:{args.port}"
        print(f"serving {args.index} in {args.shards} shards on {where} (Ray Serve); Ctrl-C stops", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    run(main)
