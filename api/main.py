"""create_app(): the FastAPI application with its routers, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from api.limits import BodyLimit, LatencyMetrics
from api.metrics import ApiMetrics
from api.routes import alerts, health, models, predict
from api.serving import ModelServer
from api.settings import ApiSettings
from online_models.config import load_config
from online_models.features import FeatureEngineer, FeatureSpec
from online_models.registry import ModelRegistry
from online_models.stores import AlertLog, FeatureStore


@dataclass
class Backends:
    """Where the API reads models, features and alerts: Redis, or the embedded demo's own."""

    registry: Any
    features: Any
    alerts: Any
    close: Callable[[], Awaitable[None]] | None = None


def redis_backends(settings: ApiSettings) -> Backends:
    client = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    return Backends(
        ModelRegistry(client, settings.redis_namespace, settings.signing_key()),
        FeatureStore(client, settings.redis_namespace),
        AlertLog(client, settings.redis_namespace),
        client.aclose,
    )


def create_app(
    settings: ApiSettings | None = None,
    metrics: ApiMetrics | None = None,
    backends: Callable[[ApiSettings], Backends] = redis_backends,
) -> FastAPI:
    settings = settings or ApiSettings()
    metrics = metrics or ApiMetrics()
    settings.signing_key()  # a missing key fails here, at start-up, naming the setting
    spec = load_config(settings.config).features if settings.config and settings.config.is_file() else FeatureSpec()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        parts = backends(settings)
        server = ModelServer(parts.registry, metrics, settings.reload_poll_seconds)
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.server = server
        app.state.features = parts.features
        app.state.alerts = parts.alerts
        app.state.engineer = FeatureEngineer(spec)
        await server.start()
        yield
        await server.stop()
        if parts.close is not None:
            await parts.close()

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

    @app.exception_handler(RedisError)
    async def redis_unavailable(request: Request, exc: RedisError) -> JSONResponse:
        return JSONResponse({"detail": f"redis unavailable: {type(exc).__name__}"}, status_code=503)

    return app
