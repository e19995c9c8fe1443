"""Crash-safety: kill -9 the index builder and the server in the middle of writing, many times.

After every kill the index must open, hold either the state before the interrupted write or the
state after it (never a mix: no document without its passages, no FAISS vector without its
passage or the reverse, no half-replaced document), and every write the server acknowledged must
still be there.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests

from embeddings import snapshots
from embeddings.compaction import compact
from embeddings.corpus import make_document
from embeddings.index import MANIFEST, Index, current_generation_dir
from embeddings.search import Searcher, SearchQuery
from service.process import ROOT, ServerProcess
from tests.reliability import summary
from tests.reliability.build_driver import COMPACTION_POINTS, POINTS
from tests.reliability.helpers import AUTH, KEY, copy_index

DRIVER = Path(__file__).with_name("build_driver.py")
SEEDS = ROOT / "seeds"
NEW_ARTICLE = (
    " date 2026-03-01 В Астане открылся новый транспортный узел\n"
    "В Астане открылся новый транспортный узел, который соединит железную дорогу, автобусы и аэропорт "
    "в одну систему пересадок для жителей и гостей столицы.\n"
    "По словам акима города, узел рассчитан на сорок тысяч пассажиров в сутки и позволит разгрузить "
    "центральный вокзал в часы пик.\n"
)
RNG = random.Random(int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32)))


# --- the state of an index after a crash ---------------------------------------------------------


def consistency_problems(index: Index) -> list[str]:
    """Everything that would make this index a mix of two states, or unreadable in part."""
    problems = []
    conn = index.store.conn()
    if (check := conn.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
        problems.append(f"store.sqlite integrity_check: {check}")
    orphans = conn.execute("SELECT count(*) FROM passages WHERE doc_id NOT IN (SELECT id FROM documents)").fetchone()
    if orphans[0]:
        problems.append(f"{orphans[0]} passages without their document")
    empty = conn.execute("SELECT count(*) FROM documents WHERE id NOT IN (SELECT doc_id FROM passages)").fetchone()
    if empty[0]:
        problems.append(f"{empty[0]} documents without passages")
    keys, vectors = index.store.all_vectors()
    if index.vectors.size != len(keys):
        problems.append(f"FAISS holds {index.vectors.size} vectors for {len(keys)} passages")
    for key, vector in zip(keys, vectors, strict=True):
        in_faiss = index.vectors.reconstruct(int(key))
        if in_faiss is None:
            problems.append(f"passage key {key} is not in FAISS")
            continue
        if not np.allclose(in_faiss, vector, atol=1e-6):
            problems.append(f"passage key {key}: FAISS vector differs from the store's")
    next_key = conn.execute("SELECT value FROM meta WHERE name = 'next_key'").fetchone()
    if len(keys) and (next_key is None or next_key[0] <= int(keys.max())):
        problems.append(f"next_key {next_key} would reuse passage key {int(keys.max())}")
    return problems


def document_ids(index: Index) -> set[str]:
    return {row[0] for row in index.store.conn().execute("SELECT id FROM documents")}


# --- the builder ---------------------------------------------------------------------------------


@dataclass
class BuilderCrashes:
    """Kill points tried and the states found after them."""

    tried: list[str] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)
    after_at: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def two_generation_index(seed_index_dir, tmp_path_factory) -> Path:
    """The seed index as generation 2 with generation 1 still beside it: the next build makes
    generation 3 and deletes generation 1, so a kill can also land in that deletion."""
    path = copy_index(seed_index_dir, tmp_path_factory.mktemp("two-gen") / "index")
    first = (path / "CURRENT").resolve()
    assert first.name == "gen-000001"
    second = path / "gen-000002"
    shutil.copytree(first, second)
    manifest = json.loads((second / MANIFEST).read_text())
    (second / MANIFEST).write_text(json.dumps(manifest | {"generation": 2}, ensure_ascii=False, indent=2))
    os.symlink("gen-000002", path / "CURRENT.tmp")
    os.replace(path / "CURRENT.tmp", path / "CURRENT")
    return path


@pytest.fixture(scope="module")
def new_corpus(tmp_path_factory) -> Path:
    """What the interrupted build writes: two seed articles and one new one (a different set of
    documents from the seed index, so before and after are told apart by their ids)."""
    path = tmp_path_factory.mktemp("new-corpus")
    for name in sorted(p.name for p in SEEDS.glob("*.txt"))[:2]:
        shutil.copy(SEEDS / name, path / name)
    (path / "astana-transport.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    return path


def run_builder(
    index_dir: Path, corpus: Path, log: Path, point: str | None = None, kill_after: float | None = None
) -> tuple[int, float]:
    """Run the builder (killing itself at ``point``, or killed from here ``kill_after`` seconds
    after the build starts); (exit status, seconds from build start to exit)."""
    env = {name: value for name, value in os.environ.items() if name != "RELIABILITY_KILL_AT"}
    if point:
        env["RELIABILITY_KILL_AT"] = point
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "--corpus", str(corpus), "--index", str(index_dir)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
        try:
            line = proc.stdout.readline()  # blocks until the model has loaded and the build begins
            started = time.monotonic()
            if kill_after is not None and line.startswith(b"BUILD-STARTED"):
                time.sleep(kill_after)
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
            proc.stdout.read()
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return proc.returncode, time.monotonic() - started


def classify(index_dir: Path, encoder, before: set[str], after: set[str]) -> str:
    """'before' or 'after'; raises AssertionError with the reason for anything else."""
    index = Index(index_dir, encoder.identity)  # must open: IndexDirError fails the test
    try:
        problems = consistency_problems(index)
        assert not problems, problems
        ids = document_ids(index)
        counts = index.manifest["counts"]
        assert index.counts() == (counts["documents"], counts["passages"]), (index.counts(), counts)
        hits = Searcher(index, encoder).search_many([SearchQuery("Астана", 5)])[0].results
        assert hits and {h.doc_id for h in hits} <= ids
        if ids == before and index.generation == 2:
            return "before"
        if ids == after and index.generation == 3:
            return "after"
        raise AssertionError(f"a mix: generation {index.generation} with documents {sorted(ids)}")
    finally:
        index.close()


def crash_builder(
    crashes: BuilderCrashes, base: Path, corpus: Path, work: Path, encoder, point=None, kill_after=None
) -> Path:
    label = point or f"random {kill_after:.2f} s into the build"
    index_dir = copy_index(base, work / f"index-{len(crashes.tried)}")
    status, _ = run_builder(index_dir, corpus, work / f"build-{len(crashes.tried)}.log", point, kill_after)
    crashes.tried.append(label)
    if status not in (-signal.SIGKILL, 0):
        crashes.problems.append(f"{label}: the builder exited with {status} instead of being killed")
    before = {p.stem for p in SEEDS.glob("*.txt")}
    after = {p.stem for p in corpus.glob("*.txt")}
    try:
        state = classify(index_dir, encoder, before, after)
    except Exception as exc:
        crashes.problems.append(f"{label}: {type(exc).__name__}: {exc}")
        state = "BROKEN"
    crashes.states[state if status else f"{state} (finished before the kill)"] += 1
    if state == "after":
        crashes.after_at.append(label)
    return index_dir


def _report_builder(crashes: BuilderCrashes, run: str) -> None:
    states = ", ".join(f"{state}: {n}" for state, n in sorted(crashes.states.items()))
    after = f" (after: killed at {', '.join(crashes.after_at)})" if crashes.after_at else ""
    summary.record(
        "crash-safety",
        run,
        f"builder kill -9 at {len(crashes.tried)} points; states found: {states}{after}"
        + ("; never a mix" if not crashes.problems else ""),
        "ok" if not crashes.problems else "FAILED: " + "; ".join(crashes.problems)[:300],
    )
    assert not crashes.problems, "\n".join(crashes.problems)


def test_kill_9_the_builder_quick(two_generation_index, new_corpus, tmp_path, encoder):
    crashes = BuilderCrashes()
    # One kill in the quick run (each costs a model load): at the step where a generation is
    # complete on disk but not yet current, the one a careless swap gets wrong.
    crash_builder(crashes, two_generation_index, new_corpus, tmp_path, encoder, point="generation-renamed")
    _report_builder(crashes, "builder, quick")


@pytest.mark.slow
@pytest.mark.reliability_full
def test_kill_9_the_builder_at_every_step_and_at_random(two_generation_index, new_corpus, tmp_path, encoder):
    crashes = BuilderCrashes()
    # A clean build first: how long the build runs once the model is loaded (the window random
    # kills are drawn from), and proof that the 'after' state is what a finished build leaves.
    clean = copy_index(two_generation_index, tmp_path / "clean")
    status, window = run_builder(clean, new_corpus, tmp_path / "clean.log")
    assert status == 0, (tmp_path / "clean.log").read_text()[-2000:]
    assert classify(clean, encoder, {p.stem for p in SEEDS.glob("*.txt")}, {p.stem for p in new_corpus.glob("*.txt")})
    for point in POINTS:
        crash_builder(crashes, two_generation_index, new_corpus, tmp_path, encoder, point=point)
    for _ in range(10):
        crash_builder(crashes, two_generation_index, new_corpus, tmp_path, encoder, kill_after=RNG.uniform(0, window))
    _report_builder(crashes, f"builder, full (random kills within the {window:.1f} s build)")


@pytest.mark.slow
@pytest.mark.reliability_full
def test_a_build_after_a_crashed_build_succeeds_and_leaves_no_debris(
    two_generation_index, new_corpus, tmp_path, encoder
):
    """A crash mid-write leaves gen-N.tmp behind; the next build must work, and clear it up."""
    crashes = BuilderCrashes()
    index_dir = crash_builder(crashes, two_generation_index, new_corpus, tmp_path, encoder, point="faiss-partial")
    assert list(index_dir.glob("gen-*.tmp")), "the crash should have left its half-written generation"
    status, _ = run_builder(index_dir, new_corpus, tmp_path / "rebuild.log")
    assert status == 0, (tmp_path / "rebuild.log").read_text()[-2000:]
    index = Index(index_dir, encoder.identity)
    assert document_ids(index) == {p.stem for p in new_corpus.glob("*.txt")}
    index.close()
    debris = sorted(p.name for p in index_dir.iterdir() if p.name.endswith(".tmp"))
    assert not debris, f"left behind after a successful build: {debris}"


# --- compaction ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compacting_index(seed_index_dir, tmp_path_factory, encoder) -> tuple[Path, set[str]]:
    """The seed index compacted once, then written to and deleted from again: the next compaction
    folds a delta and tombstones into a new snapshot and deletes the build's snapshot."""
    path = copy_index(seed_index_dir, tmp_path_factory.mktemp("compacting") / "index")
    index = Index(path, encoder.identity)
    index.write_document(make_document("astana-transport", NEW_ARTICLE, source="api"), encoder)
    assert compact(path).version > 0
    index.write_document(make_document("metro", PARAGRAPHS[0], lang="ru", source="api"), encoder)
    assert index.delete_document(sorted(p.stem for p in SEEDS.glob("*.txt"))[0])
    ids = document_ids(index)
    index.close()
    return path, ids


