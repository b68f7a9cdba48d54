"""create_app(): the FastAPI application with its routers, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError

from api.dependencies import require_predict_key
from api.limits import BodyLimit, LatencyMetrics
from api.prometheus import ApiMetrics
from api.routes import alerts, dashboard, health, models, predict
from api.serving import ModelServer
from api.settings import ApiSettings
from online_models.config import load_config
from online_models.control import Control
from online_models.features import FeatureEngineer, FeatureSpec
from online_models.gc_tuning import tune_gc
from online_models.registry import Registry
from online_models.storage import redis_connect
from online_models.storage.redis_registry import ModelRegistry
from online_models.storage.status_store import ModelStatusStore
from online_models.storage.stores import AlertLog, FeatureStore


@dataclass
class Backends:
    """Where the API reads models, features, alerts and the worker's model status, and how it tells the workers.

    They are Redis, or the embedded demo's own (``status`` None: the dashboard shows the registry and
    alerts only). ``control`` tells the workers of a champion change (``control`` None: it cannot, and
    its answers say so). The API has no Kafka client: ``streamwise api`` gives it ``control``
    (streams/cli/serve.py).
    """

    registry: Registry
    features: Any
    alerts: Any
    close: Callable[[], Awaitable[None]] | None = None
    status: Any = None
    control: Control | None = None


def redis_backends(settings: ApiSettings, control: Control | None = None) -> Backends:
    """Return the backends in the Redis of ``settings``, with ``control`` to tell the workers."""
    client = redis_connect.connect(settings, timeout=5, connect_timeout=5)
    return Backends(
        ModelRegistry(client, settings.redis_namespace, settings.signing_key()),
        FeatureStore(client, settings.redis_namespace),
        AlertLog(client, settings.redis_namespace),
        client.aclose,
        ModelStatusStore(client, settings.redis_namespace),
        control,
    )


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _document_predict_key(app: FastAPI, routers: Iterable[APIRouter], required: bool) -> None:
    """Document the X-API-Key of the predict routes in the OpenAPI schema.

    The predict routes read X-API-Key themselves (require_predict_key, no Security dependency): the
    schema says so here, as required with STREAMWISE_PREDICT_REQUIRES_KEY and a key set, and as
    optional (``{}`` first) otherwise.
    """
    routes = [route for router in routers for route in router.routes]
    paths = {r.path for r in routes if isinstance(r, APIRoute) and require_predict_key in _calls(r.dependant)}
    security: list[dict[str, list[str]]] = [{"APIKeyHeader": []}] if required else [{}, {"APIKeyHeader": []}]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in paths:
                for operation in schema["paths"][path].values():
                    operation["security"] = security
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: ApiSettings | None = None,
    metrics: ApiMetrics | None = None,
    backends: Callable[[ApiSettings], Backends] = redis_backends,
) -> FastAPI:
    """Return the FastAPI application with its routers, middleware and lifespan.

    ``settings`` default to the environment's. ``backends`` makes the backends from the settings when
    the application starts.
    """
    settings = settings or ApiSettings()
    metrics = metrics or ApiMetrics()
    settings.signing_key()  # a missing key fails here, at start-up, naming the setting
    config = load_config(settings.config) if settings.config and settings.config.is_file() else None
    spec = config.features if config is not None else FeatureSpec()
    configured = tuple(dict.fromkeys(m.slot for m in config.models)) if config is not None else ()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        parts = backends(settings)
        server = ModelServer(parts.registry, metrics, settings.reload_poll_seconds)
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.server = server
        app.state.features = parts.features
        app.state.alerts = parts.alerts
        app.state.status = parts.status
        app.state.control = parts.control
        app.state.engineer = FeatureEngineer(spec)
        app.state.predictor = predict.Predictor(
            server, parts.features, app.state.engineer, settings, metrics, configured
        )
        await server.start()
        if settings.tune_gc:
            tune_gc()
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
    routers = (predict.router, models.router, alerts.router, health.router, dashboard.router)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")
    _document_predict_key(app, routers, required=settings.predict_requires_key and settings.api_key is not None)

    @app.exception_handler(RedisError)
    async def redis_unavailable(request: Request, exc: RedisError) -> JSONResponse:
        return JSONResponse({"detail": f"redis unavailable: {type(exc).__name__}"}, status_code=503)

    return app
