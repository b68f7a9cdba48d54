"""Wires the Faust app: topics, the feature-state table, the three agents and the status timer."""

from __future__ import annotations

import logging

import faust
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from online_models.config import StreamwiseConfig
from online_models.pipeline import Pipeline, utc_now
from online_models.registry import ModelRegistry
from online_models.status import ModelStatusStore, model_status
from streams.agents import features, labels, learn, validate
from streams.app import create_app
from streams.context import StreamContext
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

    ctx = StreamContext(
        pipeline=Pipeline(config, max_event_bytes=settings.max_event_bytes),
        topics=Topics.declare(app, settings),
        metrics=StreamMetrics([m.name for m in config.models], registry),
        pending_store=table("pending-labels"),
    )

    @app.on_rebalance_complete.connect
    async def reindex_pending(app: faust.App, **kwargs: object) -> None:
        """Entries of a partition that was away (another worker wrote them) must expire here too."""
        for learner in ctx.learners.values():
            learner.pending.reindex()

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
    status = _wire_redis(app, ctx, settings) if settings.redis_url else None

    @app.timer(interval=settings.status_interval)
    async def publish_status() -> None:
        """Model status to Prometheus and Redis, off the per-event path."""
        now = utc_now()
        statuses = []
        for partition, learner in list(ctx.learners.items()):
            ctx.metrics.observe_models(partition, learner.models, len(learner.pending))
            statuses.extend(model_status(model, partition, now) for model in learner.models)
        if ctx.online is not None:
            await ctx.online.flush()
        if status is not None:
            try:
                await status.publish(statuses)
            except (RedisError, OSError) as exc:
                log.warning("model status not written to Redis: %s", exc)

    return app, ctx


def _wire_redis(app: faust.App, ctx: StreamContext, settings: Settings) -> ModelStatusStore:
    """Snapshots into the registry, online features and alerts for the API; the status store."""
    # Timeouts: a stalled Redis must fail a write (logged, retried), not hang the agents.
    client = aioredis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
    registry = ModelRegistry(client, settings.redis_namespace, settings.signing_key(), settings.registry_retain)
    snapshotter = ctx.snapshotter = Snapshotter(registry, ctx.topics.snapshots, ctx.metrics)
    online = ctx.online = OnlineState(client, settings.redis_namespace, settings.feature_ttl_seconds)
    ctx.alert_sinks.append(online.remember_alert)

    @app.on_before_shutdown.connect
    async def final_snapshots(app: faust.App, **kwargs: object) -> None:
        """A clean stop (SIGTERM) leaves a snapshot of every model, with the offsets it includes."""
        await snapshotter.take_all(ctx.learners, "shutdown")
        await online.flush()

    return ModelStatusStore(client, settings.redis_namespace)
