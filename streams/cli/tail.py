"""``streamwise tail {predictions,dlq,alerts}``: follow an output topic with a confluent-kafka consumer.

A reader, not a member of any group: it takes every partition, from the next record (or from the
oldest with ``--from-beginning``), and prints one line per record: human-readable, or the record
as published with ``--json``. ``--model`` keeps the records of one model.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from confluent_kafka import Consumer

from online_models.alerts import Alert
from online_models.datasets import json_object
from streams.kafka import topics
from streams.kafka.consumer import poll_record
from streams.settings import Settings


class Stream(StrEnum):
    """The output topics ``streamwise tail`` can follow.

    Examples
    --------
    >>> [stream.value for stream in Stream]
    ['predictions', 'dlq', 'alerts']
    >>> TOPICS[Stream("dlq")]   # the topic it follows (with the settings' prefix in front)
    'events.dlq'
    """

    predictions = "predictions"
    dlq = "dlq"
    alerts = "alerts"


TOPICS = {Stream.predictions: topics.PREDICTIONS, Stream.dlq: topics.DLQ, Stream.alerts: topics.ALERTS}


def tail(
    stream: Annotated[Stream, typer.Argument(help="What to follow: predictions, dead letters (dlq) or alerts.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line, as published.")] = False,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record, not the next one.")] = False,
    max_records: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many records.")] = None,
    model: Annotated[str | None, typer.Option(help="Only the records of this model.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Print the records of an output topic as they arrive."""
    settings = Settings()
    consumer = Consumer(
        settings.kafka().consumer(
            f"streamwise-tail-{uuid.uuid4().hex}",  # a reader, not a member
            **{"auto.offset.reset": "earliest" if from_beginning else "latest"},
        )
    )
    consumer.subscribe([settings.topic(TOPICS[stream])])
    deadline = time.monotonic() + timeout if timeout is not None else None
    # Reading what a topic holds (--from-beginning --max N) ends at its end, like head; otherwise it follows.
    until_end = from_beginning and max_records is not None
    seen = 0
    try:
        while (max_records is None or seen < max_records) and (deadline is None or time.monotonic() < deadline):
            record = poll_record(consumer, 0.5)
            if record is None:
                if until_end and at_end(consumer):
                    break
                continue
            value = record.value or b""  # a null value (a tombstone) shows as an empty record
            doc = json_object(value)
            if model is not None and (doc is None or doc.get("model") != model):
                continue
            typer.echo(value.decode(errors="replace") if as_json else describe(stream, doc, value))
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def at_end(consumer: Consumer) -> bool:
    """Tell whether ``consumer`` has read every partition it was given to its high watermark."""
    assigned = consumer.assignment()
    if not assigned:
        return False  # not given its partitions yet
    for tp in consumer.position(assigned):
        low, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False) or (0, 0)
        if high > low and tp.offset < high:  # records left (or none fetched yet: OFFSET_INVALID)
            return False
    return True


def describe(stream: Stream, doc: dict[str, Any] | None, value: bytes) -> str:
    """Return one human-readable line for a record.

    Someone else's record on the topic is shown as it is.

    Examples
    --------
    >>> from online_models.events import Prediction
    >>> value = Prediction("e1", "nb", 2, True, {False: 0.25, True: 0.75}, ts_ms=0, processed_ms=1_500).to_json()
    >>> describe(Stream.predictions, orjson.loads(value), value)
    'e1 model=nb gen=2 -> true p=0.750'
    >>> from datetime import UTC, datetime
    >>> from online_models.events import DeadLetter, Origin
    >>> letter = DeadLetter("invalid_json", "unexpected character", b"{oops", Origin("events.raw", 0, 7),
    ...                     failed_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> value = letter.to_json()
    >>> describe(Stream.dlq, orjson.loads(value), value)
    'invalid_json events.raw[0]@7 event=None: unexpected character'
    >>> describe(Stream.predictions, None, b"hello")   # not JSON: shown as it is
    '(not a predictions record) hello'
    """
    try:
        if doc is not None and stream is Stream.alerts:
            return Alert.from_json(value).describe()
        if doc is not None and stream is Stream.predictions:
            score = f" score={doc['score']:.4g}" if doc.get("score") is not None else ""
            proba = doc.get("proba") or {}
            top = f" p={max(proba.values()):.3f}" if proba else ""
            answer = orjson.dumps(doc["prediction"]).decode()  # as published and as /predict says it: 0, true, "cat"
            return f"{doc['event_id']} model={doc['model']} gen={doc['generation']} -> {answer}{top}{score}"
        if doc is not None and stream is Stream.dlq:
            where = f"{doc.get('topic')}[{doc.get('partition')}]@{doc.get('offset')}"
            model = f" model={doc['model']}" if doc.get("model") else ""
            return f"{doc['reason']} {where} event={doc.get('event_id')}{model}: {doc.get('detail')}"
    except (KeyError, TypeError, ValueError):
        pass
    return f"(not a {stream.value} record) {value.decode(errors='replace')[:500]}"
