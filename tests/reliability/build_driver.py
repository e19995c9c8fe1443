"""Run ``scripts/build_index.py`` (or ``scripts/compact.py``) as it is, and kill it with SIGKILL at a
named point of writing.

For tests/reliability/test_crash.py. A kill at a random moment mostly lands while the model loads
or encodes, where nothing is on disk yet; the moments that matter (a half-written file, a renamed
but not yet current generation, a swapped link not yet synced) last microseconds. So the driver
wraps the very functions ``embeddings.index`` calls at those moments and sends itself SIGKILL
there: a real kill -9 of the real builder, at a chosen step.

    RELIABILITY_KILL_AT=<point> python tests/reliability/build_driver.py --corpus C --index D
    RELIABILITY_KILL_AT=<point> python tests/reliability/build_driver.py compact --index D

Without RELIABILITY_KILL_AT it only prints ``BUILD-STARTED`` on stdout when the build begins
(after the model has loaded), so a test can kill it from outside at a random moment after that.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402  (after the path is set, as the script itself would import it)

from embeddings import index as index_mod  # noqa: E402
from embeddings import snapshots  # noqa: E402
from embeddings import store as store_mod  # noqa: E402

POINTS = (
    "encoding",  # the first chunk encoded, nothing written
    "store-insert",  # inside the store transaction, a few documents inserted
    "store-commit",  # every row inserted, just before COMMIT
    "faiss-before",  # store committed and checkpointed, the snapshot's FAISS file not yet written
    "faiss-partial",  # the FAISS file half written
    "faiss-written",  # the FAISS file written, not yet fsynced
    "manifest-partial",  # manifest.json half written
    "manifest-written",  # manifest.json written, directory not yet synced
    "generation-renamed",  # gen-N.tmp renamed to gen-N, CURRENT still on the old one
    "link-made",  # CURRENT.tmp made, not yet renamed over CURRENT
    "current-swapped",  # CURRENT renamed, the index folder not yet synced
    "old-generation-removal",  # halfway through deleting a generation older than the previous one
)
# Compaction's moments (with faiss-partial and faiss-written, which its snapshot passes through too).
COMPACTION_POINTS = (
    "faiss-partial",
    "faiss-written",
    "snapshot-record",  # the new snapshot finished (its record written), the store not yet pointing at it
    "snapshot-current",  # the store points at the new snapshot, the old one not yet deleted
    "old-snapshot-removal",  # the old snapshot's record deleted, its files not yet
)


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, index_dir: Path) -> None:
    if point == "encoding":
        from embeddings.encoders.torch import TorchEncoder

        encode = TorchEncoder.encode_passages

        def encode_then_die(self, *args, **kwargs):
            encode(self, *args, **kwargs)
            die()

        TorchEncoder.encode_passages = encode_then_die
    elif point == "store-insert":
        insert, calls = store_mod.WriteTransaction.insert_document, [0]

        def insert_some(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 3:
                die()
            return insert(*args, **kwargs)

        store_mod.WriteTransaction.insert_document = insert_some
    elif point == "store-commit":
        set_next_key = store_mod.WriteTransaction.set_next_key

        def before_commit(*args, **kwargs):
            set_next_key(*args, **kwargs)
            die()

        store_mod.WriteTransaction.set_next_key = before_commit
    elif point.startswith("faiss-"):
        write_index = faiss.write_index

        def write(faiss_index, path):
            if point == "faiss-before":
                die()
            write_index(faiss_index, path)
            if point == "faiss-partial":
                os.truncate(path, os.path.getsize(path) // 2)
            die()

        snapshots.faiss.write_index = write
    elif point.startswith("manifest-"):
        write_file = snapshots.write_file

        def write_manifest(path: Path, data: bytes) -> None:
            if path.name != "manifest.json":  # the snapshot's record, written before it
                return write_file(path, data)
            write_file(path, data[: len(data) // 2] if point == "manifest-partial" else data)
            die()

        snapshots.write_file = write_manifest
    elif point in ("generation-renamed", "current-swapped"):
        replace, calls = os.replace, [0]

        def replace_then_die(src, dst, *args, **kwargs):
            replace(src, dst, *args, **kwargs)
            if Path(os.path.abspath(dst)).parent == index_dir:  # the index's own renames, no one else's
                calls[0] += 1
                if calls[0] == (1 if point == "generation-renamed" else 2):
                    die()

        os.replace = replace_then_die
    elif point == "snapshot-record":
        write_file = snapshots.write_file

        def write_then_die(path: Path, data: bytes) -> None:
            write_file(path, data)
            if path.name.startswith("vectors-"):
                die()

        snapshots.write_file = write_then_die
    elif point in ("snapshot-current", "old-snapshot-removal"):
        unlink = Path.unlink

        def unlink_then_die(path: Path, *args, **kwargs) -> None:
            if point == "snapshot-current" and path.name.startswith("vectors-"):
                die()
            unlink(path, *args, **kwargs)
            if path.name.startswith("vectors-"):
                die()

        Path.unlink = unlink_then_die
    elif point == "link-made":
        symlink = os.symlink

        def symlink_then_die(*args, **kwargs):
            symlink(*args, **kwargs)
            die()

        os.symlink = symlink_then_die
    elif point == "old-generation-removal":

        def remove_some(directory: Path, keep: set[str]) -> None:
            gens = sorted(p for p in directory.glob("gen-*") if p.is_dir() and not p.name.endswith(".tmp"))
            oldest = gens[0]
            assert len(gens) >= 3 and oldest.name not in keep, gens  # the test's index has 2 generations
            next(p for p in sorted(oldest.iterdir())).unlink()
            die()

        index_mod._remove_old_generations = remove_some
    else:
        raise SystemExit(f"unknown kill point {point!r}; one of {', '.join(POINTS)}")


def announce_start() -> None:
    build = index_mod.build

    def announced(*args, **kwargs):
        print("BUILD-STARTED", flush=True)
        return build(*args, **kwargs)

    index_mod.build = announced


def main() -> None:
    args = sys.argv[1:]
    script = "build_index.py"
    if args[:1] == ["compact"]:
        script, args = "compact.py", args[1:]
    index_dir = Path(os.path.abspath(args[args.index("--index") + 1]))
    point = os.environ.get("RELIABILITY_KILL_AT")
    if point:
        install(point, index_dir)
    announce_start()
    sys.argv = [str(ROOT / "scripts" / script), *args]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
