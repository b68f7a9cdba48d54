"""Wires the Faust app: topics, the feature-state table, the three agents and the status timer."""

from __future__ import annotations

import asyncio
import logging

import faust
import redis.asyncio as aioredis
from faust.types import TP
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from online_models.checkpoint import CheckpointStore
from online_models.config import StreamwiseConfig
from online_models.pipeline import Pipeline, utc_now
from online_models.registry import ModelRegistry
from online_models.status import ModelStatusStore, model_status
from streams import topics
from streams.agents import features, labels, learn, validate
from streams.app import create_app
from streams.chain import ChainedLoop
from streams.checkpoints import Checkpointer
from streams.context import StreamContext
from streams.lag import consumer_lags
from streams.metrics import StreamMetrics
from streams.online_state import OnlineState
from streams.settings import Settings
from streams.snapshots import Snapshotter
from streams.topics import Topics
from streams.webhook import WebhookSink

log = logging.getLogger("streamwise.worker")


def build_worker_app(
    settings: Settings, config: StreamwiseConfig, registry: CollectorRegistry | None = None
) -> tuple[faust.App, StreamContext]:
    """The Faust app with every agent registered, and the context the agents share."""
    app = create_app(settings)

    def table(name: str) -> faust.types.TableT:
        schema = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
        return app.Table(name, default=None, partitions=settings.partitions, schema=schema)

    pipeline = Pipeline(config, max_event_bytes=settings.max_event_bytes)
    metrics = StreamMetrics([m.name for m in config.models], registry)
    client = _redis_client(settings) if settings.redis_url else None
    # The chained loop learns per partition of events.raw, the learn agent per partition of features.
    owner = f"{settings.app_id}.chain" if settings.chain else settings.app_id
    store = CheckpointStore(client, settings.redis_namespace, owner) if client is not None else None
    checkpoints = Checkpointer(
        pipeline,
        metrics,
        store,
        settings.signing_key(),
        settings.checkpoint_every_events,
        settings.checkpoint_every_seconds,
    )
    ctx = StreamContext(pipeline, Topics.declare(app, settings), metrics, checkpoints)
    features_topic = settings.topic(topics.FEATURES)

    @app.on_partitions_revoked.connect
    async def drop_revoked(app: faust.App, revoked: set[TP], **kwargs: object) -> None:
        """Whoever gets a partition next restores its checkpoint and replays what followed."""
        checkpoints.forget(tp.partition for tp in revoked if tp.topic == features_topic)

    @app.on_partitions_assigned.connect
    async def drop_strays(app: faust.App, assigned: set[TP], **kwargs: object) -> None:
        """A learner made after the revocation (a message still in a buffer) must not live on."""
        checkpoints.forget(list(checkpoints.learners))

    @app.timer(interval=max(settings.checkpoint_every_seconds / 2, 0.1))
    async def checkpoint_quiet_partitions() -> None:
        await checkpoints.tick()

    if settings.chain:
        _wire_chain(app, ctx, settings)  # it forwards the labels too (streams.label_forwarder)
    else:
        validate.register(app, ctx)
        features.register(app, ctx, table("feature-state"))
        labels.register(app, ctx)
        learn.register(app, ctx)
    if settings.alert_webhook_url:
        sink = WebhookSink(
            settings.alert_webhook_url,
            retries=settings.alert_webhook_retries,
            backoff=settings.alert_webhook_backoff,
            timeout=settings.alert_webhook_timeout,
            queue_size=settings.alert_webhook_queue,
        )
        ctx.alert_sinks.append(sink.offer)
        app.task(sink.run)
    status = _wire_redis(app, ctx, settings, client) if client is not None else None

    @app.timer(interval=settings.status_interval)
    async def publish_status() -> None:
        """Model status to Prometheus and Redis, off the per-event path."""
        now = utc_now()
        statuses = []
        for partition, learner in list(ctx.learners.items()):
            ctx.metrics.observe_models(partition, learner.models, len(learner.pending))
            statuses.extend(model_status(model, partition, now) for model in learner.models)
        try:
            ctx.metrics.observe_consumer_lag(consumer_lags(app))
        except Exception as exc:  # a rebalance under way: the next tick measures again
            log.debug("consumer lag not measured: %s", exc)
        if ctx.online is not None:
            await ctx.online.flush()
        if status is not None:
            try:
                await status.publish(statuses)
            except (RedisError, OSError) as exc:
                log.warning("model status not written to Redis: %s", exc)

    return app, ctx


def _wire_chain(app: faust.App, ctx: StreamContext, settings: Settings) -> None:
    """The chained fast path in a thread of its own, started with the worker, stopped before it."""
    running: list[asyncio.Future[None]] = []

    @app.task
    async def start_chain() -> None:
        loop = asyncio.get_running_loop()
        chain = ChainedLoop(settings, ctx, loop)

        async def stop() -> None:
            chain.stop()
            await asyncio.shield(running[0])  # its final checkpoints need this loop: await, never block

        ctx.stop_chain = stop
        running.append(loop.run_in_executor(None, chain.run))

    if settings.redis_url:
        return  # the final snapshots (see _wire_redis) stop it first

    @app.on_before_shutdown.connect
    async def stop_chain(app: faust.App, **kwargs: object) -> None:
        if ctx.stop_chain is not None:
            await ctx.stop_chain()


def _redis_client(settings: Settings) -> aioredis.Redis:
    # Timeouts: a stalled Redis must fail a write (logged, retried), not hang the agents.
    return aioredis.from_url(
        settings.redis_url, socket_timeout=10, socket_connect_timeout=5, **settings.redis_options()
    )


def _wire_redis(app: faust.App, ctx: StreamContext, settings: Settings, client: aioredis.Redis) -> ModelStatusStore:
    """Snapshots into the registry, online features and alerts for the API; the status store."""
    registry = ModelRegistry(client, settings.redis_namespace, settings.signing_key(), settings.registry_retain)
    snapshotter = ctx.snapshotter = Snapshotter(registry, ctx.topics.snapshots, ctx.metrics)
    online = ctx.online = OnlineState(client, settings.redis_namespace, settings.feature_ttl_seconds)
    ctx.alert_sinks.append(online.remember_alert)

    @app.on_before_shutdown.connect
    async def final_snapshots(app: faust.App, **kwargs: object) -> None:
        """A clean stop (SIGTERM) leaves a snapshot of every model and a checkpoint of every partition."""
        if ctx.stop_chain is not None:
            await ctx.stop_chain()
        await ctx.checkpoints.take_all()
        await snapshotter.take_all(ctx.learners, "shutdown")
        await online.flush()

    return ModelStatusStore(client, settings.redis_namespace)
