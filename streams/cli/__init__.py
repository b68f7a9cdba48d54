"""The ``streamwise`` command line: one module per command or group, put together here."""

from __future__ import annotations

import logging
import sys

import typer

from online_models.exceptions import StreamwiseError
from streams.cli.alerts import alerts_app
from streams.cli.embedded import evaluate, run
from streams.cli.models import models_app
from streams.cli.options import console
from streams.cli.processes import api, worker
from streams.cli.produce import produce_command
from streams.cli.status import status
from streams.cli.tail import tail as tail_command  # the name tail stays the module
from streams.cli.topics import topics_app

app = typer.Typer(
    help="Streamwise: online River models learning from Kafka, evaluated prequentially.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(run)
app.command()(evaluate)
app.command("produce")(produce_command)
app.add_typer(topics_app, name="topics")
app.add_typer(alerts_app, name="alerts")
app.command("tail")(tail_command)
app.add_typer(models_app, name="models")
app.command()(status)
app.command()(worker)
app.command()(api)


def main() -> None:
    """Run the ``streamwise`` command line; a StreamwiseError is printed as one line and exits with code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except StreamwiseError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)
