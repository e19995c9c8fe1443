"""Background writes: documents posted in bulk (or too big to encode while a client waits) are
queued durably, then written one at a time, in the order they were queued.

:class:`JobQueue` owns ``jobs.sqlite`` in the index folder, beside the generations rather than in
one, so a rebuild neither loses queued writes nor needs to carry them. A job is the writes of one
request; each write is a whole document put (added or replaced) or deleted, carried out by the
same code as a synchronous write (:func:`carry_out`). :class:`JobRunner` runs in every server
process, but only the holder of ``jobs.lock`` carries out writes: one write at a time server-wide,
in queue order, so writes of one document happen in the order they were asked for.

A write is acknowledged when its job commits (``synchronous=FULL``): a kill -9 after that loses
nothing. A write that was running when its process died is run again by the next holder of the
lock; that is safe, because a put replaces the document by id (nothing is duplicated) and a
delete of a deleted document deletes nothing.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from embeddings.chunking import Passage
from embeddings.corpus import Document, make_document
from embeddings.encoders import Encoder
from embeddings.index import Index, IndexBusyError
from embeddings.news_files import extract_page
from embeddings.store import connect

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.sqlite"
JOBS_LOCK = "jobs.lock"
JOB_ID_PATTERN = "^job-[0-9a-f]{20}$"
KEEP_FINISHED = datetime.timedelta(days=7)  # how long a finished job can still be looked up
RETRY_SECONDS = 5.0  # after a fault of the machine (a rebuild under way, a full disk) the write is tried again

Op = Literal["put", "delete"]
State = Literal["queued", "running", "done", "failed"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL                -- ISO time, UTC
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order writes are carried out in
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    fields BLOB,                         -- put: JSON of the posted fields; dropped once carried out
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    outcome BLOB,                        -- JSON: done: what the write made; failed: {"error": reason}
    finished TEXT
);
CREATE INDEX IF NOT EXISTS writes_job ON writes(job_id, seq);
CREATE INDEX IF NOT EXISTS writes_state ON writes(state, seq);
CREATE INDEX IF NOT EXISTS writes_pending ON writes(doc_id) WHERE state IN ('queued', 'running');
"""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Write:
    """One document write: ``fields`` of a put are what was posted (text or html, title, date, lang)."""

    op: Op
    doc_id: str
    fields: dict | None = None


@dataclass
class WriteStatus:
    doc_id: str
    op: Op
    state: State
    outcome: dict | None  # done: what :func:`carry_out` returned; failed: {"error": reason}
    finished: str | None  # ISO time, UTC


@dataclass
class Job:
    id: str
    created: str
    writes: list[WriteStatus] = field(default_factory=list)

    @property
    def state(self) -> State:
        """queued until a write starts, running until every write finished, then done, or
        failed when any write failed (each write says which)."""
        states = {w.state for w in self.writes}
        if states <= {"queued"}:
            return "queued"
        if states & {"queued", "running"}:
            return "running"
        return "failed" if "failed" in states else "done"

    @property
    def finished(self) -> str | None:
        return max((w.finished for w in self.writes), default=None) if self.state in ("done", "failed") else None


def posted_document(doc_id: str, fields: dict) -> Document:
    """The document a write posts: its ``text``, or the article of its ``html`` page, whose title,
    date and language fill in what the post does not give. ValueError when nothing indexable is left."""
    text, title, date, lang = fields.get("text"), fields.get("title"), fields.get("date"), fields.get("lang")
    if fields.get("html") is not None:
        page = extract_page(fields["html"])
        text, title, date, lang = page.text, title or page.title, date or page.date, lang or page.lang
    # "api" is the source a rebuild from a corpus keeps the document by, so a page's URL is not kept
    return make_document(doc_id, text, title=title, date=date, lang=lang, source="api")


def written(doc: Document, passages: Sequence[Passage], replaced: bool) -> dict:
    """What a put made, as the API answers it (``DocumentCreated`` in the service's spec)."""
    return {
        "id": doc.id,
        "title": doc.title,
        "date": doc.date,
        "lang": doc.lang,
        "replaced": replaced,
        "passages": [
            {"passage_id": p.id, "ordinal": p.ordinal, "lang": p.lang, "start": p.start, "end": p.end} for p in passages
        ],
    }


def carry_out(index: Index, encoder: Encoder, write: Write) -> dict:
    """Do one write now. ValueError: the posted document cannot be indexed (nothing is written)."""
    if write.op == "delete":
        return {"id": write.doc_id, "deleted": index.delete_document(write.doc_id)}
    doc = posted_document(write.doc_id, write.fields or {})
    passages, replaced = index.write_document(doc, encoder)
    return written(doc, passages, replaced)


