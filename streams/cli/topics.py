"""``streamwise topics``: Kafka topic administration."""

from __future__ import annotations

import typer
from rich.console import Console

from streams.cli import options
from streams.kafka import admin

topics_app = typer.Typer(help="Kafka topic administration.", no_args_is_help=True)


@topics_app.command("create")
def topics_create() -> None:
    """Create the core-loop topics with STREAMWISE_PARTITIONS partitions (idempotent)."""
    settings = options.settings()
    outcome = admin.create_stream_topics(settings)
    for name, what in outcome.items():
        Console().print(f"{name}: {what}")
