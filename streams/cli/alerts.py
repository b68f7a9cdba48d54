"""``streamwise alerts tail``: ``streamwise tail alerts`` under its older name."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.cli.tail import Stream, tail

alerts_app = typer.Typer(help="Drift alerts.", no_args_is_help=True)


@alerts_app.command("tail")
def tail_alerts(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON alert per line, as published.")] = False,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest alert, not the next one.")] = False,
    max_alerts: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many alerts.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Print drift alerts as they arrive (the same as ``streamwise tail alerts``)."""
    tail(Stream.alerts, as_json, from_beginning, max_alerts, None, timeout)
