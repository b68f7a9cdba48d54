"""The records of the learn log (the ``features`` topic) and how they are told apart.

The engine writes the vectors and labels bound for one partition in one batch as one message, a
*bundle*: a JSON array of records, each with its ``kind`` (``vector`` or ``label``), in the order
they were read. Bundling costs the second hop one produce and one fetch per batch and partition
instead of one per event. A champion change travels alone, marked by the header
``streamwise-kind: control``; a single vector or label (a message of one record, kind given by the
header or absent for a vector) is read too. Every record carries its ``source`` (topic, partition,
offset of the message it was made from).

Every record goes to each partition that hosts a model (:mod:`online_models.placement`), so an
event and its label meet whatever key or partitioner their own producers used.

>>> from online_models.events import Origin
>>> label = LabelEvent("e1", True, 1_767_225_600_000, Origin("events.labels", 0, 5))
>>> [r.source.offset for r in decode_records(encode_bundle([label, label]), None)]
[5, 5]
>>> decode_records(b"{}", "gossip")
Traceback (most recent call last):
...
online_models.exceptions.InvalidEventError: invalid_kind: unknown learn-log record kind 'gossip'
"""

from __future__ import annotations

import msgspec

from online_models.control import ChampionChange, decode_control_record
from online_models.events import MAX_LEARN_RECORD_BYTES, FeatureVector, _decode
from online_models.exceptions import InvalidEventError
from online_models.labels import LabelEvent, decode_label_record

LearnRecord = FeatureVector | LabelEvent | ChampionChange
LABEL, CONTROL = "label", "control"  # header kinds (a message without one: a vector or a bundle)
_BUNDLE = msgspec.json.Decoder(list[FeatureVector | LabelEvent])
_encode = msgspec.json.Encoder().encode


def encode_bundle(records: list[FeatureVector | LabelEvent]) -> bytes:
    """Encode vectors and labels as one learn-log message: a bundle, a JSON array of the records in order."""
    return _encode(records)


def decode_records(value: bytes | None, kind: str | None) -> list[LearnRecord]:
    """Decode the records of one learn-log message of ``kind``; InvalidEventError when it holds none."""
    if kind is None and value and value[:1] == b"[":
        try:
            return _BUNDLE.decode(value)  # type: ignore[return-value]
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
            _decode(value, MAX_LEARN_RECORD_BYTES)  # the reason, when it is not even JSON
            raise InvalidEventError("invalid_type", f"not a bundle of vectors and labels: {exc}") from None
    return [decode_record(value, kind)]


def decode_record(value: bytes | None, kind: str | None) -> LearnRecord:
    """Decode the record of one single-record message of ``kind``; InvalidEventError when it is not one."""
    if kind is None:
        return FeatureVector.from_json(value)  # type: ignore[arg-type]  # None fails as empty_message
    if kind == LABEL:
        return decode_label_record(value)  # type: ignore[arg-type]
    if kind == CONTROL:
        return decode_control_record(value)  # type: ignore[arg-type]
    raise InvalidEventError("invalid_kind", f"unknown learn-log record kind {kind[:64]!r}")
