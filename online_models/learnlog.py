"""The records of the learn log (the ``features`` topic) and how they are told apart.

A feature vector is the raw event's JSON with its model inputs and its ``source``; a label and a
champion change are marked by their kind (on Kafka, the header ``streamwise-kind``). Every record
is keyed by the event_id (a champion change by its model name) and partitioned by Streamwise's
own producer, so an event and its label meet in one partition whatever partitioner their
producers used.

>>> from datetime import UTC, datetime
>>> from online_models.events import Origin
>>> label = LabelEvent("e1", True, datetime(2026, 1, 1, tzinfo=UTC), Origin("events.labels", 0, 5))
>>> decode_record(label.to_json(), LABEL).source
Origin(topic='events.labels', partition=0, offset=5)
>>> decode_record(b"{}", "gossip")
Traceback (most recent call last):
...
online_models.exceptions.InvalidEventError: invalid_kind: unknown learn-log record kind 'gossip'
"""

from __future__ import annotations

from online_models.control import ChampionChange, decode_control_record
from online_models.events import FeatureVector
from online_models.exceptions import InvalidEventError
from online_models.labels import LabelEvent, decode_label_record

LearnRecord = FeatureVector | LabelEvent | ChampionChange
LABEL, CONTROL = "label", "control"  # the kinds besides vectors (which carry no kind)


def kind_of(record: LearnRecord) -> str | None:
    if isinstance(record, LabelEvent):
        return LABEL
    if isinstance(record, ChampionChange):
        return CONTROL
    return None


def decode_record(value: bytes | None, kind: str | None) -> LearnRecord:
    """The record of one learn-log message of ``kind``; InvalidEventError when it is not one."""
    if kind is None:
        return FeatureVector.from_json(value)  # type: ignore[arg-type]  # None fails as empty_message
    if kind == LABEL:
        return decode_label_record(value)  # type: ignore[arg-type]
    if kind == CONTROL:
        return decode_control_record(value)  # type: ignore[arg-type]
    raise InvalidEventError("invalid_kind", f"unknown learn-log record kind {kind[:64]!r}")
