"""The live dashboard: a static page that polls one JSON document.

The page (``/dashboard``, assets under ``/static``) polls ``/dashboard/data``, which holds the
registry, the worker's model status and recent alerts.

The page is plain HTML and JS with a vendored chart library: no build step, and nothing loaded
from another origin (its Content-Security-Policy says so). Promote and rollback buttons call the
admin routes with the X-API-Key typed into the page: the server never sees it outside that header.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.dependencies import AlertLogDep, RegistryDep, ServerDep
from api.schemas import (
    DashboardAlert,
    DashboardChange,
    DashboardData,
    DashboardModel,
    DashboardPartition,
    DashboardStatus,
    DashboardVersion,
    errors,
)
from api.serving import ModelServer
from online_models.status import StatusSource

router = APIRouter(tags=["dashboard"])
STATIC = Path(__file__).resolve().parents[1] / "static"
RECENT_ALERTS = 200
# Everything from this origin; inline scripts refused, so an injected value cannot run.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _status(request: Request) -> StatusSource | None:
    return getattr(request.app.state, "status", None)


StatusDep = Annotated[StatusSource | None, Depends(_status)]


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """Return the dashboard page.

    It is read per request: it is small, and an edited page shows without a restart.
    """
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"), headers=PAGE_HEADERS)


@router.get("/dashboard/data", response_model=DashboardData, responses=errors(503))
async def dashboard_data(
    registry: RegistryDep, server: ServerDep, alerts: AlertLogDep, status: StatusDep
) -> DashboardData:
    """Return everything the dashboard page draws, in one document.

    Per model name: champion, kept versions, promotions and rollbacks, and each candidate's status
    per partition with its recent prequential history; the recent drift alerts; and each partition's
    dead letters by reason and waiting labels.
    """
    recent = [DashboardAlert.model_validate(a) for a in await alerts.recent(RECENT_ALERTS)]
    statuses = await _statuses(status)
    names = sorted(set(await registry.names()) | set(statuses))
    models = [await _model(name, registry, server, statuses.get(name, [])) for name in names]
    parts = [DashboardPartition.model_validate(doc) for doc in await status.parts()] if status is not None else []
    return DashboardData(generated_at=_now(), models=models, alerts=recent, partitions=parts)


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds")


async def _statuses(source: StatusSource | None) -> dict[str, list[DashboardStatus]]:
    """Return the status documents grouped by model name (a challenger's under its champion's name)."""
    grouped: dict[str, list[DashboardStatus]] = {}
    if source is None:
        return grouped
    for model in await source.names():
        for _, raw in sorted((await source.get(model)).items()):
            doc = DashboardStatus.model_validate(raw)
            grouped.setdefault(doc.slot or model, []).append(doc)
    return grouped


async def _model(name: str, registry: Any, server: ModelServer, status: list[DashboardStatus]) -> DashboardModel:
    """Return what the dashboard shows of model ``name``.

    ``registry``: the Redis one, or the demo's folder registry (same methods).
    """
    champion = await registry.champion(name)
    served = server.models.get(name)
    versions = await registry.versions(name)  # empty for a model that has not snapshotted yet
    log = reversed(await registry.history(name))
    return DashboardModel(
        name=name,
        champion=champion.to_dict() if champion else None,
        serving=served.version if served else None,
        versions=[DashboardVersion.model_validate(meta) for meta in versions],
        changes=[_placed(DashboardChange.model_validate(record), versions, status) for record in log],
        status=status,
    )


def _placed(change: DashboardChange, versions: list[dict[str, Any]], status: list[DashboardStatus]) -> DashboardChange:
    """Return ``change`` placed on the events axis.

    An automatic promotion happens when its version is snapshotted (its events_seen); a person's, at
    the events of the moment it was made.
    """
    meta = next((m for m in versions if m.get("version") == change.version), None)
    if change.by == "auto" and meta is not None and meta.get("events_seen") is not None:
        return change.model_copy(update={"events_seen": int(meta["events_seen"])})
    partition = meta.get("partition") if meta is not None else None
    return change.model_copy(update={"events_seen": events_at(change.at, _timeline(status, partition))})


def _timeline(status: list[DashboardStatus], partition: int | None) -> list[tuple[datetime, int]]:
    """Return (time, events) of one partition: its points' publication times, and now (``updated_at``)."""
    docs = [s for s in status if partition is None or s.partition == partition] or status
    if not docs:
        return []
    doc = docs[0]
    pairs = [(p.at, p.events) for p in doc.history if p.at is not None] + [(doc.updated_at, doc.events)]
    return sorted((_parse(at), events) for at, events in pairs)


def events_at(at: str, timeline: list[tuple[datetime, int]]) -> int | None:
    """Return the events seen at time ``at``, interpolated over ``timeline`` (sorted).

    After the timeline's end it is the last count; before its start, None (nothing says where it falls).
    """
    when = _parse(at)
    if not timeline or when < timeline[0][0]:
        return None
    i = bisect.bisect_right([t for t, _ in timeline], when)  # the first pair after it
    if i == len(timeline):
        return timeline[-1][1]
    (t0, e0), (t1, e1) = timeline[i - 1], timeline[i]
    return round(e0 + (e1 - e0) * (when - t0).total_seconds() / (t1 - t0).total_seconds())


def _parse(at: str) -> datetime:
    parsed = datetime.fromisoformat(at)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
