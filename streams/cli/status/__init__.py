"""``streamwise status``: the state of the local stack, in one report.

It shows what the local stack runs, the worker's consumer lag, the registry's model versions, each
model's live status and the last drift alerts.

Each section is read on its own: a service that is down turns its section into one line saying
so, and the others still print. The exit code is 0 whenever the report could be printed;
``--strict`` makes it 1 when a process or a service is down.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer
from rich.console import Console

from streams.cli.status.probes import StackSettings, collect
from streams.cli.status.render import render
from streams.settings import Settings


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a process or a service is down.")] = False,
    alerts: Annotated[int, typer.Option(min=0, help="How many of the last alerts to show.")] = 10,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each service.")] = 3.0,
) -> None:
    """Show the local stack: its processes, consumer lag, models and the last drift alerts.

    The consumer lag is the worker's, per partition; each model shows its versions, champion and live status.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per probe
    settings, stack = Settings(), StackSettings()
    report = collect(settings, stack, alerts, timeout)
    if as_json:
        typer.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        render(report, Console(width=max(Console().width, 132)), datetime.now(tz=UTC))
    if strict and not report.ok:
        raise typer.Exit(1)
