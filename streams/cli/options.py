"""What the ``streamwise`` commands share: the console, the config option, settings and progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.settings import Settings

console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Model config (YAML); default STREAMWISE_CONFIG.")
]


def settings() -> Settings:
    """Return the settings, read from the environment now (a command reads them once, at its start)."""
    return Settings()


def progress() -> Progress:
    """Return a progress bar on the console, with a status field."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )
