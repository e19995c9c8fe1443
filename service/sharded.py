"""Sharded serving on Ray Serve: the index's vectors split over N shard deployments
(embeddings/shards.py), and one front deployment that encodes each query once, asks every shard,
merges, and answers the same HTTP API as the single-machine service: it is the same Flask app,
run behind Ray Serve's HTTP proxy through a WSGI-to-ASGI adapter (a2wsgi).

Started by ``scripts/serve_sharded.py`` (README, "Sharded serving"). Ray Serve restarts a shard
replica that dies; until it is back, queries get a 503 ``shard_unavailable`` JSON error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponse
from ray.serve.schema import LoggingConfig

from embeddings.ann import Effort
from embeddings.config import Settings
from embeddings.encoders import load_encoder
from embeddings.search import Searcher
from embeddings.shards import CatchUp, Pending, Shard, ShardedIndex, ShardUnavailableError

APP_NAME = "kazru-sharded"
SHARD_ANSWER_TIMEOUT_S = 30.0  # a shard that takes longer is taken as down for this query
FRONT_THREADS = 16  # requests the front answers at once (its WSGI threads)
# A replica that fails its health check this often in a row is replaced (Ray Serve's defaults are 10 s and 30 s).
HEALTH_CHECK_PERIOD_S = 2.0
HEALTH_CHECK_TIMEOUT_S = 10.0
# Ray Serve's line per call (a shard answers several per query): the front's own JSON access log
# (service/observability.py) records every request already.
QUIET = LoggingConfig(enable_access_log=False)
GRACEFUL_SHUTDOWN_S = 5.0  # at stop, a replica past this is killed (Ray Serve's default: 20 s)


@serve.deployment(
    ray_actor_options={"num_cpus": 0},  # the shards share the machine's cores with the front
    health_check_period_s=HEALTH_CHECK_PERIOD_S,
    health_check_timeout_s=HEALTH_CHECK_TIMEOUT_S,
    graceful_shutdown_timeout_s=GRACEFUL_SHUTDOWN_S,
    logging_config=QUIET,
)
class VectorShard:
    """One shard replica: the vectors of the documents it owns, searched on request."""

    def __init__(self, index_dir: str, shard: int, shards: int, effort: Effort) -> None:
        self.shard = Shard(Path(index_dir), shard, shards, effort)

    def search(self, *args: object) -> object:
        return self.shard.search(*args)  # type: ignore[arg-type]

    def catch_up(self, update: CatchUp) -> int:
        return self.shard.catch_up(update)

    def info(self, *args: object) -> object:
        return self.shard.info(*args)  # type: ignore[arg-type]


class _ShardAnswer:
    def __init__(self, shard: int, response: DeploymentResponse) -> None:
        self.shard, self.response = shard, response

    def result(self) -> object:
        try:
            return self.response.result(timeout_s=SHARD_ANSWER_TIMEOUT_S)
        except Exception as exc:  # a dead replica, a timeout, a restart: all mean "not now"
            raise ShardUnavailableError(f"shard {self.shard}: {type(exc).__name__}: {exc}") from None


class RayShard:
    """A shard's deployment handle as the :class:`embeddings.shards.ShardHandle` the index calls."""

    def __init__(self, shard: int, handle: DeploymentHandle) -> None:
        self.shard, self.handle = shard, handle

    def call(self, method: str, *args: object) -> Pending:
        return _ShardAnswer(self.shard, getattr(self.handle, method).remote(*args))


@serve.deployment(
    ray_actor_options={"num_cpus": 0}, graceful_shutdown_timeout_s=GRACEFUL_SHUTDOWN_S, logging_config=QUIET
)
@serve.ingress()
class SearchFront:
    """The front replica: the model, the store, and the service's Flask app over the shards."""

    def __init__(self, settings: Settings, shards: list[DeploymentHandle]) -> None:
        encoder = load_encoder(settings.model, settings.backend)
        handles = [RayShard(i, handle) for i, handle in enumerate(shards)]
        index = ShardedIndex(settings.index_dir, encoder.identity, handles, settings.effort)
        self.searcher = Searcher(index, encoder, settings.fusion)

    def __serve_build_asgi_app__(self) -> object:
        from a2wsgi import WSGIMiddleware

        from service import create_app

        return WSGIMiddleware(create_app(self.searcher), workers=FRONT_THREADS)


def application(settings: Settings, shards: int) -> serve.Application:
    """The Ray Serve application: ``shards`` shard deployments and the front that fans out to them."""
    index_dir = str(Path(settings.index_dir).resolve())
    settings = dataclasses.replace(settings, index_dir=Path(index_dir))
    bound = [VectorShard.options(name=f"shard-{i}").bind(index_dir, i, shards, settings.effort) for i in range(shards)]
    return SearchFront.bind(settings, bound)
