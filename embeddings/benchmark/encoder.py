"""``encoder``: passages/s of every other prepared backend ÷ float32 PyTorch on the same passages,
against the bare model and against the torch encoder's own ``encode_passages``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from embeddings.benchmark.baseline import bare_encode_passages
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.timing import timed_rounds

WARM_UP_PASSAGES = 8


def bench_encoder(ctx: BenchContext) -> None:
    result = ctx.result
    texts = [p.text for p in ctx.passages]
    spans = [p.sentences for p in ctx.passages]
    contenders: dict[str, Callable[[], object]] = {
        "torch_bare": partial(bare_encode_passages, ctx.encoder, texts),
        "torch_passages": partial(ctx.encoder.encode_passages, texts, spans),
    }
    for label, encoder in ctx.other_backends.items():
        contenders[f"{label}_passages"] = partial(encoder.encode_passages, texts, spans)
    bare_encode_passages(ctx.encoder, texts[:WARM_UP_PASSAGES])
    for encoder in ctx.encoders.values():
        # The whole set once: OpenVINO's int8 model pays a one-off cost for each new input width.
        encoder.encode_passages(texts, spans)
    timings = timed_rounds(contenders, ctx.rounds, progress="encoder")

    for label in ctx.other_backends:
        name = f"{label}_passages"
        rate = len(texts) / float(np.median(timings.per_round(name)))
        result.add(
            Figure(
                "encoder",
                f"passages/s {label} ÷ torch float32 (bare)",
                *timings.ratio("torch_bare", name),  # time ÷ time the other way round: a rate ratio
                target="≥ 2.5",
                note=f"{len(texts)} passages; {rate:.1f} passages/s here, with sentence vectors",
            )
        )
        result.add(
            Figure("encoder", f"encode_passages {label} ÷ torch float32", *timings.ratio("torch_passages", name))
        )
    result.details["encoder"] = {"passages": len(texts), "seconds": timings.seconds_per_round()}
