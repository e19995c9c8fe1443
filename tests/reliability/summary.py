"""Figures the reliability tests report, gathered during the run and printed as one table at its end.

Tests call :func:`record`; ``conftest.py`` prints :func:`table` in pytest's terminal summary and
writes the same rows as JSON to ``test-output/reliability/summary.json`` (git-ignored), so a full
run leaves its figures behind for the closing note.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "reliability" / "summary.json"


@dataclass
class Row:
    area: str  # fuzzing, load, crash-safety, damaged files, security
    run: str  # which test produced it (quick or full, and what)
    figures: str  # the numbers, as a person reads them
    outcome: str  # "ok", or what went wrong


ROWS: list[Row] = []


def record(area: str, run: str, figures: str, outcome: str = "ok") -> None:
    ROWS.append(Row(area, run, figures, outcome))


def table(rows: list[Row] | None = None) -> str:
    rows = ROWS if rows is None else rows
    header = Row("area", "run", "figures", "outcome")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in ("area", "run", "figures", "outcome")]

    def line(r: Row) -> str:
        cells = [r.area, r.run, r.figures, r.outcome]
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def write_json(path: Path = OUTPUT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in ROWS], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
