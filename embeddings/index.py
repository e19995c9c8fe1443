"""The index directory: a manifest, the SQLite store and vector snapshots, in generations.

Layout::

    DIR/CURRENT -> gen-000002             a symlink, swapped atomically by rename
    DIR/gen-000002/manifest.json          what built it: model, chunker, kind (never changes)
    DIR/gen-000002/store.sqlite           documents, passages, their vectors: the source of truth
    DIR/gen-000002/vectors-<version>.*    an immutable vector snapshot (embeddings/snapshots.py)

A build (a new corpus, a re-index with another model, backend or kind) writes a whole new
generation beside the current one and then swaps ``CURRENT``; a crash at any moment leaves the
previous generation readable. Writes through the API go to the store; every process searches the
current snapshot, memory-mapped, plus a delta of what was written since; compaction
(embeddings.compaction) folds the delta into the next snapshot of the same generation.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import orjson

from embeddings import lexical, snapshots
from embeddings import store as store_mod
from embeddings.ann import AUTO, KINDS, Effort, build_faiss_index, choose_kind, describe
from embeddings.ann import kind as ann_kind
from embeddings.ann.hnsw import DEFAULT_EF_SEARCH
from embeddings.ann.ivfpq import DEFAULT_NPROBE
from embeddings.articles import FORM as ARTICLE_FORM
from embeddings.articles import article_vectors_for, first_passages
from embeddings.articles import index_kind as article_index_kind
from embeddings.chunking import ChunkerSettings, Passage, chunk_document
from embeddings.corpus import Document
from embeddings.encoders import Encoder, ModelIdentity
from embeddings.vector_index import VectorIndex, within

FORMAT_VERSION = 2  # 2: vector snapshots; an index of format 1 is re-indexed from its own documents
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
STORE = "store.sqlite"
BUILD_LOCK = "build.lock"  # held by a rebuild from reading the old generation until its swap
ENCODE_CHUNK = 512  # passages per encode call: bounds the memory held by token vectors


T = TypeVar("T")


MIN_FREE_BYTES = 64 << 20  # below this, /health warns that writes are about to fail


class IndexDirError(RuntimeError):
    """The index directory is missing, damaged, or does not fit the model."""


def current_generation_dir(index_dir: Path) -> Path:
    link = Path(index_dir) / CURRENT
    if not link.is_symlink() and not link.exists():
        raise IndexDirError(f"{index_dir}: no index here (no {CURRENT}); build one with scripts/build_index.py")
    target = link.resolve()
    if not target.is_dir():
        raise IndexDirError(f"{index_dir}: {CURRENT} points to {target.name}, which is missing")
    return target


def exists(index_dir: Path) -> bool:
    return (Path(index_dir) / CURRENT).is_symlink()


def read_manifest(gen_dir: Path) -> dict:
    path = gen_dir / MANIFEST
    try:
        manifest = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise IndexDirError(f"{path}: missing") from exc
    except orjson.JSONDecodeError as exc:
        raise IndexDirError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") not in (1, FORMAT_VERSION):
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexDirError(f"{path}: not an index manifest of a format version this code reads ({found!r})")
    for key in ("model", "dimension", "counts", "generation"):
        if key not in manifest:
            raise IndexDirError(f"{path}: the field {key!r} is missing")
    return manifest


def check_format(manifest: dict, where: Path) -> None:
    if manifest["format_version"] != FORMAT_VERSION:
        raise IndexDirError(
            f"{where}: an index of format version {manifest['format_version']}, this code reads version "
            f"{FORMAT_VERSION}; re-index it with scripts/build_index.py --reindex --index DIR"
        )


def _lexical_is_current(manifest: dict) -> bool:
    return manifest.get("lexical", {}).get("tokenizer_version") == lexical.TOKENIZER_VERSION


def _articles_are_current(manifest: dict) -> bool:
    return manifest.get("articles") == ARTICLE_FORM


def _built_by(manifest: dict, identity: ModelIdentity) -> bool:
    built = manifest["model"]
    return built.get("fingerprint") == identity.fingerprint and manifest["dimension"] == identity.dimension


def check_lexical(manifest: dict, where: Path) -> None:
    version = manifest.get("lexical", {}).get("tokenizer_version")
    if not _lexical_is_current(manifest):
        raise IndexDirError(
            f"{where}: the lexical index was made by tokenizer version {version}, this code uses "
            f"version {lexical.TOKENIZER_VERSION}; rebuild the index with scripts/build_index.py"
        )


def check_articles(manifest: dict, where: Path) -> None:
    if not _articles_are_current(manifest):
        raise IndexDirError(
            f"{where}: this index has no article vectors of the form this code uses (it was built by an "
            "older version); rebuild the index with scripts/build_index.py"
        )


def check_model(manifest: dict, identity: ModelIdentity, where: Path) -> None:
    built = manifest["model"]
    if not _built_by(manifest, identity):
        raise IndexDirError(
            f"{where}: this index was built with the model {built.get('name')!r} "
            f"(fingerprint {str(built.get('fingerprint'))[:12]}, dimension {manifest['dimension']}), "
            f"but the configured model is {identity.name!r} (fingerprint {identity.fingerprint[:12]}, "
            f"dimension {identity.dimension}). Use that model (EMBEDDING_MODEL) or rebuild the index."
        )


class IndexBusyError(IndexDirError):
    """A rebuild is reading the current generation: a write now would not reach the new one."""


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Held by a rebuild from reading the current generation's documents until its new
    generation is current: writes are refused meanwhile (:class:`IndexBusyError`) rather than
    lost in a generation that nobody reads any more. Waits for writes in flight; a killed
    rebuild releases it with its process."""
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(index_dir) / BUILD_LOCK, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


