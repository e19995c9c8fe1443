"""``quality``: FLORES kk→ru top-1 and KazQAD nDCG@10, float32 against every other prepared
backend, through the evaluation harness (:mod:`embeddings.evaluation`)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.evaluation import Progress, Ranking, evaluate

QUICK_ROWS = 10  # rows of each evaluation set in a --quick run
BOUNDS = (("flores kk→ru top1", 0.005), ("kazqad nDCG@10", 0.01))  # metric, largest loss allowed


def _grow(bar: tqdm, n: int) -> None:
    bar.total = (bar.total or 0) + n
    bar.refresh()


def bench_quality(ctx: BenchContext, eval_dir: Path, quick: bool) -> None:
    limit = QUICK_ROWS if quick else None
    scores: dict[str, dict[str, float]] = {}
    for label, encoder in ctx.encoders.items():
        bar = tqdm(total=0, desc=f"quality {label}", unit="text", leave=False)
        progress = Progress(add_total=lambda n, b=bar: _grow(b, n), update=bar.update)
        # The encoder's own quality: dense ranking, where the model is all there is.
        sets = evaluate(
            eval_dir, encoder, only=["flores", "kazqad"], limit=limit, progress=progress, ranking=Ranking.of(["dense"])
        )
        bar.close()
        scores[label] = {f"{s.name} {m}": v["dense"] for s in sets for m, v in s.metrics.items()}
    for label in ctx.other_backends:
        for key, bound in BOUNDS:
            delta = scores[label][key] - scores["torch"][key]
            ctx.result.add(
                Figure(
                    "quality",
                    f"{key}: {label} − float32",
                    delta,
                    unit="abs",
                    target=f"≥ −{bound}",
                    note=f"float32 {scores['torch'][key]:.4f}, {label} {scores[label][key]:.4f}"
                    + (f" (first {limit} rows only)" if limit else ""),
                )
            )
    ctx.result.details["quality"] = scores
