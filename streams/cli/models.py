"""``streamwise models``: the registry from the command line (list, versions, promote, rollback, unpin)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from online_models.control import ChampionChange
from online_models.registry import Champion
from online_models.storage import redis_connect
from online_models.storage.redis_registry import ModelRegistry
from streams.control import notify_workers
from streams.settings import Settings

models_app = typer.Typer(help="The model registry (Redis).", no_args_is_help=True)
T = TypeVar("T")


def _run(action: Callable[[ModelRegistry], Awaitable[T]]) -> T:
    settings = Settings()

    async def main() -> T:
        client = redis_connect.connect(settings)
        try:
            return await action(ModelRegistry(client, settings.redis_namespace, settings.signing_key()))
        finally:
            await client.aclose()

    return asyncio.run(main())


@models_app.command("list")
def list_models() -> None:
    """List every model name with its champion."""

    async def rows(registry: ModelRegistry) -> list[tuple[str, Any, list[dict[str, Any]]]]:
        return [(n, await registry.champion(n), await registry.versions(n)) for n in await registry.names()]

    table = Table("model", "champion", "candidate", "pinned", "by", "events", "labeled", "versions kept")
    for name, champion, kept in _run(rows):
        if champion is None:
            table.add_row(name, "-", "-", "-", "-", "-", "-", str(len(kept)))
            continue
        served = next((m for m in kept if m["version"] == champion.version), {})  # what the champion learned
        table.add_row(
            name, str(champion.version), champion.candidate, str(champion.pinned), champion.by,
            str(served.get("events_seen", "-")), str(served.get("labeled", "-")), str(len(kept)),
        )  # fmt: skip
    Console().print(table)


@models_app.command("versions")
def versions(name: str) -> None:
    """Show the kept versions of NAME, with their metrics, and its promotion history."""

    async def fetch(registry: ModelRegistry) -> tuple[list[dict], list[dict]]:
        return await registry.versions(name), await registry.history(name)

    metas, history = _run(fetch)
    table = Table("version", "candidate", "created_at", "reason", "labeled", "metrics", title=name)
    for m in metas:
        metrics = " ".join(f"{k}={v:.4f}" for k, v in m["metrics"].items())
        table.add_row(
            str(m["version"]), m.get("candidate", name), m["created_at"], m["reason"], str(m["labeled"]), metrics
        )
    console = Console()
    console.print(table)
    for record in history:
        console.print(f"{record['at']} {record['event']} v{record['version']} by {record['by']}: {record['reason']}")


@models_app.command("promote")
def promote(
    name: str,
    version: int,
    reason: Annotated[str, typer.Option(help="Recorded with the promotion.")] = "promoted from the CLI",
) -> None:
    """Serve VERSION of NAME (pinned: new versions do not replace it until promoted again)."""
    _change(name, lambda r: r.promote(name, version, by="cli", reason=reason), "promoted")


@models_app.command("rollback")
def rollback(
    name: str,
    version: int,
    reason: Annotated[str, typer.Option(help="Recorded with the rollback.")] = "rolled back from the CLI",
) -> None:
    """Serve an older VERSION of NAME again (pinned)."""
    _change(name, lambda r: r.rollback(name, version, by="cli", reason=reason), "rolled_back")


@models_app.command("unpin")
def unpin(
    name: str,
    reason: Annotated[str, typer.Option(help="Recorded with the change.")] = "unpinned from the CLI",
) -> None:
    """Serve the newest version of NAME's champion candidate again, and let automatic promotion act."""
    _change(name, lambda r: r.promote(name, None, by="cli", reason=reason), "unpinned")


def _change(name: str, action: Callable[[ModelRegistry], Awaitable[Champion]], event: str) -> None:
    """Make a person's champion change in the registry, show it, and tell the workers."""
    champion = _run(action)
    pinned = "pinned" if champion.pinned else "not pinned"
    Console().print(f"{name}: champion v{champion.version} ({champion.candidate}), {pinned}")
    _notify(champion.change(name, event))


def _notify(change: ChampionChange) -> None:
    """Tell the workers' promotion judges (models.control); a failure is shown, not fatal."""
    problem = notify_workers(Settings(), change)
    if problem is None:
        Console().print("workers notified")
    else:
        Console(stderr=True).print(f"[yellow]workers not notified:[/] {problem}")
