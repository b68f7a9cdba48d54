"""Delayed labels: the records of ``events.labels``.

A label message is a UTF-8 JSON object ``{"event_id": str, "label": bool | int | float | str,
"ts": RFC 3339 | epoch ms (optional)}``; other fields are ignored. It is joined, by its event_id
alone, with the prediction made when its event arrived (see :mod:`online_models.pending`),
whatever key or partitioner its producer used.

>>> label = parse_label_event(b'{"event_id": "e1", "label": true, "ts": 1000}')
>>> label.event_id, label.label, label.ts.isoformat()
('e1', True, '1970-01-01T00:00:01+00:00')
>>> parse_label_event(b'{"event_id": "e1"}')
Traceback (most recent call last):
...
online_models.exceptions.InvalidEventError: missing_label: label is required
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from online_models.events import (
    MAX_EVENT_BYTES,
    MAX_LEARN_RECORD_BYTES,
    Label,
    Origin,
    _decode,
    _format_ts,
    _parse_event_id,
    _parse_label,
    _parse_ts,
    _source_json,
    parse_source,
    readable_event_id,
)
from online_models.exceptions import InvalidEventError


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """The ground truth of one event, arriving after (or before) the event itself.

    ``source`` is where the label was read from ``events.labels``: in the learn log it tells a
    label written twice (by a replay) from a second label.
    """

    event_id: str
    label: Label
    ts: datetime
    source: Origin | None = None

    def to_json(self) -> bytes:
        record: dict[str, Any] = {"event_id": self.event_id, "label": self.label, "ts": _format_ts(self.ts)}
        if self.source is not None:
            record["source"] = _source_json(self.source)
        return orjson.dumps(record)


def parse_label_event(
    data: bytes | None, *, max_bytes: int = MAX_EVENT_BYTES, default_ts: datetime | None = None
) -> LabelEvent:
    """Decode and validate one label message; InvalidEventError gives the reason code."""
    return _parse_label_object(_decode(data, max_bytes), default_ts)


def decode_label_record(data: bytes) -> LabelEvent:
    """A label as the learn log carries it (with its source)."""
    obj = _decode(data, MAX_LEARN_RECORD_BYTES)
    label = _parse_label_object(obj, None)
    return LabelEvent(label.event_id, label.label, label.ts, parse_source(obj.get("source")))


def _parse_label_object(obj: dict[str, Any], default_ts: datetime | None) -> LabelEvent:
    try:
        event_id = _parse_event_id(obj.get("event_id"))
        label = _parse_label(obj.get("label"))
        if label is None:
            raise InvalidEventError("missing_label", "label is required")
        return LabelEvent(event_id, label, _parse_ts(obj.get("ts"), default_ts))
    except InvalidEventError as error:
        error.event_id = readable_event_id(obj)
        raise
