"""Compaction: the delta and the tombstones of the current generation folded into its next vector
snapshot, while the service goes on answering and taking writes.

Every write since the snapshot is replayed into each process's in-memory delta; a delete of a
snapshot passage is a tombstone. Both cost a little on every query and at every start, so once
they pass :data:`DELTA_PASSAGES` or :data:`TOMBSTONES` a serving process compacts in the
background (:class:`AutoCompaction`), and ``scripts/compact.py`` does it on demand:

1. under ``DIR/compact.lock`` (one compaction at a time, machine-wide) and a shared hold of the
   build lock (a rebuild waits, writes go on), one read of the store fixes a version V: every
   passage it holds then, with its vector;
2. a new snapshot of V is written beside the old one: a flat index anew from the store's vectors;
   an hnsw graph or ivfpq cells grow by the delta (a copy of the old index in memory plus the new
   vectors, its tombstones kept) until its tombstones pass :data:`REBUILD_SHARE`, then it is
   built anew (ivfpq keeping its trained cells and codebooks); the article vectors likewise, in
   the kind their own number calls for (embeddings.articles.index_kind), built anew when that changes;
3. one store transaction makes V current and drops the changes up to V. Writes made meanwhile
   have versions above V: every process replays them onto the new snapshot, so none is lost.

A kill -9 at any point leaves either the old snapshot current with its changes, or the new one
with the rest: the snapshot files are finished (fsynced, their record written last) before the
store points at them.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from embeddings import runtime, snapshots
from embeddings import store as store_mod
from embeddings.ann import Kind, add_vectors, build_faiss_index, kind
from embeddings.articles import index_kind as article_index_kind
from embeddings.index import (
    STORE,
    Index,
    IndexBusyError,
    IndexDirError,
    current_generation_dir,
    no_rebuild,
    read_manifest,
)

COMPACT_LOCK = "compact.lock"
DELTA_PASSAGES = 10_000  # exact search over the delta: ~1 ms a query at this size on one core
TOMBSTONES = 10_000  # and at least TOMBSTONE_SHARE of the snapshot
TOMBSTONE_SHARE = 0.1
REBUILD_SHARE = 0.1  # an index grown in place with more tombstones than this share is built anew
READ_SLICE = 20_000  # passages read from the store at a time
CHECK_EVERY = 5.0  # seconds between AutoCompaction's looks at the delta

log = logging.getLogger(__name__)


@dataclass
class CompactionResult:
    version: int  # the new snapshot's
    previous: int
    kind: str
    vectors: int  # in the new snapshot (an hnsw graph's tombstones included)
    folded_passages: int  # delta passages folded in
    dropped_tombstones: int
    rebuilt: bool  # an index that grows in place, built anew (past REBUILD_SHARE tombstones)
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def due(index: Index) -> bool:
    """Whether ``index``'s delta or tombstones are past the thresholds."""
    with index.lock:
        vectors = index.vectors
        snapshot = len(vectors.keys)
        return vectors.delta_size >= DELTA_PASSAGES or (
            vectors.tombstones >= TOMBSTONES and vectors.tombstones >= TOMBSTONE_SHARE * snapshot
        )


