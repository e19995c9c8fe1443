"""A sharded index: the vectors of an index split by document over N shards, searched as one.

Only the vectors are split: they are what grows past one machine's memory (hnsw: 1.7 GiB a
million passages). The store (texts, metadata, the lexical index, the log of writes) stays one
SQLite file that the query side, the *front* (:class:`ShardedIndex`), owns. So the lexical list
and its statistics, the filters and the fused score are those of one index by construction, and
the top ``k`` of the shards' answers merged is the top ``k`` of one index (exactly, for flat
shards).

A document belongs to shard ``blake2b(doc_id) mod N``: its passages and its article vector live
there. Shards never read the store (SQLite cannot be shared between machines): a shard holds
immutable snapshot files (``gen-X/shards/<i>-of-<N>/``, made from the generation's snapshot by
:func:`split`, on storage that every node reads) and what the front has sent it since. Every call
names the generation and the change version the front answers at; a shard that is behind says so
(:class:`Behind`), and the front sends it what it lacks (:class:`CatchUp`: the writes since, for
its documents, with their vectors, languages and dates) before asking again. A write is thus
durable when the store has it, and every shard has it before its next answer. A shard folds what
it was sent into a snapshot of its own when it is large (:meth:`Shard.compact`), so a restarted
replica opens it and is sent only what came after.

:class:`Shard` is what a shard replica holds; the front reaches it through a :class:`ShardHandle`
(a Ray Serve deployment's, service/sharded.py, or a :class:`LocalShard` in this process).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings import snapshots
from embeddings.ann import Effort, build_faiss_index, flat_view, kind
from embeddings.articles import index_kind as article_index_kind
from embeddings.encoders import ModelIdentity
from embeddings.index import CURRENT, STORE, Index, IndexDirError, read_manifest
from embeddings.store import LANG_DTYPE, PassageFacts, Store, days_within
from embeddings.vector_index import VectorIndex, within

SHARDS_DIR = "shards"  # in a generation's folder: one folder of snapshots per shard
MAX_SHARDS = 256
# A shard folds what it was sent into a new snapshot when it holds this many passages (or tombstones).
SHARD_DELTA_PASSAGES = 50_000
SETS = ("passages", "articles")
# The nearest articles a passage search asks every shard for as well (the default mode's
# embeddings.search.ARTICLE_DEPTH, which it asks next with the same vector), and how many
# queries' answers are kept for it.
ARTICLE_PREFETCH = 10
PREFETCH_KEPT = 256
CATCH_UP_TRIES = 3
# A filter a shard resolves itself: (languages, (date_from, date_to)); a document filter is sent as keys.
FilterSpec = tuple[tuple[str, ...], tuple[str | None, str | None]]


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


def _owned(facts: PassageFacts, shard: int, shards: int) -> np.ndarray:
    """Which of these passages belong to ``shard``."""
    owner = {doc_id: shard_of(doc_id, shards) for doc_id in set(facts.doc_ids)}
    return np.fromiter((owner[d] == shard for d in facts.doc_ids), dtype=bool, count=len(facts.doc_ids))


@dataclass
class Facts:
    """What a shard knows of each passage it holds, to filter without the store: its language and
    its document's day (-1: undated), by key (ascending)."""

    keys: np.ndarray
    langs: np.ndarray
    days: np.ndarray

    @classmethod
    def of(cls, facts: PassageFacts | Facts, keep: np.ndarray | None = None) -> Facts:
        """The facts of those passages ``keep`` marks (all, when None)."""
        keep = np.ones(len(facts.keys), dtype=bool) if keep is None else keep
        return cls(facts.keys[keep], facts.langs[keep], facts.days[keep])

    def with_changes(self, added: Facts, removed: np.ndarray) -> Facts:
        """These facts with ``added`` (a key held already is replaced: two catch-ups sent from one
        version by searches at once overlap) and without ``removed``."""
        held = ~within(self.keys, np.sort(added.keys))
        keys = np.concatenate([self.keys[held], added.keys])
        kept = ~within(keys, np.sort(np.asarray(removed, dtype=np.int64)))
        order = np.flatnonzero(kept)[np.argsort(keys[kept], kind="stable")]
        return Facts(
            keys[order],
            np.concatenate([self.langs[held], added.langs])[order],
            np.concatenate([self.days[held], added.days])[order],
        )

    def select(self, langs: Sequence[str], dates: tuple[str | None, str | None]) -> np.ndarray:
        """The keys in ``langs`` (all, when empty) and dated within ``dates`` (as Index.date_keys)."""
        keep = np.isin(self.langs, list(langs)) if langs else np.ones(len(self.keys), dtype=bool)
        if any(dates):
            keep &= days_within(self.days, *dates)
        return self.keys[keep]

    def save(self, path: Path) -> None:
        """Written before its snapshot's record, like the snapshot's own files: never read unless whole."""
        data = io.BytesIO()
        np.savez(data, keys=self.keys, langs=self.langs, days=self.days)
        snapshots.write_file(path, data.getvalue())

    @classmethod
    def load(cls, path: Path) -> Facts:
        try:
            with np.load(path) as data:
                return cls(data["keys"], data["langs"].astype(LANG_DTYPE), data["days"])
        except (OSError, ValueError, KeyError) as exc:
            raise IndexDirError(f"{path}: cannot be read ({exc})") from None


