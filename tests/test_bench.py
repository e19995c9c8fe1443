"""scripts/bench.py --quick: a smoke test that every section runs and prints every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    "build ÷ bare encode (torch float32)",
    "GET /v1/search (make serve defaults) median ÷ bare torch encode median",
    "GET /v1/search p99 ÷ bare torch encode median",
    "Searcher.search (torch) median ÷ bare encode",
    "Searcher.search hybrid (the default) ÷ dense (median)",
    *(
        f"{kind} 0.02M {row}"  # --quick: 20,000 vectors of each kind
        for kind in ("hnsw", "ivfpq")
        for row in (
            "recall@10 vs exact",
            "search p50 (no encoding)",
            "search p99 (no encoding)",
            "recall@10, filter keeping 1/3",
            "memory",
            "build time",
        )
    ),
    "first search answered after start",
    "2 workers' PSS ÷ 1 worker's",
    "search p99 during compaction ÷ idle",
    "errors during compaction",
    "acknowledged writes lost",
]
# The sharded section starts Ray twice (about 2 minutes): its own smoke run, in `make test-slow`;
# tests/test_sharded_serving.py checks sharded serving itself in `make test`.
SHARDED_ROWS = [
    "GET /v1/search, 2 shards (Ray Serve) median ÷ bare torch encode",
    "GET /v1/search, 2 shards p99 ÷ bare torch encode median",
    "GET /v1/search, 2 shards ÷ one index (make serve), median",
    "2 shards: largest shard's PSS ÷ one worker's",
    "2 shards: front's PSS ÷ one worker's",
    "2 shards: search median ÷ one worker's",
    "2 shards: first search answered after start",
]
INT8_ROWS = [
    "passages/s {} ÷ torch float32 (bare)",
    "build ({}) ÷ bare encode (torch float32)",
    "Searcher.search ({}) median ÷ bare encode",
]
PEER_ROWS = ["build (torch) ÷ txtai build", "query (torch, in-process) ÷ txtai search"]


def _quick_run(tmp_path: Path, sections: list[str], expected: list[str]) -> None:
    """scripts/bench.py --quick over ``sections``: it succeeds, prints every ``expected`` row,
    writes a report with a value for each figure and leaves the workdir as it found it."""
    out = tmp_path / "bench.json"
    workdir = tmp_path / "work"  # the run's indexes go in a folder of its own inside, removed after
    workdir.mkdir()
    (workdir / "keep.txt").write_text("someone else's file")
    command = ["scripts/bench.py", "--quick", "--sections", ",".join(sections), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, *command, "--workdir", str(workdir)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in expected:
        assert row in proc.stdout, f"row {row!r} missing from:\n{proc.stdout}"
    assert [p.name for p in workdir.iterdir()] == ["keep.txt"]
    report = json.loads(out.read_text())
    assert report["command"].startswith("scripts/bench.py --quick")
    for figure in report["figures"]:
        assert figure["value"] is not None
        assert figure["met"] in (True, False, None)


def test_bench_quick_prints_every_row(tmp_path):
    from embeddings.benchmark import SECTIONS
    from embeddings.encoders import prepared_backends

    expected = list(ROWS)
    for backend in prepared_backends():
        if backend != "torch":
            expected += [row.format(backend) for row in INT8_ROWS]
    try:
        import txtai  # noqa: F401

        expected += PEER_ROWS
    except ImportError:
        pass
    _quick_run(tmp_path, [section for section in SECTIONS if section != "sharded"], expected)


@pytest.mark.slow
def test_bench_quick_prints_every_sharded_row(tmp_path):
    _quick_run(tmp_path, ["sharded"], SHARDED_ROWS)


def test_bench_refuses_an_unknown_section():
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--sections", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "unknown section" in proc.stderr


@pytest.mark.parametrize("values", [[1.0, 3.0, 2.0]])
def test_summarise_gives_median_and_spread(values):
    from embeddings.benchmark.figures import summarise

    assert summarise(values) == (2.0, (1.0, 3.0))
