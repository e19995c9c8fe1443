"""Damaged index files: truncated, corrupted or missing, a manifest from another model.

Whatever is wrong, opening the index must fail with a message that names the file and says what
is wrong with it; the server must refuse to start (a non-zero exit, that message, no traceback
to dig it out of), a script must stop with ``error: ...`` and exit status 2. Never a segfault,
never a server that starts and answers from a damaged or empty index.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from embeddings.index import Index, IndexDirError
from service.process import ROOT, ServerProcess
from tests.reliability import summary
from tests.reliability.helpers import copy_index


def _truncate(name: str, fraction: float) -> Callable[[Path], None]:
    def damage(gen: Path) -> None:
        path = gen / name
        os.truncate(path, int(path.stat().st_size * fraction))

    return damage


def _flip(name: str, where: float | int, length: int = 64) -> Callable[[Path], None]:
    """Invert ``length`` bytes at an offset (or a fraction of the size): what a bad disk sector does."""

    def damage(gen: Path) -> None:
        path = gen / name
        data = bytearray(path.read_bytes())
        start = int(len(data) * where) if isinstance(where, float) else where
        for i in range(start, min(start + length, len(data))):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))

    return damage


def _edit_manifest(**changes) -> Callable[[Path], None]:
    def damage(gen: Path) -> None:
        manifest = json.loads((gen / "manifest.json").read_text())
        for key, value in changes.items():
            if isinstance(value, dict):
                manifest[key] = manifest[key] | value
            else:
                manifest[key] = value
        (gen / "manifest.json").write_text(json.dumps(manifest))

    return damage


def _remove(name: str) -> Callable[[Path], None]:
    return lambda gen: (gen / name).unlink()


def _corrupt_page_not_read_at_open(gen: Path) -> None:
    """Garbage over the b-tree header of the page that indexes passages by document: the store
    opens and counts its rows as before, and fails later, in the first query that needs that page."""
    path = gen / "store.sqlite"
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'passages_doc'").fetchone()[0]
    conn.close()
    _flip("store.sqlite", (root - 1) * page_size, 8)(gen)


def _store_of_another_state(gen: Path) -> None:
    """The store of another state than the vector files: it names a snapshot that is not there."""
    with sqlite3.connect(gen / "store.sqlite") as conn:
        conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('snapshot', 5)")
    conn.close()


def _dangling_current(gen: Path) -> None:
    for child in gen.iterdir():
        child.unlink()
    gen.rmdir()


def _no_index(gen: Path) -> None:
    _dangling_current(gen)
    (gen.parent / "CURRENT").unlink()


UNREADABLE = ("cannot be read", "damaged", "malformed")

# (case id, what is done to the current generation, what the message must name, and one of the
# ways it may say what is wrong)
VECTORS = "vectors-000000000000.faiss"  # the build's snapshot (embeddings/snapshots.py)
KEYS = "vectors-000000000000.keys.npy"
RECORD = "vectors-000000000000.json"
ARTICLES = "vectors-000000000000.articles.faiss"

CASES = [
    ("vectors-truncated", _truncate(VECTORS, 0.5), VECTORS, UNREADABLE),
    ("vectors-empty", _truncate(VECTORS, 0), VECTORS, UNREADABLE),
    ("vectors-header-corrupt", _flip(VECTORS, 0, 16), VECTORS, UNREADABLE),
    ("vectors-data-corrupt", _flip(VECTORS, 0.5), VECTORS, UNREADABLE),
    ("vectors-missing", _remove(VECTORS), VECTORS, "missing"),
    ("keys-corrupt", _flip(KEYS, 0.9, 8), KEYS, UNREADABLE),
    ("snapshot-record-missing", _remove(RECORD), RECORD, "missing"),
    ("articles-data-corrupt", _flip(ARTICLES, 0.5), ARTICLES, UNREADABLE),
    ("store-truncated", _truncate("store.sqlite", 0.5), "store.sqlite", UNREADABLE),
    ("store-empty", _truncate("store.sqlite", 0), "store.sqlite", ("no such table", *UNREADABLE)),
    ("store-header-corrupt", _flip("store.sqlite", 0, 16), "store.sqlite", "not a database"),
    ("store-page-corrupt", _corrupt_page_not_read_at_open, "store.sqlite", UNREADABLE),
    ("store-missing", _remove("store.sqlite"), "store.sqlite", "missing"),
    ("store-other-state", _store_of_another_state, "vectors-000000000005.json", "missing"),
    ("manifest-truncated", _truncate("manifest.json", 0.5), "manifest.json", "not valid JSON"),
    ("manifest-garbage", _flip("manifest.json", 0, 4), "manifest.json", "not valid JSON"),
    (
        "manifest-other-model",
        _edit_manifest(model={"name": "LaBSE", "fingerprint": "ab" * 32}),
        "manifest.json",
        "built with the model 'LaBSE'",
    ),
    ("manifest-other-dimension", _edit_manifest(dimension=768), "manifest.json", "dimension 768"),
    ("manifest-other-format", _edit_manifest(format_version=99), "manifest.json", "format version"),
    ("manifest-missing", _remove("manifest.json"), "manifest.json", "missing"),
    ("generation-missing", _dangling_current, "gen-000001", "missing"),
    ("no-index", _no_index, "CURRENT", "no index"),
]
IDS = [case[0] for case in CASES]
BY_ID = {case[0]: case for case in CASES}
# Each server start or script run loads the model: the quick run starts one server, the full run
# starts one per case and runs a script on one case of each kind.
QUICK = ["manifest-other-model"]
SCRIPT_CASES = ["vectors-truncated", "store-header-corrupt", "manifest-truncated", "manifest-other-model", "no-index"]

OUTCOMES: dict[str, dict[str, str]] = {"open": {}, "server": {}, "script": {}}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for layer, label in (("open", "Index()"), ("server", "gunicorn"), ("script", "scripts/search.py")):
        outcomes = OUTCOMES[layer]
        if not outcomes:
            continue
        groups: dict[str, list[str]] = {}
        for case, outcome in sorted(outcomes.items()):
            groups.setdefault(outcome, []).append(case)
        parts = [f"{len(groups.pop('refused', []))} refused naming the file and the fault"]
        for outcome, cases in sorted(groups.items(), key=lambda item: len(item[1])):
            # A handful of cases are named; "all the others" would only repeat the case list.
            parts.append(f"{len(cases)} {outcome}" + (f" ({', '.join(cases)})" if len(cases) <= 4 else ""))
        bad = sum(len(cases) for cases in groups.values())
        summary.record(
            "damaged files",
            f"{label} ({len(outcomes)} cases)",
            "; ".join(parts),
            "ok" if not bad else f"FAILED: {bad} cases",
        )


def damaged_index(seed_index_dir: Path, work: Path, case_id: str) -> tuple[Path, str, tuple[str, ...]]:
    _, damage, names, says = BY_ID[case_id]
    index_dir = copy_index(seed_index_dir, work / "index")
    damage(index_dir / "gen-000001")
    return index_dir, names, (says,) if isinstance(says, str) else says


def explains(line: str, names: str, says: tuple[str, ...]) -> bool:
    return names in line and any(s in line for s in says)


@pytest.mark.parametrize("case_id", IDS)
def test_opening_a_damaged_index_is_refused_naming_the_file(seed_index_dir, tmp_path, encoder, case_id):
    index_dir, names, says = damaged_index(seed_index_dir, tmp_path, case_id)
    try:
        index = Index(index_dir, encoder.identity)
    except IndexDirError as exc:
        message = str(exc)
        ok = explains(message, names, says)
        OUTCOMES["open"][case_id] = "refused" if ok else f"unclear message {message[:120]!r}"
        assert ok, message
        return
    except Exception as exc:
        OUTCOMES["open"][case_id] = f"{type(exc).__name__} instead of IndexDirError"
        raise
    index.close()
    OUTCOMES["open"][case_id] = "OPENED: would be served"
    pytest.fail(f"{case_id}: the damaged index opened without complaint")


def start_server_on(index_dir: Path, log: Path, timeout: float = 300) -> tuple[int | None, str, bool]:
    """(exit status, output, whether it ever answered /health) of a server started on ``index_dir``."""
    server = ServerProcess(index_dir, log, WORKERS="1")
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while server.proc.poll() is None and time.monotonic() < deadline:
            try:
                answered = answered or requests.get(server.url + "/health", timeout=2).status_code == 200
            except requests.RequestException:
                pass
            if answered:
                break
            time.sleep(0.5)
    finally:
        server.stop(signal.SIGKILL if answered else signal.SIGTERM)
    return server.proc.returncode, log.read_text(errors="replace"), answered


def server_outcome(status: int | None, output: str, answered: bool, names: str, says: tuple[str, ...]) -> str:
    if answered:
        return "SERVED the damaged index"
    if "SIGSEGV" in output or "Segmentation fault" in output or (status is not None and status < 0):
        return f"CRASHED ({status})"
    if not status:
        return f"exit status {status}"
    if not any(explains(line, names, says) for line in output.splitlines()):
        return "no line names the file and the fault"
    if "Traceback" in output:
        return "refused, but the message is buried in a traceback"
    return "refused"


def _server_case(seed_index_dir: Path, work: Path, case_id: str) -> None:
    index_dir, names, says = damaged_index(seed_index_dir, work, case_id)
    status, output, answered = start_server_on(index_dir, work / "server.log")
    outcome = server_outcome(status, output, answered, names, says)
    OUTCOMES["server"][case_id] = outcome
    assert outcome == "refused", f"{case_id}: {outcome}\n{output[-3000:]}"


@pytest.mark.parametrize("case_id", QUICK)
def test_server_refuses_to_start_on_a_damaged_index(seed_index_dir, tmp_path, case_id):
    _server_case(seed_index_dir, tmp_path, case_id)


@pytest.mark.slow
@pytest.mark.reliability_full
@pytest.mark.parametrize("case_id", [c for c in IDS if c not in QUICK])
def test_server_refuses_to_start_on_every_damaged_index(seed_index_dir, tmp_path, case_id):
    _server_case(seed_index_dir, tmp_path, case_id)


def _script_case(seed_index_dir: Path, work: Path, case_id: str) -> None:
    index_dir, names, says = damaged_index(seed_index_dir, work, case_id)
    done = subprocess.run(
        [sys.executable, "scripts/search.py", "--index", str(index_dir), "Астана"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode < 0:
        outcome = f"CRASHED ({done.returncode})"
    elif done.returncode != 2:
        outcome = f"exit status {done.returncode}"
    elif not (last.startswith("error: ") and explains(last, names, says)) or "Traceback" in done.stderr:
        outcome = f"unclear message {last[:120]!r}"
    else:
        outcome = "refused"
    OUTCOMES["script"][case_id] = outcome
    assert outcome == "refused", f"{case_id}: {outcome}\n{done.stdout[-1000:]}\n{done.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.reliability_full
@pytest.mark.parametrize("case_id", SCRIPT_CASES)
def test_script_stops_on_every_kind_of_damage(seed_index_dir, tmp_path, case_id):
    _script_case(seed_index_dir, tmp_path, case_id)
