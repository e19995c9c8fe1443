"""Generated vectors that resemble real embeddings, for the scale section, and the measures of
how alike they are."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np

from embeddings import runtime

DEFAULT_NOISE = 0.8  # calibrated: see VectorFaker


class VectorFaker:
    """Vectors drawn to resemble real embeddings: a real vector plus Gaussian noise shaped like the
    real vectors' own covariance, normalised.

    The noise scale is calibrated on the real vectors: at 0.8 the generated set has the real
    set's intrinsic dimension (TwoNN, Facco et al. 2017: 10.1 against 10.0 for 18,062 vectors of
    the evaluation texts), the property that decides how hard approximate search is. Its nearest
    neighbours are a little farther than real ones (top-1 cosine 0.81 against 0.86), which makes
    the test harder rather than easier. :func:`resemblance` reports both for each run.
    """

    def __init__(self, real: np.ndarray, noise: float = DEFAULT_NOISE, seed: int = 1234) -> None:
        self.real = np.ascontiguousarray(real, dtype=np.float32)
        cov = np.cov(self.real, rowvar=False).astype(np.float64)
        cov += np.eye(cov.shape[0]) * 1e-6 * np.trace(cov) / cov.shape[0]
        self.shape = np.linalg.cholesky(cov).astype(np.float32).T * noise
        self.seed = seed

    def draw(self, n: int, chunk: int = 50_000) -> np.ndarray:
        """``n`` vectors at once."""
        out = np.empty((n, self.real.shape[1]), dtype=np.float32)
        lo = 0
        for block in self.chunks(n, chunk):
            out[lo : lo + len(block)] = block
            lo += len(block)
        return out

    def chunks(self, n: int, chunk: int = 50_000) -> Iterator[np.ndarray]:
        """The same ``n`` vectors as :meth:`draw`, ``chunk`` at a time: never all in memory."""
        for c, lo in enumerate(range(0, n, chunk)):
            rng = np.random.default_rng(self.seed + c)
            m = min(chunk, n - lo)
            block = self.real[rng.integers(0, len(self.real), size=m)]
            block += rng.standard_normal((m, self.real.shape[1]), dtype=np.float32) @ self.shape
            yield block / np.linalg.norm(block, axis=1, keepdims=True)


def two_nn_dimension(vectors: np.ndarray) -> float:
    """The TwoNN intrinsic-dimension estimate: n / Σ log(r2 / r1) over each point's two nearest."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    with runtime.faiss_on_every_core():  # batch k-NN over the whole set
        cos, _ = flat.search(vectors, 3)
    dist = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * cos[:, 1:3]))
    ratio = dist[:, 1] / np.maximum(dist[:, 0], 1e-9)
    ratio = ratio[ratio > 1]
    return float(len(ratio) / np.log(ratio).sum())


def resemblance(real: np.ndarray, queries: np.ndarray) -> dict:
    """Generated against real vectors at equal size: intrinsic dimension and the queries' top-1 /
    top-10 cosines. Half the real vectors feed the generator, the other half is the yardstick."""
    half = len(real) // 2
    order = np.random.default_rng(0).permutation(len(real))
    held_out = np.ascontiguousarray(real[order[half:]])
    generated = VectorFaker(real[order[:half]], seed=99).draw(len(held_out))

    def profile(vectors: np.ndarray) -> dict:
        top = np.sort(queries @ vectors.T, axis=1)[:, ::-1]
        return {
            "two_nn_dimension": round(two_nn_dimension(vectors), 2),
            "mean_top1_cosine": round(float(top[:, 0].mean()), 4),
            "mean_top10_cosine": round(float(top[:, 9].mean()), 4),
        }

    return {"vectors_each": len(held_out), "real": profile(held_out), "generated": profile(generated)}
