"""Timed rounds, the one way the benchmark times things it compares.

The machine is shared and noisy, so each round runs every contender once, in an order rotated
from round to round (a burst of load elsewhere does not always land on the same side), and a
figure is a ratio of two contenders' times in the same round, summarised over rounds.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from embeddings.benchmark.figures import summarise


@dataclass
class Timings:
    """Seconds of every timed call: ``seconds[contender][round][input]``."""

    seconds: dict[str, list[list[float]]]

    def __contains__(self, name: str) -> bool:
        return name in self.seconds

    def per_round(self, name: str) -> list[float]:
        """The contender's seconds in each round (its whole block)."""
        return [sum(block) for block in self.seconds[name]]

    def pooled(self, name: str) -> np.ndarray:
        """Every call's seconds, all rounds together."""
        return np.concatenate([np.asarray(block) for block in self.seconds[name]])

    def ratio(
        self, name: str, base: str, stat: Callable[[np.ndarray], float] = np.median
    ) -> tuple[float, tuple[float, float]]:
        """Median and min–max over rounds of ``stat`` of ``name``'s calls ÷ the median of ``base``'s
        calls in the same round (with one call a round: the ratio of the two times)."""
        return summarise(
            [
                float(stat(np.asarray(mine))) / float(np.median(theirs))
                for mine, theirs in zip(self.seconds[name], self.seconds[base], strict=True)
            ]
        )

    def seconds_per_round(self) -> dict[str, list[float]]:
        """Each contender's per-round seconds to the millisecond, for the report's details."""
        return {name: [round(t, 3) for t in self.per_round(name)] for name in self.seconds}


def _rotations(n: int, rounds: int) -> list[list[int]]:
    """Each round's order of n contenders, rotated from round to round."""
    return [[(i + r) % n for i in range(n)] for r in range(rounds)]


def timed_rounds(
    contenders: Mapping[str, Callable[..., object]],
    rounds: int,
    inputs: Sequence[object] | None = None,
    progress: str | None = None,
    collect_garbage: bool = False,
) -> Timings:
    """Time ``rounds`` rounds of every contender. In a round each contender runs one block: one
    call per input (``contender(x)``, each timed alone), or one call without arguments when
    ``inputs`` is None. A block keeps a contender's threads from being disturbed by another's
    spinning right before it. ``progress`` names a progress bar; ``collect_garbage`` collects
    before each block, so no contender pays for another's garbage."""
    calls = [()] if inputs is None else [(x,) for x in inputs]
    names = list(contenders)
    seconds: dict[str, list[list[float]]] = {name: [] for name in names}
    with tqdm(total=rounds * len(names), desc=progress, unit="block", disable=progress is None) as bar:
        for order in _rotations(len(names), rounds):
            for i in order:
                contender = contenders[names[i]]
                if collect_garbage:
                    gc.collect()
                block = []
                for args in calls:
                    started = time.perf_counter()
                    contender(*args)
                    block.append(time.perf_counter() - started)
                seconds[names[i]].append(block)
                bar.update(1)
    return Timings(seconds)
