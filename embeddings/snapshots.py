"""Vector snapshots: the immutable, memory-mapped files of a generation that FAISS searches.

A snapshot is five files in the generation's folder, named by the change version it holds (every
write up to and including that version, none after)::

    vectors-000000001234.faiss                the passages' FAISS index (any kind), vector i at position i
    vectors-000000001234.keys.npy             the passage key of each position, ascending (int64)
    vectors-000000001234.articles.faiss       the article vectors (a kind for their own number), by article key
    vectors-000000001234.articles.keys.npy
    vectors-000000001234.json                 what they are: kind, counts, version, each file's size and SHA-256

The JSON is written last, so a snapshot without it was never finished and is never read. A build
writes version 0; compaction (embeddings.compaction) writes the next from the store. Which one is
current is recorded in the store (``Store.snapshot_version``), in the same transaction that drops
the changes it folded. Files are never changed once written: every worker maps them read-only and
the page cache holds one copy for all.

Verification (the SHA-256 of each file, SQLite's quick_check of the store) is done once per file
state: the size, modification time and inode of a file that passed are recorded in
``verified.json``, and a file whose state still matches is not read again at the next open. A
file changed since (a bad disk, a hand edit) is checked again and refused, naming it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import orjson

from embeddings.ann import kind_of

VERIFIED = "verified.json"


class SnapshotError(RuntimeError):
    """A snapshot file is missing, damaged or not what its record says (the message names it)."""


def stem(version: int) -> str:
    return f"vectors-{version:012d}"


def faiss_path(gen_dir: Path, version: int) -> Path:
    """The snapshot's FAISS file of passages."""
    return set_paths(gen_dir, version, "passages")[0]