@dataclass
class Behind:
    """A shard's answer when it lacks writes (or a generation) the front has: where it is."""

    generation: str
    applied: int  # the change version it holds everything up to
    max_key: int  # its snapshot's largest passage key


@dataclass
class CatchUp:
    """What the front sends a shard that is behind: everything it lacks up to ``through``."""

    generation: str
    through: int
    live: np.ndarray | None  # every live key of the shard (its removals derived from them), or None
    removed: np.ndarray  # keys removed since (those it does not hold are ignored)
    added: Facts
    vectors: np.ndarray  # one per added key
    article_keys: np.ndarray  # the added documents' article keys (their first passages')
    article_vectors: np.ndarray


def _facts_path(folder: Path, version: int) -> Path:
    return folder / f"{snapshots.stem(version)}.facts.npz"


def split(gen_dir: Path, shards: int) -> None:
    """Write each shard's first snapshot of the generation in ``gen_dir`` (those not written yet):
    its documents' vectors of the generation's current snapshot, with their languages and dates.
    Run where the store is (the front, or scripts/serve_sharded.py before it starts the shards)."""
    gen_dir = Path(gen_dir)
    if all(snapshots.versions(shard_dir(gen_dir, shard, shards)) for shard in range(shards)):
        return  # split already (every start of the front asks)
    manifest = read_manifest(gen_dir)
    store = Store(gen_dir / STORE, int(manifest["dimension"]))
    try:
        with store.reading():
            version = store.versions()[0]
            generation = snapshots.open_mapped(gen_dir, version)
            facts = store.passage_facts()
        for shard in range(shards):
            folder = shard_dir(gen_dir, shard, shards)
            if snapshots.versions(folder):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "split.lock", "a+b") as lock:  # two fronts split it once
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not snapshots.versions(folder):
                    _write_split(folder, generation, facts, shard, shards, manifest["faiss"]["kind"])
    finally:
        store.close()


def _write_split(
    folder: Path, generation: snapshots.Snapshot, facts: PassageFacts, shard: int, shards: int, passage_kind: str
) -> None:
    mine = Facts.of(facts, _owned(facts, shard, shards))  # live passages now; the snapshot may hold deleted ones
    sets = {}
    for name, vector_set, set_kind in (
        ("passages", generation.passages, passage_kind),
        ("articles", generation.articles, snapshots.articles_kind(generation.record)),
    ):
        keys = np.asarray(vector_set.keys)
        keys = keys[within(keys, mine.keys)]
        vectors = flat_view(kind(set_kind).full_vectors(vector_set.index))[np.searchsorted(vector_set.keys, keys)]
        sets[name] = (keys, vectors)
    held = within(mine.keys, sets["passages"][0])  # those written since come with the first catch-up
    _write_shard_snapshot(folder, generation.record["version"], passage_kind, sets, Facts.of(mine, held), shard, shards)


def _write_shard_snapshot(
    folder: Path,
    version: int,
    passage_kind: str,
    sets: dict[str, tuple[np.ndarray, np.ndarray]],
    facts: Facts,
    shard: int,
    shards: int,
    **details: object,
) -> None:
    passage_keys, passage_vectors = sets["passages"]
    article_keys, article_vectors = sets["articles"]
    if len(passage_keys) < kind(passage_kind).min_vectors:
        raise IndexDirError(
            f"shard {shard} of {shards} holds {len(passage_keys)} passages; its {passage_kind} index "
            f"needs at least {kind(passage_kind).min_vectors}: use fewer shards or another kind"
        )
    facts.save(_facts_path(folder, version))  # before the record: a snapshot with a record is whole
    articles_kind = article_index_kind(len(article_keys))
    snapshots.write(
        folder,
        version,
        passage_kind,
        snapshots.VectorSet(build_faiss_index(passage_kind, passage_vectors), passage_keys),
        snapshots.VectorSet(build_faiss_index(articles_kind, article_vectors), article_keys),
        articles_kind,
        shard=shard,
        shards=shards,
        **details,
    )


