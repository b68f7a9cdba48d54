"""``streamwise alerts tail``: follow the drift alerts topic with a confluent-kafka consumer."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import typer
from confluent_kafka import Consumer

from online_models.alerts import Alert
from streams import topics
from streams.consumer import poll_record
from streams.settings import Settings

alerts_app = typer.Typer(help="Drift alerts.", no_args_is_help=True)


@alerts_app.command("tail")
def tail(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON alert per line, as published.")] = False,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest alert, not the next one.")] = False,
    max_alerts: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many alerts.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Print drift alerts as they arrive: one line each, human-readable unless --json."""
    settings = Settings()
    consumer = Consumer(
        settings.kafka().consumer(
            f"streamwise-alerts-tail-{uuid.uuid4().hex}",  # a reader, not a member
            **{"auto.offset.reset": "earliest" if from_beginning else "latest"},
        )
    )
    consumer.subscribe([settings.topic(topics.ALERTS)])
    deadline = time.monotonic() + timeout if timeout is not None else None
    seen = 0
    try:
        while (max_alerts is None or seen < max_alerts) and (deadline is None or time.monotonic() < deadline):
            record = poll_record(consumer, 0.5)
            if record is None:
                continue
            typer.echo(record.value.decode(errors="replace") if as_json else _describe(record.value))
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _describe(value: bytes) -> str:
    try:
        return Alert.from_json(value).describe()
    except (KeyError, TypeError, ValueError):  # someone else's record on the topic: show it as it is
        return f"(not an alert) {value.decode(errors='replace')[:500]}"
