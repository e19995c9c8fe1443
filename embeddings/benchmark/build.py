"""``build``: index build ÷ a bare encode of the same passages, for every prepared backend, and
against the peer's (txtai) build of the same passages in the same rounds."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from embeddings.benchmark.baseline import bare_encode_passages
from embeddings.benchmark.context import BenchContext
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.inputs import chunk_all
from embeddings.benchmark.peer import PEER, TxtaiPeer, peer_figures
from embeddings.benchmark.profiler import profile_listing
from embeddings.benchmark.timing import timed_rounds
from embeddings.chunking import Passage
from embeddings.corpus import Document
from embeddings.encoders import DEFAULT_BACKEND, Encoder
from embeddings.index import build

WARM_UP_DOCUMENTS = 4


def _build_and_discard(documents: Sequence[Document], target: Path, encoder: Encoder) -> None:
    build(documents, target, encoder)
    shutil.rmtree(target, ignore_errors=True)


def _contenders(
    ctx: BenchContext, documents: Sequence[Document], passages: Sequence[Passage], peer: TxtaiPeer | None
) -> dict[str, Callable[[], None]]:
    """The bare encode, each backend's build and the peer's, all over the same documents."""
    texts = [p.text for p in passages]
    contenders: dict[str, Callable[[], None]] = {"bare": partial(bare_encode_passages, ctx.encoder, texts)}
    for label, encoder in ctx.encoders.items():
        contenders[f"ours_{label}"] = partial(_build_and_discard, documents, ctx.workdir / f"build-{label}", encoder)
    if peer is not None:
        contenders[PEER] = partial(peer.index, passages)
    return contenders


def bench_build(ctx: BenchContext, profile: bool = False) -> None:
    result = ctx.result
    peer = ctx.make_peer() if ctx.make_peer is not None else None
    # Warm-up on a few documents: first-call costs (allocations, caches) are not the figure.
    warm_documents = ctx.documents[:WARM_UP_DOCUMENTS]
    for warm_up in _contenders(ctx, warm_documents, chunk_all(warm_documents, ctx.encoder), peer).values():
        warm_up()
    timings = timed_rounds(
        _contenders(ctx, ctx.documents, ctx.passages, peer), ctx.rounds, progress="build", collect_garbage=True
    )
    if peer is not None:
        peer.close()

    result.add(
        Figure(
            "build",
            "build ÷ bare encode (torch float32)",
            *timings.ratio("ours_torch", "bare"),
            target="≤ 1.10",
            note=f"{len(ctx.passages)} passages; bare median {np.median(timings.per_round('bare')):.1f} s",
        )
    )
    for label in ctx.other_backends:
        # The default backend is what a build uses unless told otherwise: it carries the target.
        target = "≤ 0.45" if label == DEFAULT_BACKEND else ""
        result.add(
            Figure(
                "build",
                f"build ({label}) ÷ bare encode (torch float32)",
                *timings.ratio(f"ours_{label}", "bare"),
                target=target,
            )
        )
    result.figures += peer_figures(timings, ctx.encoders, "build ({}) ÷ txtai build", "ours_{}")
    result.details["build"] = {"passages": len(ctx.passages), "seconds": timings.seconds_per_round()}
    if profile:
        result.details["profile_build"] = profile_listing(
            partial(build, ctx.documents, ctx.workdir / "profile", ctx.encoder)
        )