class Shard:
    """What one shard replica holds: the vectors of its documents (a snapshot of its own, and a
    delta and tombstones of what the front sent since) and their facts, searched on request."""

    def __init__(self, index_dir: Path, shard: int, shards: int, effort: Effort | None = None) -> None:
        check_shards(shard, shards)
        self.index_dir, self.shard, self.shards = Path(index_dir), shard, shards
        self.effort = effort or Effort()
        self.lock = threading.RLock()
        self.generation = ""
        self._compacting = threading.Lock()
        current = self.index_dir / CURRENT
        if current.is_symlink() and snapshots.versions(shard_dir(current.resolve(), shard, shards)):
            self._open(os.readlink(current))  # else at the first call, once the front has split it

    def _open(self, generation: str) -> None:
        """Open this shard's latest snapshot of ``generation``."""
        folder = shard_dir(self.index_dir / generation, self.shard, self.shards)
        versions = snapshots.versions(folder)
        if not versions:
            raise IndexDirError(f"{folder}: no snapshot of this shard (the front splits a generation first)")
        try:
            snapshot = snapshots.open_mapped(folder, versions[-1])
        except snapshots.SnapshotError as exc:
            raise IndexDirError(str(exc)) from None
        record = snapshot.record
        self.vectors = VectorIndex(snapshot.passages.index, snapshot.passages.keys, record["kind"], self.effort)
        self.articles = VectorIndex(snapshot.articles.index, snapshot.articles.keys, snapshots.articles_kind(record))
        self.facts = Facts.load(_facts_path(folder, record["version"]))
        self.generation, self.record, self.applied = generation, record, int(record["version"])
        self._filters: dict[FilterSpec, np.ndarray] = {}

    def _behind(self, generation: str, version: int) -> Behind | None:
        if generation != self.generation:
            self._open(generation)
        if self.applied >= version:
            return None
        return Behind(self.generation, self.applied, self.vectors.snapshot_max_key)

    def _set(self, name: str) -> VectorIndex:
        if name not in SETS:
            raise ValueError(f"no vector set {name!r}: {', '.join(SETS)}")
        return self.vectors if name == "passages" else self.articles

    def _allowed(self, allowed: FilterSpec | np.ndarray | None) -> np.ndarray | None:
        """The keys a filter keeps: given, or resolved from the facts (kept until the next change,
        so that the vector index's selector for them is kept too)."""
        if not isinstance(allowed, tuple):
            return allowed
        if allowed not in self._filters:
            self._filters[allowed] = self.facts.select(*allowed)
        return self._filters[allowed]

    def search(
        self,
        generation: str,
        version: int,
        name: str,
        queries: np.ndarray,
        k: int,
        allowed: FilterSpec | np.ndarray | None,
        effort: Effort | None,
        articles: int = 0,
    ) -> Behind | tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """The top ``k`` (cosines, keys) of this shard's set ``name`` for each query, among
        ``allowed`` (keys, or a language and date filter the shard resolves), as of ``version`` of
        ``generation``; :class:`Behind` when it lacks some of that. With ``articles``, also the
        nearest ``articles`` article vectors of each query, unfiltered (what the default mode asks
        next with the same vector: one round trip instead of two)."""
        with self.lock:
            behind = self._behind(generation, version)
            if behind is not None:
                return behind
            scores, keys = self._set(name).search(queries, k, self._allowed(allowed), effort)
            nearest = self.articles.search(queries, articles) if articles else None
        due = max(self.vectors.delta_size, self.vectors.tombstones) >= SHARD_DELTA_PASSAGES
        if due and not self._compacting.locked():
            threading.Thread(target=self.compact, name="shard-compaction", daemon=True).start()  # answers meanwhile
        return scores, keys, nearest

    def catch_up(self, update: CatchUp) -> int:
        """Take what the front sent; returns the version this shard now holds."""
        with self.lock:
            if update.generation != self.generation:
                self._open(update.generation)
            if update.through <= self.applied:
                return self.applied  # another call brought it further already
            removed = np.asarray(update.removed, dtype=np.int64)
            if update.live is not None:
                removed = np.concatenate([removed, np.setdiff1d(self.vectors.live_keys(), update.live)])
            for vectors in (self.vectors, self.articles):
                vectors.remove(removed)  # article keys are passage keys
            self.vectors.add(update.added.keys, update.vectors)
            self.articles.add(update.article_keys, update.article_vectors)
            self.facts = self.facts.with_changes(update.added, removed)
            self.applied, self._filters = update.through, {}
            return self.applied

    def info(self, generation: str, version: int) -> Behind | dict:
        with self.lock:
            behind = self._behind(generation, version)
            if behind is not None:
                return behind
            compacted = self.record.get("compacted")
            return {
                "shard": self.shard,
                "process": os.getpid(),
                "passages": self.vectors.size,
                "articles": self.articles.size,
                "kind": self.vectors.kind,
                "snapshot": {"version": self.record["version"], "created": self.record.get("created")},
                "delta_passages": self.vectors.delta_size,
                "deleted_not_compacted": self.vectors.tombstones,
                "last_compaction": None if not compacted else {"at": self.record.get("created")} | compacted,
            }

    def compact(self) -> int | None:
        """Fold the delta and the tombstones into a new snapshot of this shard (of the version it
        holds); None when there is nothing to fold, or a compaction already runs. Searches go on
        meanwhile: the lock is held to read the vectors and to swap the snapshot, not to build it."""
        if not self._compacting.acquire(blocking=False):
            return None
        try:
            with self.lock:
                if not (self.vectors.delta_size or self.vectors.tombstones or self.articles.delta_size):
                    return None
                generation, version, facts = self.generation, self.applied, self.facts
                sets = {name: self._set(name).reconstruct_batch(self._set(name).live_keys()) for name in SETS}
                folded = {"delta_passages": self.vectors.delta_size, "tombstones": self.vectors.tombstones}
            folder = shard_dir(self.index_dir / generation, self.shard, self.shards)
            _write_shard_snapshot(
                folder, version, self.record["kind"], sets, facts, self.shard, self.shards, compacted=folded
            )
            with self.lock:
                if self.generation == generation:  # what it was sent meanwhile, it is sent again
                    self._open(generation)
            snapshots.remove_older(folder, keep_from=version)  # the older facts files with them
            return version
        finally:
            self._compacting.release()


