"""A sharded index: the vectors of an index split by document over N shards, searched as one.

Only the vectors are split: they are what grows past one machine's memory (hnsw: 1.7 GiB a
million passages). The store (texts, metadata, the lexical index, the log of writes) stays one
SQLite file that the query side and every shard read. So the lexical list and its statistics,
the filters and the fused score are those of one index by construction, and the top ``k`` of the
shards' answers merged is the top ``k`` of one index (exactly, for flat shards).

A document belongs to shard ``blake2b(doc_id) mod N``: its passages and its article vector
live there, and a write reaches that shard alone. A shard keeps its own snapshot
(``gen-X/shards/<i>-of-<N>/``, made from the generation's snapshot at its first start, then
memory-mapped at every start), with a delta and tombstones derived from the store like any
process's, and catches up with the log of writes before it answers. Compaction folds a shard's
delta into its next snapshot (:meth:`Shard.compact`).

:class:`Shard` is what a shard replica holds; :class:`ShardedIndex` is the query side's
:class:`~embeddings.index.Index`, whose vectors answer through :class:`ShardHandle` s (a Ray
Serve deployment's, service/sharded.py, or a :class:`LocalShard` in this process).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings import snapshots
from embeddings.ann import Effort, build_faiss_index, flat_view, kind
from embeddings.articles import index_kind as article_index_kind
from embeddings.encoders import ModelIdentity
from embeddings.index import Index, IndexDirError, current_generation_dir, read_manifest
from embeddings.vector_index import VectorIndex

SHARDS_DIR = "shards"  # in a generation's folder: one folder of snapshots per shard
MAX_SHARDS = 256
# A shard folds its delta into a new snapshot when it holds this many passages (or tombstones).
SHARD_DELTA_PASSAGES = 50_000
SETS = ("passages", "articles")
# The nearest articles a passage search asks every shard for as well (the default mode's
# embeddings.search.ARTICLE_DEPTH, which it asks next with the same vector), and how many
# queries' answers are kept for it.
ARTICLE_PREFETCH = 10
PREFETCH_KEPT = 256
FilterSpec = tuple[Sequence[str] | None, Sequence[str] | None, tuple[str | None, str | None]]


class ShardUnavailableError(RuntimeError):
    """A shard did not answer (its replica died or is restarting): the query can be retried."""


def shard_of(doc_id: str, shards: int) -> int:
    """The shard that owns ``doc_id``: a stable hash (the same in every process and release), so a
    document never moves while the number of shards stays."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % shards


def check_shards(shard: int, shards: int) -> None:
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"the number of shards must be between 1 and {MAX_SHARDS}, not {shards}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: shards are numbered 0 to {shards - 1}")


def shard_dir(gen_dir: Path, shard: int, shards: int) -> Path:
    return Path(gen_dir) / SHARDS_DIR / f"{shard}-of-{shards}"