def record_path(gen_dir: Path, version: int) -> Path:
    return gen_dir / f"{stem(version)}.json"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def file_digest(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


@dataclass
class VectorSet:
    """One of a snapshot's two sets of vectors: a FAISS index with the key of each position."""

    index: faiss.Index
    keys: np.ndarray  # ascending int64, one per vector


@dataclass
class Snapshot:
    passages: VectorSet  # of the generation's kind
    articles: VectorSet  # flat, keyed by article key (embeddings/articles.py)
    record: dict


SETS = {"passages": "", "articles": ".articles"}  # a set's infix in its file names


def set_paths(gen_dir: Path, version: int, name: str) -> tuple[Path, Path]:
    """(FAISS file, keys file) of one set of the snapshot."""
    base = f"{stem(version)}{SETS[name]}"
    return gen_dir / f"{base}.faiss", gen_dir / f"{base}.keys.npy"


def write(
    gen_dir: Path,
    version: int,
    kind: str,
    passages: VectorSet,
    articles: VectorSet,
    articles_kind: str,
    **details: object,
) -> dict:
    """Write the snapshot ``version`` of ``gen_dir`` (durable when this returns) and return its
    record: ``kind`` and ``articles_kind`` are the two sets' FAISS kinds; ``details``, such as
    what compaction folded in, are added to it."""
    files = []
    for name, vectors in (("passages", passages), ("articles", articles)):
        keys = np.ascontiguousarray(vectors.keys, dtype=np.int64)
        if vectors.index.ntotal != len(keys) or (len(keys) > 1 and not (np.diff(keys) > 0).all()):
            raise ValueError(f"a snapshot's {name} need one ascending key per vector")
        for path in set_paths(gen_dir, version, name):
            tmp = path.with_name(path.name + ".tmp")
            if path.suffix == ".faiss":
                faiss.write_index(vectors.index, str(tmp))
            else:
                with open(tmp, "wb") as fh:
                    np.save(fh, keys)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            files.append(path)
    record = {
        "version": version,
        "kind": kind,
        "articles_kind": articles_kind,
        "vectors": int(passages.index.ntotal),
        "articles": int(articles.index.ntotal),
        "dimension": int(passages.index.d),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **details,
        # Checked when a file's state changes: FAISS reads flipped bytes in its vectors without complaint.
        "files": {path.name: file_digest(path) for path in files},
    }
    for path in files:
        mark_verified(gen_dir, path)
    write_file(record_path(gen_dir, version), orjson.dumps(record, option=orjson.OPT_INDENT_2))
    fsync_dir(gen_dir)
    return record


def read_record(gen_dir: Path, version: int) -> dict:
    path = record_path(gen_dir, version)
    try:
        record = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise SnapshotError(f"{path}: missing") from None
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("version") != version or not isinstance(record.get("files"), dict):
        raise SnapshotError(f"{path}: not the record of snapshot {version}")
    return record


def open_mapped(gen_dir: Path, version: int) -> Snapshot:
    """The snapshot's two sets, memory-mapped read-only, and its record; each file verified
    against the record unless it passed in the same state before."""
    record = read_record(gen_dir, version)
    where = record_path(gen_dir, version).name
    for name, recorded in record["files"].items():
        path = gen_dir / name
        if not path.is_file():
            raise SnapshotError(f"{path}: missing")
        if not is_verified(gen_dir, path):
            if file_digest(path) != recorded:
                raise SnapshotError(f"{path}: damaged (its size or SHA-256 differs from the one recorded in {where})")
            mark_verified(gen_dir, path)
    sets = {}
    for name, kind in (("passages", record.get("kind")), ("articles", articles_kind(record))):
        vectors, keys_file = set_paths(gen_dir, version, name)
        try:
            index = faiss.read_index(str(vectors), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise SnapshotError(f"{vectors}: cannot be read as a FAISS index ({reason})") from None
        if kind_of(index) != kind:
            raise SnapshotError(f"{vectors}: not the {kind} index that {where} records")
        try:
            keys = np.load(keys_file, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise SnapshotError(f"{keys_file}: cannot be read ({exc})") from None
        if keys.dtype != np.int64 or keys.shape != (index.ntotal,):
            raise SnapshotError(f"{keys_file}: does not hold one key per vector of {vectors.name}")
        sets[name] = VectorSet(index, keys)
    return Snapshot(sets["passages"], sets["articles"], record)


def articles_kind(record: dict) -> str:
    """The FAISS kind of a snapshot's article vectors (flat in snapshots made before they had a choice)."""
    return record.get("articles_kind", "flat")


def versions(gen_dir: Path) -> list[int]:
    """The versions of the finished snapshots in ``gen_dir``, oldest first."""
    found = []
    for path in gen_dir.glob("vectors-*.json"):
        number = path.name[len("vectors-") : -len(".json")]
        if number.isdigit():
            found.append(int(number))
    return sorted(found)


def remove_older(gen_dir: Path, keep_from: int) -> None:
    """Delete the snapshots older than ``keep_from``, and unfinished ones (a killed compaction's).
    A worker that still maps a deleted file keeps reading it until it moves on (Linux frees the
    pages then)."""
    for version in versions(gen_dir):
        if version < keep_from:
            record_path(gen_dir, version).unlink(missing_ok=True)  # first: no longer a finished snapshot
    finished = {stem(v) for v in versions(gen_dir)}
    for path in gen_dir.glob("vectors-*"):
        if path.name.split(".")[0] not in finished:
            path.unlink(missing_ok=True)
    _forget_missing(gen_dir)


def _state(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_verified(gen_dir: Path) -> dict:
    try:
        record = orjson.loads((gen_dir / VERIFIED).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def is_verified(gen_dir: Path, path: Path) -> bool:
    """Whether ``path`` passed its check in the state it is in now."""
    return _read_verified(gen_dir).get(path.name) == _state(path)


def mark_verified(gen_dir: Path, path: Path) -> None:
    """Record that ``path`` passed its check in its present state (atomically: workers race here)."""
    record = _read_verified(gen_dir) | {path.name: _state(path)}
    _write_verified(gen_dir, record)


def _forget_missing(gen_dir: Path) -> None:
    record = _read_verified(gen_dir)
    kept = {name: state for name, state in record.items() if (gen_dir / name).exists()}
    if kept != record:
        _write_verified(gen_dir, kept)


def _write_verified(gen_dir: Path, record: dict) -> None:
    tmp = gen_dir / f"{VERIFIED}.{os.getpid()}-{threading.get_native_id()}.tmp"
    try:
        tmp.write_bytes(orjson.dumps(record))
        os.replace(tmp, gen_dir / VERIFIED)
    except OSError:  # a read-only disk: the check runs again at the next open, nothing worse
        tmp.unlink(missing_ok=True)