class Pending(Protocol):
    def result(self) -> Any: ...


class ShardHandle(Protocol):
    """How the front reaches one shard: a call of a :class:`Shard` method whose answer comes later,
    so that a query asks every shard before it waits for any."""

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
    resolves it over its own passages (a language's keys at ten million are 80 MB, and a shard's
    FAISS selector for them is kept by array; embeddings/vector_index.py)."""

    spec: FilterSpec | None

    @classmethod
    def of(cls, keys: np.ndarray, spec: FilterSpec | None) -> FilterKeys:
        out = np.asarray(keys).view(cls)
        out.spec = spec
        return out

    def __array_finalize__(self, obj: object) -> None:
        self.spec = None  # an array derived from these keys is not the filter any more


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


class ShardedVectors:
    """One set of vectors (passages or articles) over every shard, shaped like the
    :class:`VectorIndex` the search code calls: a search goes to every shard, answers merged."""

    def __init__(self, name: str, index: ShardedIndex) -> None:
        self.name, self._index = name, index
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
        answers = self._index.ask_shards("search", self.name, queries, k, sent, effort, prefetch)
        if prefetch:
            self._index.keep_prefetched(queries, _merged([a[2] for a in answers], prefetch, len(queries)))
        return _merged([a[:2] for a in answers], k, len(queries))

    def reconstruct_batch(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(held keys, their vectors), in the order given: read from the store, which holds every
        vector the shards hold (a round trip to every shard per call cost more)."""
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


