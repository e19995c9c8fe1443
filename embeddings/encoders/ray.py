"""The ``ray`` engine: encoding as Ray Data ``map_batches`` over an actor pool, one model per actor.

:class:`RayEncoder` satisfies the :class:`Encoder` protocol, so the build, the search and the
batch jobs run the same code locally or on a Ray cluster: ``address=None`` starts a local Ray
instance, ``address="ray://host:10001"`` (or ``"auto"``) uses a cluster. The driver keeps one
model of its own for the model's identity and the tokenizer (chunking counts tokens there); the
actors encode with the same backend, loaded by the same loader, so the vectors match the local
engine's.

On a cluster of many machines, every node needs this package installed and the model at the same
path (or a model name it can load). Ray is an optional extra: ``pip install .[ray]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import orjson

from embeddings.encoders.base import EncodeObserver, Encoder, ModelError

# Loads the local encoder with this many threads (None: every core): called once in the driver
# and once in each actor, so it must be picklable (a module-level function or a partial of one).
LocalLoader = Callable[[int | None], Encoder]


class _EncodeActor:
    """One model per actor; called with a batch of rows, returns their vectors."""

    def __init__(self, load: LocalLoader, threads: int) -> None:
        self.encoder = load(threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        if str(batch["kind"][0]) == "query":
            vectors = self.encoder.encode_queries(texts)
            sentences = [b""] * len(texts)
        else:
            spans = [[tuple(s) for s in orjson.loads(raw)] for raw in batch["spans"]]
            vectors, per_passage = self.encoder.encode_passages(texts, spans)
            sentences = [np.ascontiguousarray(m, dtype=np.float32).tobytes() for m in per_passage]
        return {
            "i": np.asarray(batch["i"], dtype=np.int64),
            "vector": vectors,
            "sentences": np.array(sentences, dtype=object),
        }


class RayEncoder:
    """An :class:`Encoder` whose encoding runs on Ray (see the module docstring)."""

    own_threads = False  # its work runs on Ray's actors, not on this machine's threads

    def __init__(
        self,
        load: LocalLoader,
        address: str | None = None,
        actors: int | None = None,
        cpus_per_actor: int = 1,
        batch_size: int = 16,
        num_cpus: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ModelError("the ray engine needs Ray, an optional extra: pip install '.[ray]'") from exc
        self._local = load(None)
        self.identity = self._local.identity
        self.query_prompt = self._local.query_prompt
        self.passage_prompt = self._local.passage_prompt
        self.on_encode: EncodeObserver | None = None
        self._load = load
        self._batch_size = batch_size
        self._cpus_per_actor = cpus_per_actor
        self._started_ray = False
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,
                    num_cpus=num_cpus if address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                    configure_logging=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise ModelError(f"cannot start or reach {where}: {exc}") from exc
            self._started_ray = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the scripts show their own bar
        context.print_on_execution_start = False
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        self._actors = actors or max(1, cluster_cpus // cpus_per_actor)

    def token_count(self, text: str) -> int:
        return self._local.token_count(text)

    def passage_token_budget(self) -> int:
        return self._local.passage_token_budget()

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not len(texts):
            return np.empty((0, self.identity.dimension), dtype=np.float32)
        vectors, _ = self._run("query", texts, [[]] * len(texts))
        return vectors

    def encode_passages(
        self,
        texts: Sequence[str],
        sentences: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 16,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        if not len(texts):
            return np.empty((0, self.identity.dimension), dtype=np.float32), []
        return self._run("passage", texts, sentences)

    def _run(
        self, kind: str, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        import ray

        items = [
            {"i": i, "kind": kind, "text": text, "spans": orjson.dumps([list(s) for s in sp]).decode()}
            for i, (text, sp) in enumerate(zip(texts, spans, strict=True))
        ]
        n_batches = math.ceil(len(items) / self._batch_size)
        actors = max(1, min(self._actors, n_batches))
        dataset = ray.data.from_items(items, override_num_blocks=max(1, min(n_batches, actors * 4)))
        encoded = dataset.map_batches(
            _EncodeActor,
            fn_constructor_kwargs={"load": self._load, "threads": self._cpus_per_actor},
            batch_size=self._batch_size,
            batch_format="numpy",
            concurrency=actors,
            num_cpus=self._cpus_per_actor,
        )
        dimension = self.identity.dimension
        vectors = np.empty((len(items), dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.empty((0, dimension), np.float32)] * len(items)
        seen = 0
        try:
            for batch in encoded.iter_batches(batch_format="numpy", batch_size=None):
                for i, vector, raw in zip(batch["i"], batch["vector"], batch["sentences"], strict=True):
                    vectors[int(i)] = vector
                    if kind == "passage":
                        sentence_vectors[int(i)] = np.frombuffer(raw, dtype=np.float32).reshape(-1, dimension)
                seen += len(batch["i"])
        except ray.exceptions.RayError as exc:
            raise ModelError(f"encoding on Ray failed: {str(exc).strip().splitlines()[-1]}") from exc
        if seen != len(items):
            raise ModelError(f"encoding on Ray returned {seen} of {len(items)} vectors")
        return vectors, sentence_vectors

    def close(self) -> None:
        """Shut Ray down if this encoder started it."""
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
