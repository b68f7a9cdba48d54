"""create_app(): the FastAPI application with its routers, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from api.limits import BodyLimit, LatencyMetrics
from api.metrics import ApiMetrics
from api.routes import alerts, health, models, predict
from api.serving import ModelServer
from api.settings import ApiSettings
from online_models.config import load_config
from online_models.features import FeatureEngineer, FeatureSpec
from online_models.registry import ModelRegistry
from online_models.stores import AlertLog, FeatureStore


def create_app(settings: ApiSettings | None = None, metrics: ApiMetrics | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    metrics = metrics or ApiMetrics()
    key = settings.signing_key()  # a missing key fails here, at start-up, naming the setting
    spec = load_config(settings.config).features if settings.config and settings.config.exists() else FeatureSpec()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        server = ModelServer(
            ModelRegistry(client, settings.redis_namespace, key), metrics, settings.reload_poll_seconds
        )
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.server = server
        app.state.features = FeatureStore(client, settings.redis_namespace)
        app.state.alerts = AlertLog(client, settings.redis_namespace)
        app.state.engineer = FeatureEngineer(spec)
        await server.start()
        yield
        await server.stop()
        await client.aclose()

    app = FastAPI(
        title="Streamwise",
        version="0.1.0",
        summary="Predictions from online River models, their registry and drift alerts.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(LatencyMetrics, metrics=metrics)
    for router in (predict.router, models.router, alerts.router, health.router):
        app.include_router(router)
    return app