@contextmanager
def no_rebuild(index_dir: Path) -> Iterator[None]:
    """Held by a write: shared with other writes, refused while a rebuild holds :func:`build_lock`."""
    with open(Path(index_dir) / BUILD_LOCK, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"{index_dir}: the index is being rebuilt; writes are taken again when the new generation is in place"
            ) from None
        yield


def stale_reason(index_dir: Path, identity: ModelIdentity, kind: str = AUTO) -> str | None:
    """Why the index at ``index_dir`` cannot serve this model, backend and kind as it is (None: it
    can): what a re-index from its own documents fixes."""
    manifest = read_manifest(current_generation_dir(index_dir))
    if manifest["format_version"] != FORMAT_VERSION:
        return f"it is of format version {manifest['format_version']}, this code writes {FORMAT_VERSION}"
    if not _built_by(manifest, identity):
        return f"it was built by {manifest['model'].get('name')!r}, {identity.name!r} is configured"
    built_kind = manifest.get("faiss", {}).get("kind")
    if kind != AUTO and built_kind != kind:
        return f"it is a {built_kind} index, {kind} asked for"
    if not _lexical_is_current(manifest):
        return "its lexical tokens were made by another tokenizer version"
    if not _articles_are_current(manifest):
        return "it has no article vectors of the current form"
    return None


@dataclass
class RebuildResult:
    build: BuildResult
    kept_api_documents: int  # documents added through the API that the new generation keeps
    replaced_corpus_documents: int  # of them, those in place of a corpus document with the same id


def rebuild(
    index_dir: Path,
    encoder: Encoder,
    corpus: Iterable[Document] | None = None,
    keep_api_documents: bool = True,
    **build_options,
) -> RebuildResult:
    """A new generation under :func:`build_lock`: from the index's own documents (``corpus`` None:
    a re-index, corpus and API documents alike, same ids and metadata), or from ``corpus`` plus
    the documents added through the API (unless ``keep_api_documents`` is False), which win over
    a corpus document of the same id: they were written later. ``build_options`` go to :func:`build`."""
    index_dir = Path(index_dir)
    with build_lock(index_dir):
        old: list[Document] = []
        if exists(index_dir):
            gen_dir = current_generation_dir(index_dir)
            store = store_mod.Store(gen_dir / STORE, int(read_manifest(gen_dir)["dimension"]))
            try:
                if corpus is None:
                    old = list(store.documents())
                elif keep_api_documents:
                    old = list(store.documents(source="api"))
            except sqlite3.DatabaseError as exc:
                raise IndexDirError(f"{gen_dir / STORE}: its documents cannot be read ({exc})") from exc
            finally:
                store.close()
        elif corpus is None:
            raise IndexDirError(f"{index_dir}: no index here to re-index")
        if corpus is None:
            documents, kept, replaced = old, 0, 0
        else:
            api_ids = {doc.id for doc in old}
            from_corpus = list(corpus)
            replaced = sum(doc.id in api_ids for doc in from_corpus)
            documents = [doc for doc in from_corpus if doc.id not in api_ids] + old
            kept = len(old)
        return RebuildResult(build(documents, index_dir, encoder, **build_options), kept, replaced)


