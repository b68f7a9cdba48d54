"""Delayed labels: the records of ``events.labels``.

A label message is a UTF-8 JSON object ``{"event_id": str, "label": bool | int | float | str,
"ts": RFC 3339 | epoch ms (optional), "key": str (optional: the event's key)}``. It is joined
with the prediction made when its event arrived (see :mod:`online_models.pending`).

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

import orjson

from online_models.events import (
    MAX_EVENT_BYTES,
    Label,
    _decode,
    _format_ts,
    _parse_event_id,
    _parse_label,
    _parse_optional_str,
    _parse_ts,
)
from online_models.exceptions import InvalidEventError


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """The ground truth of one event, arriving after (or before) the event itself."""

    event_id: str
    label: Label
    ts: datetime
    key: str | None = None  # the event's key: how the chained fast path finds the event's partition

    def to_json(self) -> bytes:
        record = {"event_id": self.event_id, "label": self.label, "ts": _format_ts(self.ts)}
        if self.key is not None:
            record["key"] = self.key
        return orjson.dumps(record)


def parse_label_event(
    data: bytes, *, max_bytes: int = MAX_EVENT_BYTES, default_ts: datetime | None = None
) -> LabelEvent:
    """Decode and validate one label message; InvalidEventError gives the reason code."""
    obj = _decode(data, max_bytes)
    event_id = _parse_event_id(obj.get("event_id"))
    label = _parse_label(obj.get("label"))
    if label is None:
        raise InvalidEventError("missing_label", "label is required")
    return LabelEvent(event_id, label, _parse_ts(obj.get("ts"), default_ts), _parse_optional_str(obj, "key"))