class JobQueue:
    """The one way to ``jobs.sqlite``, safe to share between threads. The file is made at the
    first job, so an index that never had one (or a read-only one) is not touched."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / JOBS_FILE
        self.lock_path = Path(index_dir) / JOBS_LOCK
        self._local = threading.local()
        self.submitted = threading.Event()  # set by a submit: this process's runner need not wait for its poll

    def exists(self) -> bool:
        return self.path.is_file()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.executescript(SCHEMA)
            self._local.conn = conn
        return conn

    def submit(self, writes: Sequence[Write]) -> str:
        """Queue ``writes`` as one job, in this order; durable when this returns its id."""
        job_id = "job-" + secrets.token_hex(10)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO jobs (id, created) VALUES (?, ?)", (job_id, _now()))
            conn.executemany(
                "INSERT INTO writes (job_id, doc_id, op, fields) VALUES (?, ?, ?, ?)",
                [(job_id, w.doc_id, w.op, None if w.fields is None else orjson.dumps(w.fields)) for w in writes],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.submitted.set()
        return job_id

    def pending(self, doc_id: str) -> bool:
        """Whether a queued or running write of ``doc_id`` waits: a new write of it must queue behind."""
        if not self.exists():
            return False
        row = self._conn().execute(
            "SELECT 1 FROM writes WHERE doc_id = ? AND state IN ('queued', 'running') LIMIT 1", (doc_id,)
        )
        return row.fetchone() is not None

    def waiting(self) -> dict[str, int]:
        """Writes queued and running, over every job."""
        counts = {"queued": 0, "running": 0}
        if self.exists():
            rows = self._conn().execute(
                "SELECT state, count(*) FROM writes WHERE state IN ('queued', 'running') GROUP BY state"
            )
            counts.update(dict(rows.fetchall()))
        return counts

    def job(self, job_id: str) -> Job | None:
        if not self.exists():
            return None
        conn = self._conn()
        row = conn.execute("SELECT created FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job = Job(job_id, row[0])
        for doc_id, op, state, outcome, finished in conn.execute(
            "SELECT doc_id, op, state, outcome, finished FROM writes WHERE job_id = ? ORDER BY seq", (job_id,)
        ):
            job.writes.append(
                WriteStatus(doc_id, op, state, None if outcome is None else orjson.loads(outcome), finished)
            )
        return job

    def claim(self) -> tuple[int, Write] | None:
        """The first queued write, now marked running (only the lock holder claims)."""
        conn = self._conn()
        row = conn.execute(
            "SELECT seq, doc_id, op, fields FROM writes WHERE state = 'queued' ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        seq, doc_id, op, fields = row
        conn.execute("UPDATE writes SET state = 'running' WHERE seq = ?", (seq,))
        return seq, Write(op, doc_id, None if fields is None else orjson.loads(fields))

    def finish(self, seq: int, state: State, outcome: dict) -> None:
        self._conn().execute(
            "UPDATE writes SET state = ?, outcome = ?, fields = NULL, finished = ? WHERE seq = ?",
            (state, orjson.dumps(outcome), _now(), seq),
        )

    def requeue_running(self) -> int:
        """Writes left running by a process that died: queued again, in their old places."""
        return self._conn().execute("UPDATE writes SET state = 'queued' WHERE state = 'running'").rowcount

    def forget_finished(self, older_than: datetime.timedelta = KEEP_FINISHED) -> int:
        """Delete jobs whose every write finished more than ``older_than`` ago."""
        cutoff = (datetime.datetime.now(datetime.UTC) - older_than).isoformat(timespec="seconds")
        return (
            self._conn()
            .execute(
                "DELETE FROM jobs WHERE id IN (SELECT job_id FROM writes GROUP BY job_id "
                "HAVING SUM(state IN ('queued', 'running')) = 0 AND MAX(finished) < ?)",
                (cutoff,),
            )
            .rowcount
        )

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class JobRunner:
    """A daemon thread that carries out queued writes while its process holds ``jobs.lock``
    (the kernel releases it when the process dies, and another process's runner takes over)."""

    def __init__(self, queue: JobQueue, write: Callable[[Write], dict], poll_seconds: float = 0.5) -> None:
        self.queue = queue
        self.write = write
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-runner", daemon=True)

    def start(self) -> JobRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.queue.submitted.set()
        self._thread.join(timeout=30)

    def _wait(self, seconds: float) -> None:
        self.queue.submitted.wait(seconds)
        self.queue.submitted.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.queue.exists():
                self._wait(self.poll_seconds)
                continue
            with open(self.queue.lock_path, "a+b") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process runs the jobs
                    self._wait(self.poll_seconds * 2)
                    continue
                try:
                    self._hold()
                except Exception:  # never let the thread die: the jobs would wait forever
                    log.exception("the job runner failed; it starts again")
                    self._stop.wait(RETRY_SECONDS)

    def _hold(self) -> None:
        requeued = self.queue.requeue_running()
        if requeued:
            log.info("%d interrupted background write(s) queued again", requeued)
        self.queue.forget_finished()
        while not self._stop.is_set():
            claimed = self.queue.claim()
            if claimed is None:
                self._wait(self.poll_seconds)
                continue
            seq, write = claimed
            result = self._attempt(write)
            if result is None:  # stopping: the write stays running, and is queued again at the next start
                return
            self.queue.finish(seq, *result)

    def _attempt(self, write: Write) -> tuple[State, dict] | None:
        """Carry out ``write``; a fault of the machine is waited out and tried again, since the write
        was acknowledged; a document that cannot be indexed fails with the reason. None: stopped."""
        while True:
            try:
                return "done", self.write(write)
            except ValueError as exc:
                return "failed", {"error": str(exc)}
            except (IndexBusyError, sqlite3.Error) as exc:
                log.warning("background write of %r waits: %s", write.doc_id, exc)
                if self._stop.wait(RETRY_SECONDS):
                    return None
            except Exception:
                log.exception("background write of %r failed", write.doc_id)
                return "failed", {"error": "the server failed to carry out this write; it has been logged"}
