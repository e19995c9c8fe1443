"""The peer the build and query sections compare against: txtai's Embeddings over the same model
folder and FAISS, with the same prompts and batch size (``pip install -e '.[bench]'``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

from embeddings.benchmark.baseline import PASSAGE_BATCH
from embeddings.benchmark.figures import Figure
from embeddings.benchmark.timing import Timings
from embeddings.chunking import Passage

PEER = "txtai"  # the peer's contender name in the timed rounds
PEER_TARGET = "≤ 0.8"  # this project's time at most 0.8 of the peer's


class TxtaiPeer:
    """One txtai instance, its model loaded once (as ours is): ``index`` and ``search`` are what
    the rounds time."""

    def __init__(self, model_dir: str, prompts: dict[str, str]) -> None:
        from txtai import Embeddings

        self.embeddings = Embeddings(
            path=model_dir,
            method="sentence-transformers",
            content=True,  # txtai stores the text in SQLite, as this project does
            backend="faiss",
            instructions={"query": prompts["query"], "data": prompts["passage"]},
            encodebatch=PASSAGE_BATCH,
        )

    def index(self, passages: Sequence[Passage]) -> None:
        self.embeddings.index([(p.id, p.text, None) for p in passages])

    def search(self, query: str, k: int) -> None:
        self.embeddings.search(query, k)

    def close(self) -> None:
        self.embeddings.close()


PeerFactory = Callable[[], TxtaiPeer]


def txtai_peer_factory(model_dir: str, prompts: dict[str, str]) -> PeerFactory | None:
    """What makes a peer over ``model_dir``; None when txtai is not installed."""
    try:
        import txtai  # noqa: F401
    except ImportError:
        return None
    return functools.partial(TxtaiPeer, model_dir, prompts)


def peer_figures(timings: Timings, labels: Iterable[str], row: str, contender: str) -> list[Figure]:
    """One ``peer`` figure per backend label: the time of ``contender.format(label)`` ÷ the peer's in
    the same rounds, named ``row.format(label)``; none when the peer was not timed."""
    if PEER not in timings:
        return []
    return [
        Figure("peer", row.format(label), *timings.ratio(contender.format(label), PEER), target=PEER_TARGET)
        for label in labels
    ]
