"""Delayed labels: the records of ``events.labels``.

A label message is a UTF-8 JSON object ``{"event_id": str, "label": bool | int | float | str,
"ts": RFC 3339 | epoch ms (optional)}``; other fields are ignored. It is joined, by its event_id
alone, with the prediction made when its event arrived (see :mod:`online_models.pending`),
whatever key or partitioner its producer used.

>>> label = parse_label_event(b'{"event_id": "e1", "label": true, "ts": 1000}')
>>> label.event_id, label.label, label.ts_ms
('e1', True, 1000)
>>> parse_label_event(b'{"event_id": "e1"}')
Traceback (most recent call last):
...
online_models.exceptions.InvalidEventError: missing_label: label is required
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from online_models.events import (
    MAX_EVENT_BYTES,
    MAX_EVENT_ID_LENGTH,
    MAX_LEARN_RECORD_BYTES,
    Origin,
    Value,
    _decode,
    _parse_event_id,
    _parse_label,
    _ts_ms,
    parse_source,
    readable_event_id,
)
from online_models.exceptions import InvalidEventError


class LabelEvent(msgspec.Struct, frozen=True, tag="label", tag_field="kind"):
    """The ground truth of one event, arriving after (or before) the event itself.

    ``ts_ms`` is when it became known. ``source`` is where it was read from ``events.labels``: in
    the learn log it tells a label written twice (by a replay) from a second label.

    Examples
    --------
    >>> label = LabelEvent("e1", True, 1_000, Origin("events.labels", 0, 5))
    >>> label.to_json()
    b'{"kind":"label","event_id":"e1","label":true,"ts":1000,"source":["events.labels",0,5]}'
    >>> decode_label_record(label.to_json()) == label
    True
    """

    event_id: str
    label: Value
    ts_ms: int = msgspec.field(name="ts")
    source: Origin | None = None

    def to_json(self) -> bytes:
        """Encode it as the learn log carries it: with its ``kind`` and its source."""
        return _encode(self)


class _LabelWire(msgspec.Struct):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EVENT_ID_LENGTH)]
    label: Value
    ts: int | str | None = None


_WIRE = msgspec.json.Decoder(_LabelWire)
_RECORD = msgspec.json.Decoder(LabelEvent)
_encode = msgspec.json.Encoder().encode


def parse_label_event(
    data: bytes | None, *, max_bytes: int = MAX_EVENT_BYTES, default_ms: int | None = None
) -> LabelEvent:
    """Decode and validate one label message; InvalidEventError gives the reason code."""
    if not data or len(data) > max_bytes:
        _decode(data, max_bytes)  # raises with the reason
    try:
        wire = _WIRE.decode(data)  # type: ignore[arg-type]
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return _parse_label_object(_decode(data, max_bytes), default_ms)
    try:
        return LabelEvent(wire.event_id, wire.label, _ts_ms(wire.ts, default_ms))
    except InvalidEventError as error:
        error.event_id = wire.event_id
        raise


def decode_label_record(data: bytes) -> LabelEvent:
    """Decode a label as the learn log carries it (with its source)."""
    try:
        return _RECORD.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        obj = _decode(data, MAX_LEARN_RECORD_BYTES)
        label = _parse_label_object(obj, None)
        return LabelEvent(label.event_id, label.label, label.ts_ms, parse_source(obj.get("source")))


def _parse_label_object(obj: dict[str, Any], default_ms: int | None) -> LabelEvent:
    try:
        event_id = _parse_event_id(obj.get("event_id"))
        label = _parse_label(obj.get("label"))
        if label is None:
            raise InvalidEventError("missing_label", "label is required")
        return LabelEvent(event_id, label, _ts_ms(obj.get("ts"), default_ms))
    except InvalidEventError as error:
        error.event_id = readable_event_id(obj)
        raise