class ShardedIndex(Index):
    """The front of a sharded index: the store, with vectors that answer from the shards. Writes go
    to the store (durable when they return); a shard that lacks them is sent them before it answers."""

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

    def _load_vectors(self) -> None:
        split(self.gen_dir, len(self.shards))  # a new generation (a rebuild) is split before it is asked
        with self.store.reading():
            version, latest = self.store.versions()
            live = self.store.live_keys()
        try:
            record = snapshots.read_record(self.gen_dir, version)
        except snapshots.SnapshotError as exc:
            raise IndexDirError(str(exc)) from None
        self.vectors = ShardedVectors("passages", self)  # type: ignore[assignment]
        self.articles = ShardedVectors("articles", self)  # type: ignore[assignment]
        self.snapshot, self.snapshot_version, self.applied_version = record, version, latest
        with self.lock:
            self._filter_cache, self._filter_cache_version = {(): live}, latest

    def _apply(self, changes: list[tuple[int, str, int]]) -> None:
        if changes:  # the shards are sent them when they ask (ask_shards)
            self.applied_version = changes[-1][0]

    def vectors_guard(self) -> AbstractContextManager:
        # Nothing to guard here: each shard holds its own vectors under its own lock, and a shard
        # sent one catch-up twice takes it once. The front's searches wait on the shards together.
        return nullcontext()

    def ask_shards(self, method: str, *args: object) -> list[Any]:
        """Every shard's answer to ``method(generation, version, *args)``, each first sent what it
        lacks when it says it is behind."""
        generation, version = self.gen_dir.name, self.applied_version
        answers: list[Any] = [None] * len(self.shards)
        waiting = list(range(len(self.shards)))
        for _ in range(CATCH_UP_TRIES):
            pending = [(i, self.shards[i].call(method, generation, version, *args)) for i in waiting]
            waiting = []
            for i, call in pending:
                answer = call.result()
                if isinstance(answer, Behind):
                    self.shards[i].call("catch_up", self._catch_up(i, answer)).result()
                    waiting.append(i)
                else:
                    answers[i] = answer
            if not waiting:
                return answers
        raise ShardUnavailableError(f"shard {waiting[0]} did not catch up with version {version}")

    def _catch_up(self, shard: int, behind: Behind) -> CatchUp:
        """What ``shard`` lacks: the writes since its version, or (when the store no longer has
        them, or the shard held another generation) every live passage past its snapshot."""
        n = len(self.shards)
        with self.store.reading():
            snapshot, latest = self.store.versions()
            if behind.generation == self.gen_dir.name and behind.applied >= snapshot:
                changes = self.store.changes_since(behind.applied)
                added = self.store.passage_facts([key for _, op, key in changes if op == "add"])
                facts = Facts.of(added, _owned(added, shard, n))
                removed = np.asarray([key for _, op, key in changes if op == "remove"], dtype=np.int64)
                live = None
            else:
                everything = self.store.passage_facts()
                mine = _owned(everything, shard, n)
                facts = Facts.of(everything, mine & (everything.keys > behind.max_key))
                live, removed = everything.keys[mine], np.empty(0, dtype=np.int64)
            held, vectors = self.store.vectors_by_key(facts.keys.tolist())
            if not np.array_equal(held, facts.keys):  # the same read: they cannot differ
                raise IndexDirError(f"{self.gen_dir}: the store holds no vectors for some of its passages")
            article_keys, article_vectors = self.store.article_vectors(facts.keys.tolist())
        return CatchUp(self.gen_dir.name, latest, live, removed, facts, vectors, article_keys, article_vectors)

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
        if any(a is None for a in kept) or k > self.article_prefetch or len({a[1].size for a in kept}) > 1:
            return None
        return np.stack([a[0][:k] for a in kept]), np.stack([a[1][:k] for a in kept])

    def language_keys(self, langs: Sequence[str]) -> np.ndarray:
        keys = super().language_keys(langs)
        return FilterKeys.of(keys, (tuple(sorted(set(langs))), (None, None)) if langs else None)

    def filter_keys(
        self,
        langs: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        dates: tuple[str | None, str | None] = (None, None),
    ) -> np.ndarray | None:
        allowed = super().filter_keys(langs, doc_ids, dates)
        if allowed is None:
            return None
        # A document filter is sent as its keys (a few); a language and date one as its description.
        spec = None if doc_ids else (tuple(sorted(set(langs or ()))), tuple(dates))
        return FilterKeys.of(allowed, spec)  # type: ignore[arg-type]

    def vector_info(self) -> dict:
        shards = self.ask_shards("info")
        return {
            "kind": self.kind,
            "shards": shards,
            "delta_passages": sum(s["delta_passages"] for s in shards),
            "deleted_not_compacted": sum(s["deleted_not_compacted"] for s in shards),
            "last_compaction": None,
        }