def run_compaction(index_dir: Path, log: Path, point: str | None) -> int:
    env = {name: value for name, value in os.environ.items() if name != "RELIABILITY_KILL_AT"}
    if point:
        env["RELIABILITY_KILL_AT"] = point
    with open(log, "wb") as out:
        done = subprocess.run(
            [sys.executable, str(DRIVER), "compact", "--index", str(index_dir)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    return done.returncode


def test_kill_9_during_compaction_loses_nothing(compacting_index, tmp_path, encoder):
    """At each moment of a compaction: the index opens whole, on the old snapshot with its changes
    or on the new one, with every acknowledged write; the next compaction finishes and leaves no
    debris."""
    base, ids = compacting_index
    states, problems = Counter(), []
    for point in COMPACTION_POINTS:
        index_dir = copy_index(base, tmp_path / point)
        log = tmp_path / f"{point}.log"
        status = run_compaction(index_dir, log, point)
        if status != -signal.SIGKILL:
            problems.append(f"{point}: exited with {status}: {log.read_text()[-500:]}")
            continue
        for when in ("after the kill", "after the next compaction"):
            index = Index(index_dir, encoder.identity)
            try:
                found = consistency_problems(index) + (
                    [f"documents {sorted(document_ids(index) ^ ids)} differ"] if document_ids(index) != ids else []
                )
                problems += [f"{point}, {when}: {p}" for p in found]
                if when == "after the kill":
                    states[
                        "new snapshot" if index.snapshot_version > 0 and not index.vectors.delta_size else "old"
                    ] += 1
            finally:
                index.close()
            if when == "after the kill" and run_compaction(index_dir, log, None) != 0:
                problems.append(f"{point}: the next compaction failed: {log.read_text()[-500:]}")
        gen = current_generation_dir(index_dir)
        debris = [
            p.name
            for p in gen.glob("vectors-*")
            if p.name.split(".")[0] not in {snapshots.stem(v) for v in snapshots.versions(gen)}
        ]
        problems += [f"{point}: left behind {name}" for name in debris]
    summary.record(
        "crash-safety",
        "compaction",
        f"kill -9 at {len(COMPACTION_POINTS)} points; states found: "
        + ", ".join(f"{state}: {n}" for state, n in sorted(states.items()))
        + ("; every acknowledged write kept, no debris after the next compaction" if not problems else ""),
        "ok" if not problems else "FAILED: " + "; ".join(problems)[:300],
    )
    assert not problems, "\n".join(problems)


# --- the server ----------------------------------------------------------------------------------

PARAGRAPHS = (
    "Сенат одобрил поправки в закон о дорожном движении, которые ужесточают ответственность за превышение "
    "скорости и вождение без страховки на трассах республиканского значения.",
    "Мәжіліс депутаттары ауыл шаруашылығы өнімдерін экспорттау туралы заң жобасын бірінші оқылымда мақұлдады, "
    "бұл өңірлердегі фермерлерге жаңа нарықтарға шығуға мүмкіндік береді.",
)


@dataclass
class ServerCrashes:
    kills: int = 0
    states: Counter = field(default_factory=Counter)
    acknowledged: dict[str, str] = field(default_factory=dict)  # doc id -> text of its last acknowledged write
    problems: list[str] = field(default_factory=list)


def document_text(n: int, tag: str) -> str:
    return f"{PARAGRAPHS[n % 2]} Запись {tag}.\n{PARAGRAPHS[(n + 1) % 2]} Жазба {tag}."


def write_until_killed(server: ServerProcess, crashes: ServerCrashes, round_no: int, delay: float) -> dict | None:
    """Post documents (new ones, and replacements of one that keeps changing) until the server is
    killed ``delay`` seconds in; returns the write that was in flight at the kill, if any."""
    in_flight: dict | None = None
    stop, first_acknowledged = threading.Event(), threading.Event()

    def writer() -> None:
        nonlocal in_flight
        n = 0
        while not stop.is_set():
            n += 1
            doc_id = "crash-rotating" if n % 2 else f"crash-{round_no}-{n}"
            doc = {"id": doc_id, "text": document_text(n, f"{round_no}-{n}")}
            in_flight = doc
            try:
                response = requests.post(server.url + "/v1/documents", json=doc, headers=AUTH, timeout=120)
            except requests.RequestException:
                return  # cut by the kill: whether it landed is what the check decides
            if response.status_code != 201:
                crashes.problems.append(f"round {round_no}: write answered {response.status_code}: {response.text}")
                return
            crashes.acknowledged[doc_id] = doc["text"]
            in_flight = None
            first_acknowledged.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    # From the first acknowledged write on, so that every round has writes that must survive.
    first_acknowledged.wait(timeout=120)
    time.sleep(delay)
    server.stop(signal.SIGKILL)  # the master and its worker, mid-write, no chance to clean up
    stop.set()
    thread.join(timeout=130)
    crashes.kills += 1
    return in_flight


def check_after_server_kill(index_dir: Path, encoder, crashes: ServerCrashes, in_flight: dict | None) -> None:
    index = Index(index_dir, encoder.identity)  # must open after every kill
    try:
        problems = consistency_problems(index)
        conn = index.store.conn()
        stored = dict(conn.execute("SELECT id, text FROM documents WHERE id LIKE 'crash-%'").fetchall())
        for doc_id, n in conn.execute(
            "SELECT doc_id, count(*) FROM passages WHERE doc_id LIKE 'crash-%' GROUP BY doc_id"
        ):
            if n != 2:  # each document written here is two paragraphs, each long enough for a passage
                problems.append(f"{doc_id} has {n} passages, not 2")
        for doc_id, text in crashes.acknowledged.items():
            landed = in_flight is not None and in_flight["id"] == doc_id and stored.get(doc_id) == in_flight["text"]
            if stored.get(doc_id) != text and not landed:
                problems.append(f"acknowledged write of {doc_id} lost (found {stored.get(doc_id, 'nothing')[:60]!r})")
        if in_flight is None:
            state = "no write in flight"
        elif stored.get(in_flight["id"]) == in_flight["text"]:
            state = "in-flight write complete"
            crashes.acknowledged[in_flight["id"]] = in_flight["text"]  # it is there now: it must stay
        elif stored.get(in_flight["id"]) == crashes.acknowledged.get(in_flight["id"]):
            state = "in-flight write absent"
        else:
            state = "MIX"
            problems.append(f"in-flight write of {in_flight['id']} is neither before nor after")
        crashes.states[state] += 1
        crashes.problems.extend(problems)
    finally:
        index.close()


def crash_server_rounds(index_dir: Path, encoder, rounds: int, work: Path) -> ServerCrashes:
    crashes = ServerCrashes()
    for round_no in range(rounds):
        server = ServerProcess(index_dir, work / f"server-{round_no}.log", RETRIEVAL_API_KEY=KEY, WORKERS="1")
        server.wait_ready(timeout=300)
        # Writes take ~0.1-1 s each here: a kill 0-3 s after the first acknowledged one lands at a
        # different point of a different write each round (encoding, the transaction, the replay
        # into FAISS, the answer on its way back).
        in_flight = write_until_killed(server, crashes, round_no, delay=RNG.uniform(0, 3.0))
        check_after_server_kill(index_dir, encoder, crashes, in_flight)
    return crashes


def _report_server(crashes: ServerCrashes, run: str) -> None:
    states = ", ".join(f"{state}: {n}" for state, n in sorted(crashes.states.items()))
    summary.record(
        "crash-safety",
        run,
        f"server kill -9 during writes x{crashes.kills}; {len(crashes.acknowledged)} acknowledged documents "
        f"all present; states: {states}",
        "ok" if not crashes.problems else "FAILED: " + "; ".join(crashes.problems)[:300],
    )
    assert not crashes.problems, "\n".join(crashes.problems)
    assert crashes.acknowledged, "no write was acknowledged before the kills: nothing was tested"


def test_kill_9_the_server_during_writes_quick(seed_index_dir, tmp_path, encoder):
    index_dir = copy_index(seed_index_dir, tmp_path / "index")
    _report_server(crash_server_rounds(index_dir, encoder, rounds=1, work=tmp_path), "server, quick")


@pytest.mark.slow
@pytest.mark.reliability_full
def test_kill_9_the_server_during_writes_many_times(seed_index_dir, tmp_path, encoder):
    index_dir = copy_index(seed_index_dir, tmp_path / "index")
    _report_server(crash_server_rounds(index_dir, encoder, rounds=20, work=tmp_path), "server, full")
    # The state left by twenty kills still opens in a real server, which answers from it.
    server = ServerProcess(index_dir, tmp_path / "final.log", RETRIEVAL_API_KEY=KEY, WORKERS="2").wait_ready(300)
    try:
        assert requests.get(server.url + "/v1/documents/crash-rotating", timeout=30).status_code == 200
    finally:
        server.stop()


def test_store_survives_a_torn_wal(seed_index_dir, tmp_path, encoder):
    """A kill in the middle of a WAL append leaves a torn frame at the end of store.sqlite-wal;
    SQLite must ignore it on open (it fails its checksum), keeping every committed write."""
    index_dir = copy_index(seed_index_dir, tmp_path / "index")
    index = Index(index_dir, encoder.identity)
    from embeddings.corpus import make_document

    index.write_document(make_document("wal-doc", document_text(0, "wal")), encoder)
    wal = index.gen_dir / "store.sqlite-wal"
    # Keep the WAL as it is on disk (no checkpoint at close): copy it aside, close, put it back.
    saved = wal.read_bytes()
    index.close()
    wal.write_bytes(saved + os.urandom(2000))  # a torn, garbage frame after the committed ones
    for extra in (index.gen_dir / "store.sqlite-shm",):
        extra.unlink(missing_ok=True)
    reopened = Index(index_dir, encoder.identity)
    try:
        assert not consistency_problems(reopened)
        assert "wal-doc" in document_ids(reopened)
    finally:
        reopened.close()
    with sqlite3.connect(index.gen_dir / "store.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
