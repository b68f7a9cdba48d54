"""GET /alerts: recent drift alerts, from the capped Redis stream the worker appends to."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from api.dependencies import AlertLogDep
from api.schemas import errors

router = APIRouter(tags=["alerts"])
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def _rfc3339(value: object) -> object:
    # Pydantic alone also takes a number of seconds since the epoch ("0.5") or a bare date.
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time, e.g. 2024-05-01T12:00:00Z")
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_rfc3339),
    Query(description="RFC 3339 (UTC without offset); alerts since."),
]


@router.get("/alerts", responses=errors(503))
async def recent_alerts(
    log: AlertLogDep,
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Return the drift alerts logged since ``since`` (every alert without it), oldest first, at most ``limit``."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without an offset is UTC
    if since is not None and since < EPOCH:
        since = None  # every alert: a stream ID before 1970 would be negative, which Redis refuses
    return await log.since(since, limit)