@dataclass
class BuildResult:
    manifest: dict
    problems: list[str]
    encode_seconds: float


def build(
    documents: Iterable[Document],
    index_dir: Path,
    encoder: Encoder,
    chunker: ChunkerSettings | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    kind: str = AUTO,
) -> BuildResult:
    """Chunk, encode and write a new generation of ``index_dir``, then make it current.

    ``kind`` is the FAISS index kind (embeddings.vector_index; ``auto`` chooses by size).
    ``on_total(n)`` is told the number of texts to encode (passages, then one article per
    document) before encoding starts and ``progress(n)`` after each encoded chunk of n texts.
    """
    chunker = chunker or ChunkerSettings()
    index_dir = Path(index_dir)
    problems: list[str] = []
    docs: list[Document] = []
    passages_by_doc: list[list[Passage]] = []
    seen: set[str] = set()
    budget = encoder.passage_token_budget()
    for doc in documents:
        if doc.id in seen:
            problems.append(f"{doc.source or doc.id}: duplicate document id {doc.id!r}; skipped")
            continue
        seen.add(doc.id)
        docs.append(doc)
        passages_by_doc.append(chunk_document(doc, encoder.token_count, budget, chunker))
    if not docs:
        raise IndexDirError("nothing to index: the corpus holds no readable document")
    flat = [p for ps in passages_by_doc for p in ps]
    kind = choose_kind(kind, len(flat))
    if len(flat) < ann_kind(kind).min_vectors:
        raise IndexDirError(
            f"an {kind} index is trained on its passages and needs at least {ann_kind(kind).min_vectors}; "
            f"this corpus has {len(flat)}: build a flat or hnsw index"
        )
    if on_total:
        on_total(len(flat) + len(docs))

    vectors = np.empty((len(flat), encoder.identity.dimension), dtype=np.float32)
    sentence_vectors: list[np.ndarray] = []
    encode_seconds = 0.0
    for lo in range(0, len(flat), ENCODE_CHUNK):
        chunk = flat[lo : lo + ENCODE_CHUNK]
        t0 = time.perf_counter()
        v, sv = encoder.encode_passages([p.text for p in chunk], [p.sentences for p in chunk])
        encode_seconds += time.perf_counter() - t0
        vectors[lo : lo + len(chunk)] = v
        sentence_vectors.extend(sv)
        if progress:
            progress(len(chunk))
    t0 = time.perf_counter()
    article_vectors = article_vectors_for(encoder, docs, passages_by_doc, vectors)
    encode_seconds += time.perf_counter() - t0
    if progress:
        progress(len(docs))
    corpus = EncodedCorpus(docs, passages_by_doc, vectors, sentence_vectors, article_vectors)
    chunker_record = chunker.as_dict() | {"token_budget": min(budget, chunker.max_tokens)}
    manifest = write_generation(index_dir, corpus, encoder.identity, chunker_record, kind)
    return BuildResult(manifest=manifest, problems=problems, encode_seconds=encode_seconds)


@dataclass
class EncodedCorpus:
    """Documents with their passages and vectors: what a generation is written from."""

    documents: list[Document]
    passages: list[list[Passage]]  # per document, in order
    vectors: np.ndarray  # float32, one row per passage in that order
    sentence_vectors: list[np.ndarray]  # one (sentences x dimension) array per passage
    article_vectors: np.ndarray  # one row per document