@contextmanager
def _compaction_lock(index_dir: Path, wait: bool) -> Iterator[bool]:
    with open(Path(index_dir) / COMPACT_LOCK, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def compact(index_dir: Path, wait: bool = True, every_core: bool = True) -> CompactionResult | None:
    """Fold the current generation's delta and tombstones into a new snapshot. None when there is
    nothing to fold, or (``wait`` False) another process is compacting. Raises IndexBusyError while
    a rebuild runs (its new generation holds everything anyway)."""
    index_dir = Path(index_dir)
    current_generation_dir(index_dir)  # no index here: say so before taking a lock in it
    with _compaction_lock(index_dir, wait) as held:
        if not held:
            return None
        with no_rebuild(index_dir):
            return _compact(current_generation_dir(index_dir), every_core)


def _compact(gen_dir: Path, every_core: bool) -> CompactionResult | None:
    started = time.perf_counter()
    manifest = read_manifest(gen_dir)
    kind_name, dimension = manifest["faiss"]["kind"], int(manifest["dimension"])
    index_kind = kind(kind_name)
    store = store_mod.Store(gen_dir / STORE, dimension)
    try:
        with store.reading():
            previous, version = store.versions()
            if version == previous:
                snapshots.remove_older(gen_dir, keep_from=previous)  # what a killed compaction left
                return None
            try:
                old = snapshots.open_mapped(gen_dir, previous)
            except snapshots.SnapshotError as exc:
                raise IndexDirError(str(exc)) from None
            old_keys = old.passages.keys
            live = store.live_keys()
            old_max = _max_key(old_keys)
            tombstones = _tombstones(old_keys, live)
            delta = int(np.count_nonzero(live > old_max))
            rebuild = not _grows_in_place(index_kind, tombstones, len(old_keys))
            if rebuild:
                index, start, keys = index_kind.empty_like(old.passages.index), -1, live
            else:  # the old index, in memory, grows by the delta
                index, start = faiss.read_index(str(snapshots.faiss_path(gen_dir, previous))), old_max
                keys = np.concatenate([np.asarray(old_keys), live[live > old_max]])
            old_articles = (snapshots.articles_kind(old.record), np.array(old.articles.keys))
            del old
            read = 0
            while True:
                slice_keys, vectors = store.vectors_after(start, READ_SLICE)
                if not len(slice_keys):
                    break
                add_vectors(index, vectors, every_core)
                read += len(slice_keys)
                start = int(slice_keys[-1])
            article_keys, article_vectors = store.article_vectors()
        order = np.argsort(article_keys)
        articles, articles_kind = _articles(
            gen_dir, previous, *old_articles, article_keys[order], article_vectors[order], every_core
        )
        if index.ntotal != len(keys):
            raise RuntimeError(f"compaction read {index.ntotal} vectors for {len(keys)} keys")
        result = CompactionResult(
            version=version,
            previous=previous,
            kind=kind_name,
            vectors=len(keys),
            folded_passages=delta,
            dropped_tombstones=tombstones if rebuild else 0,
            rebuilt=index_kind.grows_in_place and rebuild,
            seconds=0.0,
        )
        result.seconds = round(time.perf_counter() - started, 3)
        passages = snapshots.VectorSet(index, keys)
        details = {"compacted": result.as_dict() | {"read_passages": read}}
        snapshots.write(gen_dir, version, kind_name, passages, articles, articles_kind, **details)
        with store.begin_write() as write:
            write.set_snapshot(version)
        snapshots.remove_older(gen_dir, keep_from=previous)  # a reader may still be opening the previous one
        return result
    finally:
        store.close()


def _articles(
    gen_dir: Path,
    previous: int,
    old_kind: str,
    old_keys: np.ndarray,
    keys: np.ndarray,
    vectors: np.ndarray,
    every_core: bool,
) -> tuple[snapshots.VectorSet, str]:
    """The new snapshot's article vectors (every live article: ``keys`` ascending, ``vectors``) and
    their kind: the previous snapshot's index grown by the new articles, as for passages, while it
    is the kind their number calls for and grows in place with few tombstones; else built anew,
    of the kind chosen for their number today (flat becomes hnsw as a corpus grows)."""
    wanted = article_index_kind(len(keys))
    if wanted == old_kind and _grows_in_place(kind(wanted), _tombstones(old_keys, keys), len(old_keys)):
        index = faiss.read_index(str(snapshots.set_paths(gen_dir, previous, "articles")[0]))
        new = keys > _max_key(old_keys)
        add_vectors(index, vectors[new], every_core)
        return snapshots.VectorSet(index, np.concatenate([old_keys, keys[new]])), wanted
    return snapshots.VectorSet(build_faiss_index(wanted, vectors, every_core), keys), wanted


def _max_key(keys: np.ndarray) -> int:
    """The largest key of a snapshot's set (-1 when empty): every later key is new since."""
    return int(keys[-1]) if len(keys) else -1


def _tombstones(old_keys: np.ndarray, live: np.ndarray) -> int:
    """How many of a snapshot's keys the store no longer holds (keys are never reused)."""
    return len(old_keys) - int(np.count_nonzero(live <= _max_key(old_keys)))


def _grows_in_place(index_kind: Kind, tombstones: int, snapshot_size: int) -> bool:
    """Whether compaction adds to a copy of the previous index instead of building it anew."""
    return index_kind.grows_in_place and tombstones <= REBUILD_SHARE * snapshot_size


class AutoCompaction:
    """A serving process's background compaction: every :data:`CHECK_EVERY` seconds a daemon
    thread at the lowest CPU priority looks at the index's delta and tombstones and compacts
    when they are due, unless another process already is. Failures are logged, never raised:
    the delta keeps serving and the next look tries again."""

    def __init__(self, index: Index, check_every: float = CHECK_EVERY) -> None:
        self.index = index
        self.check_every = check_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AutoCompaction:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="compaction", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        runtime.yield_this_thread_to_searches()
        while not self._stop.wait(self.check_every):
            try:
                self.index.refresh()
                if not due(self.index):
                    continue
                result = compact(self.index.index_dir, wait=False, every_core=False)
                if result is not None:
                    log.info("compacted into snapshot %s", result.as_dict())
                    self.index.refresh()
            except IndexBusyError:
                continue  # a rebuild runs: its generation starts with an empty delta
            except Exception:
                log.exception("compaction failed; the delta keeps serving")
