"""Wires the Faust app: topics, the feature-state table, the three agents and the status timer."""

from __future__ import annotations

import logging

import faust
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from online_models.config import StreamwiseConfig
from online_models.pipeline import Pipeline, utc_now
from online_models.status import ModelStatusStore, model_status
from streams.agents import features, learn, validate
from streams.app import create_app
from streams.context import StreamContext
from streams.metrics import StreamMetrics
from streams.settings import Settings
from streams.topics import Topics

log = logging.getLogger("streamwise.worker")


def build_worker_app(
    settings: Settings, config: StreamwiseConfig, registry: CollectorRegistry | None = None
) -> tuple[faust.App, StreamContext]:
    """The Faust app with every agent registered, and the context the agents share."""
    app = create_app(settings)
    ctx = StreamContext(
        pipeline=Pipeline(config, max_event_bytes=settings.max_event_bytes),
        topics=Topics.declare(app, settings),
        metrics=StreamMetrics([m.name for m in config.models], registry),
    )
    state = app.Table(
        "feature-state",
        default=None,
        partitions=settings.partitions,
        schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
    )
    validate.register(app, ctx)
    features.register(app, ctx, state)
    learn.register(app, ctx)
    store = (
        ModelStatusStore(aioredis.from_url(settings.redis_url), settings.redis_namespace)
        if settings.redis_url
        else None
    )

    @app.timer(interval=settings.status_interval)
    async def publish_status() -> None:
        """Model status to Prometheus and Redis, off the per-event path."""
        now = utc_now()
        statuses = []
        for partition, learner in list(ctx.learners.items()):
            ctx.metrics.observe_models(partition, learner.models)
            statuses.extend(model_status(model, partition, now) for model in learner.models)
        if store is None:
            return
        try:
            await store.publish(statuses)
        except (RedisError, OSError) as exc:
            log.warning("model status not written to Redis: %s", exc)

    return app, ctx