def write_generation(
    index_dir: Path, corpus: EncodedCorpus, identity: ModelIdentity, chunker_record: dict, kind: str
) -> dict:
    """Write ``corpus`` as a new generation of ``index_dir`` (its store, its first vector snapshot,
    its manifest, in a folder renamed into place when whole), make it current and return its
    manifest. A crash at any moment leaves the previous generation current and readable."""
    passages = sum(len(ps) for ps in corpus.passages)
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    for stale in index_dir.glob("gen-*.tmp"):  # left by a build killed mid-write; never read
        shutil.rmtree(stale, ignore_errors=True)
    generation = _next_generation(index_dir)
    final_dir = index_dir / f"gen-{generation:06d}"
    tmp_dir = index_dir / f"gen-{generation:06d}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir()
    try:
        store = store_mod.Store.create(tmp_dir / STORE, identity.dimension)
        with store.begin_write() as write:
            pos = 0
            for doc, doc_passages, article in zip(
                corpus.documents, corpus.passages, corpus.article_vectors, strict=True
            ):
                n = len(doc_passages)
                write.insert_document(
                    doc,
                    doc_passages,
                    corpus.vectors[pos : pos + n],
                    corpus.sentence_vectors[pos : pos + n],
                    pos,
                    article,
                )
                pos += n
            write.set_next_key(passages)
        store.checkpoint()
        check = store.quick_check()  # here, once: the workers that open it need not
        store.close()
        if check != "ok":
            raise IndexDirError(f"{tmp_dir / STORE}: SQLite quick_check after writing it: {check}")
        snapshots.mark_verified(tmp_dir, tmp_dir / STORE)

        keys = np.arange(passages, dtype=np.int64)
        article_keys = first_passages(corpus.passages)
        passage_index = build_faiss_index(kind, corpus.vectors)
        articles_kind = article_index_kind(len(article_keys))
        snapshots.write(
            tmp_dir,
            0,
            kind,
            snapshots.VectorSet(passage_index, keys),
            snapshots.VectorSet(build_faiss_index(articles_kind, corpus.article_vectors), article_keys),
            articles_kind,
        )

        manifest = {
            "format_version": FORMAT_VERSION,
            "generation": generation,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": identity.as_dict(),
            "dimension": identity.dimension,
            "prompts": identity.prompts,
            "chunker": chunker_record,
            "counts": {"documents": len(corpus.documents), "passages": passages},
            "faiss": describe(kind, passage_index),
            "lexical": {"kind": "sqlite-fts5-bm25", "tokenizer_version": lexical.TOKENIZER_VERSION},
            "articles": ARTICLE_FORM,
        }
        snapshots.write_file(tmp_dir / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        snapshots.fsync_dir(tmp_dir)
        os.replace(tmp_dir, final_dir)
        _swap_current(index_dir, final_dir.name)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    _remove_old_generations(index_dir, keep={final_dir.name})
    return manifest


def _next_generation(index_dir: Path) -> int:
    numbers = [int(p.name[4:10]) for p in index_dir.glob("gen-*") if p.name[4:10].isdigit()]
    return max(numbers, default=0) + 1


def _swap_current(index_dir: Path, target_name: str) -> None:
    tmp_link = index_dir / f"{CURRENT}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(target_name, tmp_link)
    os.replace(tmp_link, index_dir / CURRENT)
    snapshots.fsync_dir(index_dir)


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    """Drop generations older than the previous one (a reader may still hold the previous)."""
    gens = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for path in gens[:-2]:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


class Index:
    """The current generation: its store on disk, its vector snapshot memory-mapped, and the delta
    of writes since, kept in step with other processes.

    Writes (a document added, replaced or deleted) go to SQLite in one transaction that also
    records the change; every process replays recorded changes onto its delta and tombstones
    before it reads (:meth:`refresh`), moves to a new snapshot when compaction has made one, and
    reopens the index when a rebuild has swapped in a new generation. SQLite is the source of
    truth, so a write is durable once it commits.
    """

    compacted_in_process = True  # whether embeddings.compaction folds this process's vectors

    def __init__(self, index_dir: Path, identity: ModelIdentity, effort: Effort | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.identity = identity
        self.effort = effort or Effort()  # the search effort of a request that names none
        # Guards the vector index: searches and replayed changes must not overlap.
        self.lock = threading.RLock()
        self._open()

    def _open(self) -> None:
        gen_dir = current_generation_dir(self.index_dir)
        manifest = read_manifest(gen_dir)
        check_format(manifest, gen_dir / MANIFEST)
        check_model(manifest, self.identity, gen_dir / MANIFEST)
        check_lexical(manifest, gen_dir / MANIFEST)
        check_articles(manifest, gen_dir / MANIFEST)
        kind = manifest.get("faiss", {}).get("kind")
        if kind not in KINDS:
            raise IndexDirError(
                f"{gen_dir / MANIFEST}: unknown FAISS index kind {kind!r} (this code knows {', '.join(KINDS)}); "
                "rebuild the index with scripts/build_index.py"
            )
        store_path = gen_dir / STORE
        if not store_path.is_file():
            raise IndexDirError(f"{store_path}: missing")
        try:
            store = store_mod.Store(store_path, self.identity.dimension)
            # Structural damage (a bad page) would otherwise surface as errors in some later query;
            # checked once per state of the file, not at every worker's start.
            if not snapshots.is_verified(gen_dir, store_path):
                check = store.quick_check()
                if check != "ok":
                    raise IndexDirError(f"{store_path}: damaged (SQLite quick_check: {check.splitlines()[-1]})")
                snapshots.mark_verified(gen_dir, store_path)
        except sqlite3.DatabaseError as exc:
            raise IndexDirError(f"{store_path}: not a readable index store ({exc})") from exc
        self.gen_dir, self.manifest, self.store, self.kind = gen_dir, manifest, store, kind
        self.generation = int(manifest["generation"])
        self._filter_cache: dict[object, object] = {}
        self._filter_cache_version = -1
        self._load_vectors()

    def _load_vectors(self) -> None:
        """Open the store's current snapshot and derive its tombstones and delta from the store, as
        of one read: a snapshot passage (or article) the store no longer holds is a tombstone, one
        with a key past the snapshot's is in the delta."""
        store_path = self.gen_dir / STORE
        for attempt in range(3):
            try:
                with self.store.reading():
                    version, latest = self.store.versions()
                    try:
                        snapshot = snapshots.open_mapped(self.gen_dir, version)
                    except snapshots.SnapshotError:
                        if attempt < 2 and self.store.versions()[0] != version:
                            continue  # not ours: compacted twice meanwhile, read again
                        raise
                    vectors = self._vector_index(snapshot.passages, self.kind, snapshot.record, self.manifest["faiss"])
                    articles_kind = snapshots.articles_kind(snapshot.record)
                    articles = self._vector_index(snapshot.articles, articles_kind, snapshot.record)
                    live = self.store.live_keys()
                    last = vectors.snapshot_max_key  # every later passage or article key is in the delta
                    self._derive(vectors, live, last, self.store.vectors_by_key, snapshot.record)
                    self._derive(articles, self.store.article_keys(), last, self.store.article_vectors, snapshot.record)
                break
            except snapshots.SnapshotError as exc:
                raise IndexDirError(str(exc)) from None
            except sqlite3.DatabaseError as exc:
                raise IndexDirError(f"{store_path}: not a readable index store ({exc})") from exc
        self.vectors, self.articles = vectors, articles
        self.snapshot, self.snapshot_version, self.applied_version = snapshot.record, version, latest
        with self.lock:  # every passage's key: the unfiltered filter, read here already
            self._filter_cache, self._filter_cache_version = {(): live}, latest

    def _derive(
        self,
        vectors: VectorIndex,
        live: np.ndarray,
        last: int,
        read: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        record: dict,
    ) -> None:
        """Tombstones and delta of ``vectors`` from the keys the store holds (``live``, sorted)."""
        snapshot_keys = np.asarray(vectors.keys)
        in_range = live[live <= last]
        missing = ~within(in_range, snapshot_keys)
        if missing.any():
            where = snapshots.faiss_path(self.gen_dir, record["version"])
            raise IndexDirError(f"{where}: lacks {int(missing.sum())} vectors that {STORE} holds")
        vectors.remove(snapshot_keys[~within(snapshot_keys, in_range)])
        delta = live[live > last]
        if len(delta):
            vectors.add(*read(delta))

    def _vector_index(
        self, vector_set: snapshots.VectorSet, kind: str, record: dict, recorded: dict | None = None
    ) -> VectorIndex:
        """``vector_set`` as a VectorIndex of ``kind``, refused unless it is what ``record`` (the
        snapshot's) and ``recorded`` (the manifest's description of it, when given) say."""
        where = snapshots.faiss_path(self.gen_dir, record["version"])
        if record["kind"] != self.kind:
            raise IndexDirError(f"{where}: not the {self.kind} index that {MANIFEST} records")
        if vector_set.index.d != self.identity.dimension:
            raise IndexDirError(
                f"{where}: vectors of dimension {vector_set.index.d}, expected {self.identity.dimension}"
            )
        if recorded is not None and describe(kind, vector_set.index) != recorded:
            raise IndexDirError(
                f"{where}: built with {describe(kind, vector_set.index)}, not the {recorded} that {MANIFEST} records"
            )
        return VectorIndex(vector_set.index, vector_set.keys, kind, self.effort)

    def _apply(self, changes: list[tuple[int, str, int]]) -> None:
        """Replay recorded changes, in order, batching runs of the same operation."""
        pos = 0
        while pos < len(changes):
            op = changes[pos][1]
            end = pos
            while end < len(changes) and changes[end][1] == op:
                end += 1
            keys = np.array([c[2] for c in changes[pos:end]], dtype=np.int64)
            if op == "remove":
                self.vectors.remove(keys)
                self.articles.remove(keys)  # those that are article keys
            else:
                found, vectors = self.store.vectors_by_key(keys)
                if len(found):  # a passage added and removed since is absent: its removal follows
                    self.vectors.add(found, vectors)
                    self.articles.add(*self.store.article_vectors(found))
            self.applied_version = changes[end - 1][0]
            pos = end

    def vectors_guard(self) -> AbstractContextManager:
        """Held around a search of the vectors: the changes that refresh() replays into this
        process's vectors must not overlap one."""
        return self.lock

    def refresh(self) -> None:
        """Catch up with writes made by any process, with compaction's new snapshot, and with a
        rebuild's new generation."""
        with self.lock:
            try:
                current = os.readlink(self.index_dir / CURRENT)
            except OSError as exc:
                raise IndexDirError(f"{self.index_dir}: {CURRENT} is gone ({exc.strerror})") from exc
            if current != self.gen_dir.name:
                old = self.store
                self._open()
                old.close()
                return
            snapshot, latest = self.store.versions()
            if snapshot != self.snapshot_version:  # compaction made a new one: search it
                self._load_vectors()
            elif latest > self.applied_version:
                self._apply(self.store.changes_since(self.applied_version))

    def _cached(self, name: object, read: Callable[[], T]) -> T:
        """``read()``, kept until the next write: over a million passages, reading the keys a
        filter keeps from SQLite takes longer than a search."""
        with self.lock:
            if self._filter_cache_version != self.applied_version:
                self._filter_cache, self._filter_cache_version = {}, self.applied_version
            if name not in self._filter_cache:
                self._filter_cache[name] = read()
            return self._filter_cache[name]

    def language_keys(self, langs: Iterable[str]) -> np.ndarray:
        """The keys of the passages in ``langs`` (all passages for an empty list), in key order."""
        wanted = tuple(sorted(set(langs)))
        return self._cached(wanted, lambda: self.store.keys_matching(wanted, None))

    def date_keys(self, date_from: str | None, date_to: str | None) -> np.ndarray:
        """The keys of the passages whose document is dated within [date_from, date_to] (ISO dates,
        either end open), in key order; an undated document is outside every range."""
        keys, days = self._cached("dates", self.store.passage_dates)
        return keys[store_mod.days_within(days, date_from, date_to)]

    def filter_keys(
        self,
        langs: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        dates: tuple[str | None, str | None] = (None, None),
    ) -> np.ndarray | None:
        """The keys the language, document and date filters keep, in key order; None when there is
        no filter, or when it keeps every passage (a search without a filter is faster)."""
        if doc_ids:
            allowed = self.store.keys_matching(langs, doc_ids)
        elif langs:
            allowed = self.language_keys(langs)
        else:
            allowed = None
        if any(dates):
            in_range = self.date_keys(*dates)
            allowed = in_range if allowed is None else np.intersect1d(allowed, in_range, assume_unique=True)
        if allowed is None or len(allowed) == len(self.language_keys(())):
            return None
        return allowed

    def vector_info(self) -> dict:
        """The vector side at a glance: its kind, the snapshot, what is waiting for compaction."""
        with self.lock:
            info: dict = {
                "kind": self.vectors.kind,
                "snapshot": {"version": self.snapshot_version, "created": self.snapshot.get("created")},
                "delta_passages": self.vectors.delta_size,
                "deleted_not_compacted": self.vectors.tombstones,
                # What made the snapshot, when compaction did: when, how long, what it folded in.
                "last_compaction": self._last_compaction(),
            }
            if self.vectors.kind == "hnsw":
                info["ef_search"] = self.vectors.effort.ef_search or DEFAULT_EF_SEARCH
            elif self.vectors.kind == "ivfpq":
                info["nprobe"] = self.vectors.effort.nprobe or DEFAULT_NPROBE
            return info

    def _last_compaction(self) -> dict | None:
        compacted = self.snapshot.get("compacted")
        if not compacted:
            return None
        if "graph_rebuilt" in compacted:  # a snapshot compacted before there were two kinds to rebuild
            compacted = {k: v for k, v in compacted.items() if k != "graph_rebuilt"} | {
                "rebuilt": compacted["graph_rebuilt"]
            }
        return {"at": self.snapshot.get("created")} | compacted

    def counts(self) -> tuple[int, int]:
        return self.store.counts()

    def disk_problem(self) -> str | None:
        """Why a write would fail now, from a look at the disk under the store: "read_only" (a
        read-only file system), "full" (less than MIN_FREE_BYTES left), or None."""
        disk = os.statvfs(self.gen_dir)
        if disk.f_flag & os.ST_RDONLY:
            return "read_only"
        if disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES:
            return "full"
        return None

    @contextmanager
    def _writing(self) -> Iterator[store_mod.WriteTransaction]:
        """A write transaction on the current generation's store, refused while a rebuild runs."""
        with no_rebuild(self.index_dir), self._begin_write() as write:
            yield write

    def _begin_write(self) -> store_mod.WriteTransaction:
        """A write transaction on the current generation's store. A write that raced a rebuild's
        swap of CURRENT would otherwise land in a generation that nobody reads any more."""
        for _ in range(3):
            write = self.store.begin_write()
            if os.readlink(self.index_dir / CURRENT) == self.gen_dir.name:
                return write
            write.rollback()
            self.refresh()
        raise IndexDirError(f"{self.index_dir}: rebuilt again and again during one write; try again")

    def write_document(self, doc: Document, encoder: Encoder) -> tuple[list[Passage], bool]:
        """Add ``doc``, replacing a document with the same id; returns its passages and whether it
        replaced one. The same chunking and encoding as a build; durable when this returns."""
        chunker = ChunkerSettings(self.manifest["chunker"]["max_tokens"], self.manifest["chunker"]["min_chars"])
        passages = chunk_document(doc, encoder.token_count, encoder.passage_token_budget(), chunker)
        vectors, sentence_vectors = encoder.encode_passages([p.text for p in passages], [p.sentences for p in passages])
        article = article_vectors_for(encoder, [doc], [passages], vectors)[0]
        with self._writing() as write:
            replaced = bool(write.delete_document(doc.id))
            first = write.next_key()
            keys = write.insert_document(doc, passages, vectors, sentence_vectors, first, article)
            write.record_added(keys)
            write.set_next_key(first + len(keys))
        self.refresh()
        return passages, replaced

    def delete_document(self, doc_id: str) -> bool:
        """Delete a document and its passages; False when there was none. Durable when this returns."""
        with self._writing() as write:
            exists = write.document_exists(doc_id)
            write.delete_document(doc_id)
        self.refresh()
        return exists

    def close(self) -> None:
        self.store.close()
