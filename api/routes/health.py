"""Liveness (/healthz), readiness (/readyz) and the Prometheus exposition (/metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from api.dependencies import MetricsDep, ServerDep
from api.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answer ok while the process serves requests (liveness: it checks nothing else)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "Not ready."}})
async def readyz(server: ServerDep) -> JSONResponse:
    """Report readiness: ready when Redis answers, a champion is loaded and none is refused; else say what is wrong."""
    problems = []
    try:
        await server.registry.ping()
    except (RedisError, OSError) as exc:
        problems.append(f"redis unreachable: {type(exc).__name__}")
    if not server.models:
        problems.append("no model loaded yet")
    serving = {name: served.version for name, served in server.models.items()}
    for name, why in sorted(server.refusals.items()):  # a champion not served: the last good version serves on
        served = f"v{serving[name]}" if name in serving else "nothing"
        problems.append(f"model {name!r}: champion refused ({why}); serving {served}")
    status = 503 if problems else 200
    return JSONResponse({"ready": not problems, "problems": problems, "serving": serving}, status_code=status)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(metrics: MetricsDep) -> Response:
    """Return the API's metrics in the Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
