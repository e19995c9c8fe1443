"""The benchmark's results: figures (a value, usually a median ratio over rounds with its
min–max spread, and the target it is held to), the table printed and the JSON report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson


def summarise(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Median and (min, max) of per-round values."""
    arr = np.asarray(values, dtype=np.float64)
    return float(np.median(arr)), (float(arr.min()), float(arr.max()))


def significant(value: float) -> float:
    """``value`` to 4 significant digits, as the table and the report show it."""
    if value is None or not math.isfinite(value):
        return value
    return float(f"{value:.4g}")


@dataclass
class Figure:
    section: str
    name: str
    value: float
    spread: tuple[float, float] | None = None  # min–max over rounds
    unit: str = "×"
    target: str = ""  # "≤ 1.3" or "≥ −0.005" (a Unicode minus); empty: no target
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the value meets the target; None without one. Read from the target itself, so
        the bound shown and the bound checked cannot differ."""
        if not self.target:
            return None
        relation, _, bound_text = self.target.partition(" ")
        bound = float(bound_text.replace("−", "-"))
        if relation == "≤":
            return bool(self.value <= bound)
        if relation == "≥":
            return bool(self.value >= bound)
        raise ValueError(f"target {self.target!r} is neither '≤ x' nor '≥ x'")

    def as_dict(self) -> dict:
        return {
            "section": self.section,
            "name": self.name,
            "value": significant(self.value),
            "spread": [significant(v) for v in self.spread] if self.spread else None,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


@dataclass
class BenchResult:
    figures: list[Figure] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def as_dict(self) -> dict:
        return {"figures": [f.as_dict() for f in self.figures], "details": self.details}


def format_table(result: BenchResult) -> str:
    """A plain-text table: one line per figure."""
    header = f"{'section':<8} {'figure':<46} {'median':>9} {'spread (min–max)':>21} {'target':>9} {'met':>4}"
    lines = [header, "-" * len(header)]
    for f in result.figures:
        spread = f"{significant(f.spread[0])}–{significant(f.spread[1])}" if f.spread else ""
        met = "" if f.met is None else ("yes" if f.met else "NO")
        value = f"{significant(f.value)}{'' if f.unit == '×' else ' ' + f.unit}"
        lines.append(f"{f.section:<8} {f.name:<46} {value:>9} {spread:>21} {f.target:>9} {met:>4}")
        if f.note:
            lines.append(f"{'':<8}   {f.note}")
    return "\n".join(lines)


def write_json(result: BenchResult, path: Path, command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"command": command} | result.as_dict()
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
