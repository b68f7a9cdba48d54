"""The registry over HTTP: list models and versions, promote, roll back (admin key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.dependencies import AdminKey, ControlDep, RegistryDep, ServerDep
from api.limits import StrictJSONRoute
from api.schemas import ModelSummary, RollbackRequest, VersionRequest, errors
from online_models.registry import Champion, RegistryError

router = APIRouter(prefix="/models", tags=["models"], route_class=StrictJSONRoute)


async def _summary(name: str, registry: RegistryDep, server: ServerDep) -> ModelSummary:
    champion = await registry.champion(name)
    served = server.models.get(name)
    return ModelSummary(
        name=name,
        champion=champion.to_dict() if champion else None,
        serving=served.version if served else None,
        events_seen=served.metadata.get("events_seen") if served else None,
        labeled=served.metadata.get("labeled") if served else None,
        versions=[m["version"] for m in await registry.versions(name)],
    )


async def _known(name: str, registry: RegistryDep) -> None:
    if name not in await registry.names():
        raise HTTPException(404, f"unknown model {name!r}")


@router.get("", response_model=list[ModelSummary], responses=errors(503))
async def list_models(registry: RegistryDep, server: ServerDep) -> list[ModelSummary]:
    """List the registered models, each with its champion, served version and kept versions."""
    return [await _summary(name, registry, server) for name in await registry.names()]


@router.get("/{name}", response_model=ModelSummary, responses=errors(404, 503))
async def get_model(name: str, registry: RegistryDep, server: ServerDep) -> ModelSummary:
    """Return a model's champion, the version this API process serves and the kept versions."""
    await _known(name, registry)
    return await _summary(name, registry, server)


@router.get("/{name}/versions", responses=errors(404, 503))
async def list_versions(name: str, registry: RegistryDep) -> dict[str, Any]:
    """Return a model's kept versions (their metadata, oldest first) and its promotions and rollbacks (newest first)."""
    await _known(name, registry)
    return {"name": name, "versions": await registry.versions(name), "history": await registry.history(name)}


@router.post("/{name}/promote", responses=errors(401, 403, 404, 413, 503))
async def promote(
    name: str, body: VersionRequest, registry: RegistryDep, control: ControlDep, _: AdminKey
) -> dict[str, Any]:
    """Make ``version`` the champion, pinned; a null version unpins, and the newest version serves.

    Needs the admin key. The answer holds the new champion, and whether the workers' promotion
    judges were told (``workers``).
    """
    await _known(name, registry)
    try:
        champion = await registry.promote(name, body.version, by="api", reason=body.reason or "promoted over HTTP")
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from None
    return await _changed(name, champion, "promoted" if body.version is not None else "unpinned", control)


@router.post("/{name}/rollback", responses=errors(401, 403, 404, 409, 413, 503))
async def rollback(
    name: str, body: RollbackRequest, registry: RegistryDep, control: ControlDep, _: AdminKey
) -> dict[str, Any]:
    """Serve an older version again, pinned until a promotion.

    Needs the admin key; 409 when the version is not older than the champion. The answer holds the
    new champion, and whether the workers' promotion judges were told (``workers``).
    """
    await _known(name, registry)
    try:
        champion = await registry.rollback(name, body.version, by="api", reason=body.reason or "rolled back over HTTP")
    except RegistryError as exc:
        raise HTTPException(409 if "older" in str(exc) else 404, str(exc)) from None
    return await _changed(name, champion, "rolled_back", control)


async def _changed(name: str, champion: Champion, event: str, control: ControlDep) -> dict[str, Any]:
    """Return the new champion, and whether the workers' promotion judges were told (``workers``)."""
    change = champion.change(name, event)
    problem = (
        await control(change)
        if control is not None
        else "no workers to tell (the embedded demo, or an API not started by `streamwise api`)"
    )
    return {
        "name": name,
        "champion": champion.to_dict(),
        "workers": f"not notified: {problem}" if problem else "notified",
    }
