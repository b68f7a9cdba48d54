"""GET /alerts: recent drift alerts, from the capped Redis stream the worker appends to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.dependencies import AlertLogDep

router = APIRouter(tags=["alerts"])


@router.get("/alerts")
async def recent_alerts(
    log: AlertLogDep,
    since: Annotated[datetime | None, Query(description="RFC 3339 (UTC without offset); alerts since.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without an offset is UTC
    return await log.since(since, limit)
