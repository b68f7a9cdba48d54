"""``streamwise produce``: raw events, delayed labels or labels to Kafka, from a file or a synthetic stream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from online_models.datasets import EVENT, GENERATORS, read_jsonl, synthetic_events, with_delayed_labels
from streams.cli import options
from streams.kafka import topics
from streams.kafka.producer import encode_event, encode_label, encode_label_line, encode_line, produce


def produce_command(
    file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="JSONL file of raw events.")] = None,
    labels: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="JSONL file of labels, to the labels topic.")
    ] = None,
    synthetic: Annotated[str | None, typer.Option(help=f"Generate events: {', '.join(GENERATORS)}.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of synthetic events.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    label_delay: Annotated[
        int,
        typer.Option(
            min=0,
            help="Synthetic labels go to the labels topic this many events late (0: inline), each after its event.",
        ),
    ] = 0,
    topic: Annotated[
        str | None,
        typer.Option(help="Target topic by its name in the stream (events.raw, ...): the topic prefix is added."),
    ] = None,
) -> None:
    """Produce raw events (and delayed labels), or labels, to Kafka at full speed (confluent-kafka)."""
    if sum(source is not None for source in (file, labels, synthetic)) != 1:
        raise typer.BadParameter("give exactly one of --file, --labels or --synthetic")
    if topic is not None and topic not in topics.ALL:
        raise typer.BadParameter(f"{topic!r}: one of {', '.join(topics.ALL)} (the topic prefix is added)")
    settings = options.settings()
    labels_topic = settings.topic(topics.LABELS)
    target = settings.topic(topic or (topics.LABELS if labels is not None else topics.RAW))
    messages: Iterator[tuple[str, bytes | None, bytes]]
    if labels is not None:
        messages = ((target, *encode_label_line(line)) for line in read_jsonl(labels))
        total = None
    elif file is not None:
        messages = ((target, *encode_line(line)) for line in read_jsonl(file))
        total = None
    elif label_delay == 0:
        messages = ((target, *encode_event(e)) for e in synthetic_events(synthetic or "", n, seed))
        total = n
    else:
        messages = (
            (target, *encode_event(m)) if kind == EVENT else (labels_topic, *encode_label(m))
            for kind, m in with_delayed_labels(synthetic_events(synthetic or "", n, seed), label_delay)
        )
        total = 2 * n
    # Delayed labels go to their own topic: the bar counts both, and says so.
    where = f"{target} and {labels_topic}" if synthetic is not None and label_delay else target
    with options.progress() as progress:
        task = progress.add_task(f"produce -> {where}", total=total, status="")
        # Labels reach the broker after their events (each comes label_delay or more messages later).
        report = produce(settings.kafka(), messages, lambda k: progress.advance(task, k), flush_every=label_delay)
    options.console.print(f"sent {report.sent}, delivered {report.delivered}, errors {len(report.errors)}")
    for error in report.errors[:10]:
        options.console.print(f"[red]delivery error:[/] {error}")
    if report.errors:
        raise typer.Exit(1)