class ShardIndex(Index):
    """One shard's side of an index: the store, and the vectors of the documents it owns."""

    def __init__(self, index_dir: Path, shard: int, shards: int, effort: Effort | None = None) -> None:
        check_shards(shard, shards)
        self.shard, self.shards = shard, shards
        self._owner_of: dict[str, bool] = {}  # whether this shard owns a document, by id
        self._compacting = threading.Lock()
        # The model is the query side's to check (it encodes); a shard takes what built the index.
        super().__init__(index_dir, self._built_by(index_dir), effort)

    @staticmethod
    def _built_by(index_dir: Path) -> ModelIdentity:
        return ModelIdentity(**read_manifest(current_generation_dir(index_dir))["model"])

    def _open(self) -> None:
        self.identity = self._built_by(self.index_dir)  # a rebuild may have changed it
        super()._open()

    @property
    def folder(self) -> Path:
        return shard_dir(self.gen_dir, self.shard, self.shards)

    def _owned(self, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        doc_of = self.store.passage_documents(keys.tolist())
        for doc_id in set(doc_of.values()) - self._owner_of.keys():
            self._owner_of[doc_id] = shard_of(doc_id, self.shards) == self.shard
        return np.asarray([key for key in keys.tolist() if self._owner_of.get(doc_of.get(key, ""), False)], np.int64)

    def _recorded_faiss(self) -> dict | None:
        return None  # a shard's index has parameters of its own size (ivfpq's cells)

    def _snapshot(self, version: int) -> snapshots.Snapshot:
        """This shard's latest snapshot; at the first start, made from the generation's at ``version``."""
        folder = self.folder
        if not snapshots.versions(folder):
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "make.lock", "a+b") as lock:  # two replicas of one shard make it once
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not snapshots.versions(folder):
                    self._split(snapshots.open_mapped(self.gen_dir, version))
        return snapshots.open_mapped(folder, snapshots.versions(folder)[-1])

    def _split(self, generation: snapshots.Snapshot) -> None:
        """Write this shard's first snapshot: its documents' vectors of the generation's snapshot."""
        sets = {}
        for name, vector_set, set_kind in (
            ("passages", generation.passages, self.kind),
            ("articles", generation.articles, snapshots.articles_kind(generation.record)),
        ):
            keys = self._owned(np.asarray(vector_set.keys))
            positions = np.searchsorted(vector_set.keys, keys)
            vectors = flat_view(kind(set_kind).full_vectors(vector_set.index))[positions]
            sets[name] = (keys, vectors)
        self._write(generation.record["version"], sets, split_from=generation.record["version"])

    def _write(self, version: int, sets: dict[str, tuple[np.ndarray, np.ndarray]], **details: object) -> None:
        passage_keys, passage_vectors = sets["passages"]
        article_keys, article_vectors = sets["articles"]
        if len(passage_keys) < kind(self.kind).min_vectors:
            raise IndexDirError(
                f"shard {self.shard} of {self.shards} holds {len(passage_keys)} passages; its {self.kind} index "
                f"needs at least {kind(self.kind).min_vectors}: use fewer shards or another kind"
            )
        articles_kind = article_index_kind(len(article_keys))
        snapshots.write(
            self.folder,
            version,
            self.kind,
            snapshots.VectorSet(build_faiss_index(self.kind, passage_vectors), passage_keys),
            snapshots.VectorSet(build_faiss_index(articles_kind, article_vectors), article_keys),
            articles_kind,
            shard=self.shard,
            shards=self.shards,
            **details,
        )

    def compact(self) -> int | None:
        """Fold the delta and the tombstones into a new snapshot of this shard (the version of the
        writes it holds); None when there is nothing to fold, or a compaction already runs. Searches
        go on meanwhile: the lock is held to read the vectors and to swap the snapshot, not to build it."""
        if not self._compacting.acquire(blocking=False):
            return None
        try:
            with self.lock:
                self.refresh()
                if not (self.vectors.delta_size or self.vectors.tombstones or self.articles.delta_size):
                    return None
                version = self.applied_version
                sets = {name: vectors.reconstruct_batch(vectors.live_keys()) for name, vectors in self._sets()}
                folded = {"delta_passages": self.vectors.delta_size, "tombstones": self.vectors.tombstones}
            self._write(version, sets, compacted=folded)
            with self.lock:
                self._load_vectors()  # writes since ``version`` are its delta
            snapshots.remove_older(self.folder, keep_from=version)
            return version
        finally:
            self._compacting.release()

    def _sets(self) -> tuple[tuple[str, VectorIndex], ...]:
        return (("passages", self.vectors), ("articles", self.articles))

    def compaction_due(self) -> bool:
        with self.lock:
            return max(self.vectors.delta_size, self.vectors.tombstones) >= SHARD_DELTA_PASSAGES


class Shard:
    """What one shard replica holds and answers: searches and vectors of its documents, each
    after catching up with the writes committed so far."""

    def __init__(self, index_dir: Path, shard: int, shards: int, effort: Effort | None = None) -> None:
        self.index = ShardIndex(index_dir, shard, shards, effort)

    def _set(self, name: str) -> VectorIndex:
        if name not in SETS:
            raise ValueError(f"no vector set {name!r}: {', '.join(SETS)}")
        return self.index.vectors if name == "passages" else self.index.articles

    def search(
        self,
        name: str,
        queries: np.ndarray,
        k: int,
        allowed: FilterSpec | np.ndarray | None,
        effort: Effort | None,
        articles: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """The top ``k`` (cosines, keys) of this shard's set ``name`` for each query, among
        ``allowed``: keys, or the filter's description (languages, documents, dates), which the
        shard turns into keys itself (and keeps, as every process does, until the next write).
        With ``articles``, also the nearest ``articles`` article vectors of each query, unfiltered
        (what the default mode asks next with the same vector: one round trip instead of two)."""
        with self.index.lock:
            self.index.refresh()
            if isinstance(allowed, tuple):
                allowed = self.index.filter_keys(*allowed)
            scores, keys = self._set(name).search(queries, k, allowed, effort)
            nearest = self.index.articles.search(queries, articles) if articles else None
        if self.index.compaction_due():  # in the background: this shard answers meanwhile
            threading.Thread(target=self.index.compact, name="shard-compaction", daemon=True).start()
        return scores, keys, nearest

    def info(self) -> dict:
        with self.index.lock:
            self.index.refresh()
            return {
                "shard": self.index.shard,
                "process": os.getpid(),
                "passages": self.index.vectors.size,
                "articles": self.index.articles.size,
                **self.index.vector_info(),
            }

    def compact(self) -> int | None:
        return self.index.compact()


class Pending(Protocol):
    def result(self) -> Any: ...


class ShardHandle(Protocol):
    """How the query side reaches one shard: a call of a :class:`Shard` method whose answer comes
    later, so that a query asks every shard before it waits for any."""

    def call(self, method: str, *args: object) -> Pending: ...


class _Done:
    def __init__(self, value: object) -> None:
        self.value = value

    def result(self) -> object:
        return self.value


class LocalShard:
    """A shard in this process (tests; one machine without Ray)."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard

    def call(self, method: str, *args: object) -> Pending:
        return _Done(getattr(self.shard, method)(*args))


class FilterKeys(np.ndarray):
    """The keys a filter keeps, with the filter's description: a shard is sent the description and
    keeps its own keys for it (a language's keys at ten million are 80 MB, and a shard's FAISS
    selector for them is kept by array; embeddings/vector_index.py)."""

    spec: FilterSpec | None

    @classmethod
    def of(cls, keys: np.ndarray, spec: FilterSpec) -> FilterKeys:
        out = np.asarray(keys).view(cls)
        out.spec = spec
        return out

    def __array_finalize__(self, obj: object) -> None:
        self.spec = None  # an array derived from these keys is not the filter any more


class ShardedVectors:
    """One set of vectors (passages or articles) over every shard, shaped like the
    :class:`VectorIndex` the search code calls: each call goes to every shard, answers merged."""

    def __init__(self, name: str, shards: Sequence[ShardHandle], index: ShardedIndex) -> None:
        self.name, self.shards, self._index = name, list(shards), index
        self.kind = index.kind
        self.effort = index.effort

    @property
    def size(self) -> int:
        """The passages the index answers with (the IDFs' N): every live one, as the store holds them."""
        return len(self._index.language_keys(()))

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, effort: Effort | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.name == "articles" and allowed is None:
            known = self._index.prefetched(queries, k)
            if known is not None:
                return known
        spec = getattr(allowed, "spec", None)
        sent = spec if spec is not None else (None if allowed is None else np.asarray(allowed))
        prefetch = self._index.article_prefetch if self.name == "passages" else 0
        pending = [shard.call("search", self.name, queries, k, sent, effort, prefetch) for shard in self.shards]
        answers = [p.result() for p in pending]
        if prefetch:
            self._index.keep_prefetched(queries, _merged([a[2] for a in answers], prefetch, len(queries)))
        return _merged([a[:2] for a in answers], k, len(queries))

    def reconstruct_batch(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(held keys, their vectors), in the order given: read from the store, which holds every
        vector the shards were made from (a round trip to every shard per call cost more)."""
        keys = np.asarray(keys, dtype=np.int64)
        store = self._index.store
        read = store.vectors_by_key if self.name == "passages" else store.article_vectors
        held, vectors = read(keys.tolist())
        row = {key: i for i, key in enumerate(held.tolist())}
        kept = [key for key in keys.tolist() if key in row]
        return np.asarray(kept, dtype=np.int64), vectors[[row[key] for key in kept]]

    def reconstruct(self, key: int) -> np.ndarray | None:
        held, vectors = self.reconstruct_batch(np.asarray([key], dtype=np.int64))
        return vectors[0] if len(held) else None


def _merged(answers: Sequence[tuple[np.ndarray, np.ndarray]], k: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The shards' (scores, keys) answers for ``rows`` queries as one: the best ``k`` of each row,
    equal scores by key, missing places (key -1) last."""
    scores = np.concatenate([np.asarray(a[0], dtype=np.float32).reshape(rows, -1) for a in answers], 1)
    keys = np.concatenate([np.asarray(a[1], dtype=np.int64).reshape(rows, -1) for a in answers], 1)
    ranked = np.where(keys >= 0, scores, -np.inf)
    order = np.lexsort((keys, -ranked), axis=1)[:, : min(k, keys.shape[1])]
    top_scores, top_keys = np.take_along_axis(scores, order, 1), np.take_along_axis(keys, order, 1)
    missing = ~np.isfinite(np.take_along_axis(ranked, order, 1))
    return np.where(missing, -1, top_scores).astype(np.float32), np.where(missing, -1, top_keys)


class ShardedIndex(Index):
    """The query side of a sharded index: the store, with vectors that answer from the shards.
    Writes go to the store (durable when they return), which every shard reads: the shard that
    owns the document takes them before its next answer."""

    compacted_in_process = False  # each shard compacts its own vectors

    def __init__(
        self,
        index_dir: Path,
        identity: ModelIdentity,
        shards: Sequence[ShardHandle],
        effort: Effort | None = None,
        article_prefetch: int = ARTICLE_PREFETCH,
    ) -> None:
        if not shards:
            raise ValueError("a sharded index needs at least one shard")
        self.shards = list(shards)
        self.article_prefetch = article_prefetch
        self._prefetched: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._prefetched_lock = threading.Lock()
        super().__init__(index_dir, identity, effort)

    def keep_prefetched(self, queries: np.ndarray, nearest: tuple[np.ndarray, np.ndarray]) -> None:
        """Keep the nearest articles the shards sent with a passage search, by query vector."""
        with self._prefetched_lock:
            for row, scores, keys in zip(queries, *nearest, strict=True):
                self._prefetched[row.tobytes()] = (scores, keys)  # all there are, when fewer than asked
                self._prefetched.move_to_end(row.tobytes())
            while len(self._prefetched) > PREFETCH_KEPT:
                self._prefetched.popitem(last=False)

    def prefetched(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The nearest ``k`` articles of each query, when kept for every one of them; taken once,
        so that an answer never outlives the search it came with (a write may follow)."""
        with self._prefetched_lock:
            kept = [self._prefetched.pop(row.tobytes(), None) for row in queries]
        if any(answer is None for answer in kept) or k > self.article_prefetch or len({a[1].size for a in kept}) > 1:
            return None
        return np.stack([a[0][:k] for a in kept]), np.stack([a[1][:k] for a in kept])

    def _load_vectors(self) -> None:
        with self.store.reading():
            version, latest = self.store.versions()
            live = self.store.live_keys()
        self.vectors = ShardedVectors("passages", self.shards, self)  # type: ignore[assignment]
        self.articles = ShardedVectors("articles", self.shards, self)  # type: ignore[assignment]
        try:
            record = snapshots.read_record(self.gen_dir, version)
        except snapshots.SnapshotError as exc:
            raise IndexDirError(str(exc)) from None
        self.snapshot, self.snapshot_version, self.applied_version = record, version, latest
        with self.lock:
            self._filter_cache, self._filter_cache_version = {(): live}, latest

    def _apply(self, changes: list[tuple[int, str, int]]) -> None:
        if changes:  # the shards replay them onto their own vectors
            self.applied_version = changes[-1][0]

    def filter_keys(
        self,
        langs: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        dates: tuple[str | None, str | None] = (None, None),
    ) -> np.ndarray | None:
        allowed = super().filter_keys(langs, doc_ids, dates)
        spec = (list(langs) if langs else None, list(doc_ids) if doc_ids else None, tuple(dates))
        return None if allowed is None else FilterKeys.of(allowed, spec)  # type: ignore[arg-type]

    def vector_info(self) -> dict:
        shards = [p.result() for p in [shard.call("info") for shard in self.shards]]
        return {
            "kind": self.kind,
            "shards": shards,
            "delta_passages": sum(s["delta_passages"] for s in shards),
            "deleted_not_compacted": sum(s["deleted_not_compacted"] for s in shards),
            "last_compaction": None,
        }
