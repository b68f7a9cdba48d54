"""The records that cross topics: raw events in; feature vectors, predictions and dead letters out.

Raw events are UTF-8 JSON objects::

    {"event_id": str, "ts": RFC 3339 string | epoch milliseconds (optional), "key": str (optional),
     "features": {name: number | string | bool} (non-empty), "label": bool | int | float | str | null}

``parse_raw_event`` turns bytes into a :class:`RawEvent` or raises :class:`InvalidEventError` with
a stable reason code (the DLQ reason and a metric label). Times are kept as epoch milliseconds.

A valid event is decoded and checked in one pass by msgspec (in C); an event that pass refuses
goes through the field-by-field checks below, which name the reason and the field. Both accept
exactly the same events: the fast pass only ever refuses more, and the slow one decides.

>>> event = parse_raw_event(b'{"event_id": "e1", "ts": 0, "features": {"a": 1.5}, "label": true}')
>>> event.event_id, event.features, event.label, event.ts.isoformat()
('e1', {'a': 1.5}, True, '1970-01-01T00:00:00+00:00')
>>> parse_raw_event(b'{"event_id": "e2", "ts": 0, "features": {}}')
Traceback (most recent call last):
...
online_models.exceptions.InvalidEventError: empty_features: features must be a non-empty object
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple

import msgspec
import orjson

from online_models.exceptions import InvalidEventError
from online_models.features import Features

Label = bool | int | float | str | None
MAX_EVENT_BYTES = 1_000_000
MAX_EVENT_ID_LENGTH = 256
MAX_JSON_DEPTH = 1024  # orjson's own limit: deeper nesting is a too_deep dead letter
# Records of the learn log are written by Streamwise itself: a vector is a raw event with its source.
MAX_LEARN_RECORD_BYTES = 4 * MAX_EVENT_BYTES
# A dead letter always fits a Kafka message (1 MB by default): the original value is cut to this
# prefix (its size and sha256 kept), the key and the detail likewise. Even a prefix of control
# characters, escaped six-fold, stays under 400 KB.
DEAD_LETTER_VALUE_BYTES = 65_536
DEAD_LETTER_KEY_BYTES = 1_024
DEAD_LETTER_DETAIL_CHARS = 2_000
_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS = int((datetime(1, 1, 1, tzinfo=UTC) - EPOCH).total_seconds() * 1000)
MAX_MS = int((datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH).total_seconds() * 1000)
Value = bool | int | float | str  # a feature's value


class Origin(NamedTuple):
    """Where a message was read: topic, partition, offset (a tuple: made twice per event).

    Examples
    --------
    >>> origin = Origin("events.raw", 0, 42)
    >>> origin.offset, list(origin)
    (42, ['events.raw', 0, 42])
    """

    topic: str
    partition: int
    offset: int


class RawEvent(msgspec.Struct, frozen=True):
    """A validated raw event (``ts_ms``: its time, in epoch milliseconds).

    Examples
    --------
    >>> event = RawEvent("e1", 1_500, features={"amount": 12.5}, label=False)
    >>> event.ts.isoformat()
    '1970-01-01T00:00:01.500000+00:00'
    """

    event_id: str
    ts_ms: int = msgspec.field(name="ts")
    key: str | None = None
    features: dict[str, Value] = msgspec.field(default_factory=dict)
    label: Label = None

    @property
    def ts(self) -> datetime:
        """The event's time as an aware UTC datetime."""
        return from_ms(self.ts_ms)


class FeatureVector(RawEvent, frozen=True, tag="vector", tag_field="kind"):
    """What the learner consumes: the model inputs of one event and its label, if known.

    It has the raw event's wire format (``ts`` in epoch milliseconds), so ``features`` can be read
    by any raw-event consumer, plus ``kind`` (``vector``) and ``source``: where its raw event was
    read, which is how a learner recognises a vector written again by a replay (see
    :mod:`online_models.learner`).

    Examples
    --------
    >>> vector = FeatureVector("e1", 0, features={"a": 1.5}, label=True, source=Origin("events.raw", 0, 7))
    >>> vector.to_json()
    b'{"kind":"vector","event_id":"e1","ts":0,"key":null,"features":{"a":1.5},"label":true,"source":["events.raw",0,7]}'
    >>> FeatureVector.from_json(vector.to_json()) == vector
    True
    """

    source: Origin | None = None

    def to_json(self) -> bytes:
        """Encode the vector as the learn log stores it (JSON, with ``kind`` and ``source``)."""
        return _encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> FeatureVector:
        """Decode a vector of the learn log; one that is not a valid event fails with its reason."""
        try:
            return _VECTOR.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            obj = _decode(data, MAX_LEARN_RECORD_BYTES)
            event = _parse_event(obj, None)
            return cls(
                event.event_id, event.ts_ms, event.key, event.features, event.label, parse_source(obj.get("source"))
            )


class Prediction:
    """One model's answer for one event, published to ``predictions`` keyed by event_id.

    Examples
    --------
    >>> prediction = Prediction("e1", "nb", 1, True, {False: 0.25, True: 0.75}, ts_ms=0, processed_ms=1_500)
    >>> record = orjson.loads(prediction.to_json())
    >>> record["proba"], record["processed_at"]   # probability keys are the labels as JSON text
    ({'false': 0.25, 'true': 0.75}, '1970-01-01T00:00:01.500+00:00')
    """

    __slots__ = ("event_id", "generation", "model", "prediction", "proba", "processed_ms", "score", "ts_ms")

    def __init__(
        self,
        event_id: str,
        model: str,
        generation: int,
        prediction: Label,
        proba: dict[Any, float] | None,
        ts_ms: int,
        processed_ms: int,
        score: float | None = None,
    ) -> None:
        self.event_id = event_id
        self.model = model
        self.generation = generation  # the model's drift generation (a registry version is another thing)
        self.prediction = prediction
        self.proba = proba
        self.ts_ms = ts_ms
        self.processed_ms = processed_ms  # when it was made (epoch ms)
        self.score = score  # an anomaly model's score (its prediction: whether it flags the event)

    def to_dict(self) -> dict[str, Any]:
        """Return the record: times as RFC 3339 text, ``score`` only for an anomaly model."""
        record = {
            "event_id": self.event_id,
            "model": self.model,
            "generation": self.generation,
            "prediction": self.prediction,
            "proba": self.proba,
            "ts": format_ms(self.ts_ms),
            "processed_at": format_ms(self.processed_ms),
        }
        if self.score is not None:
            record["score"] = self.score
        return record

    def to_json(self) -> bytes:
        """Return the record as JSON, as published to ``predictions``."""
        # Probability keys are the labels written as JSON text: true, 0, "cat" -> cat.
        return orjson.dumps(self.to_dict(), option=_ORJSON_OPTS)


def sampled(count: int) -> bool:
    """Tell whether the ``count``-th occurrence of a kind of failure is said: the 1st, 10th, 100th, ...

    A stream that refuses every event for one reason says so a few times with a running count,
    not once per event.

    >>> [n for n in range(1, 1001) if sampled(n)]
    [1, 10, 100, 1000]
    """
    while count % 10 == 0 and count:
        count //= 10
    return count == 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that could not be processed, with the reason and where it came from.

    Examples
    --------
    >>> letter = DeadLetter("invalid_json", "unexpected character", b"{oops", Origin("events.raw", 0, 7),
    ...                     failed_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> record = letter.to_dict()
    >>> record["reason"], record["offset"], record["value"], record["value_bytes"], record["failed_at"]
    ('invalid_json', 7, '{oops', 5, '2026-01-01T00:00:00.000+00:00')
    """

    reason: str
    detail: str
    value: bytes | None
    origin: Origin | None
    failed_at: datetime
    key: bytes | None = None
    event_id: str | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record of ``events.dlq``.

        The original value is kept whole up to ``DEAD_LETTER_VALUE_BYTES`` (else its prefix, with
        ``value_truncated``); ``value_bytes`` and ``value_sha256`` always describe the whole original.
        """
        value = self.value if isinstance(self.value, bytes | bytearray) else None
        record: dict[str, Any] = {
            "reason": self.reason,
            "detail": self.detail[:DEAD_LETTER_DETAIL_CHARS],
            "event_id": self.event_id,
            "model": self.model,
            "topic": self.origin.topic if self.origin else None,
            "partition": self.origin.partition if self.origin else None,
            "offset": self.origin.offset if self.origin else None,
            "failed_at": _format_ts(self.failed_at),
        }
        record.update(_text_or_base64("key", self.key, DEAD_LETTER_KEY_BYTES))
        record.update(_text_or_base64("value", value, DEAD_LETTER_VALUE_BYTES))
        record["value_bytes"] = len(value) if value is not None else None
        record["value_sha256"] = hashlib.sha256(value).hexdigest() if value is not None else None
        record["value_truncated"] = value is not None and len(value) > DEAD_LETTER_VALUE_BYTES
        return record

    def to_json(self) -> bytes:
        """Return the record of ``events.dlq`` as JSON."""
        return orjson.dumps(self.to_dict())


def _text_or_base64(name: str, data: bytes | None, limit: int) -> dict[str, str | None]:
    r"""Return ``data`` (at most its first ``limit`` bytes) as text when it is UTF-8, else as base64.

    >>> _text_or_base64("value", "é".encode() * 3, 5)   # a prefix cut inside a character stays text
    {'value': 'éé'}
    >>> _text_or_base64("value", b"\xff\xfe", 10)
    {'value_base64': '//4='}
    """
    if data is None:
        return {name: None}
    prefix = bytes(data[:limit])
    try:
        return {name: prefix.decode("utf-8")}
    except UnicodeDecodeError as bad:
        # A cut through the last character is still text; anything else is binary.
        if len(data) > limit and bad.reason == "unexpected end of data" and bad.start >= len(prefix) - 3:
            return {name: prefix[: bad.start].decode("utf-8")}
        return {f"{name}_base64": base64.b64encode(prefix).decode("ascii")}


def _source_json(source: Origin | None) -> list[Any] | None:
    return list(source) if source is not None else None


def parse_source(value: Any) -> Origin | None:
    """Parse the ``source`` of a learn-log record, ``[topic, partition, offset]``; None when absent.

    >>> parse_source(["events.raw", 1, 42])
    Origin(topic='events.raw', partition=1, offset=42)
    """
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(type(v) is int and v >= 0 for v in value[1:])
    ):
        return Origin(value[0], value[1], value[2])
    raise InvalidEventError("invalid_type", "source must be [topic, partition, offset]")


# -- time ------------------------------------------------------------------------------------------


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds of an aware datetime (exact: no float on the way).

    >>> to_ms(datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC))
    1500
    """
    return (ts - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """Return the aware UTC datetime of ``ms`` epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


def format_ms(ms: int) -> str:
    """Return ``from_ms(ms).isoformat(timespec="milliseconds")``.

    It is called twice per prediction, so the date and time of each second are formatted once and
    remembered (a few thousand seconds at most).

    >>> format_ms(1_767_225_600_123), format_ms(-1)
    ('2026-01-01T00:00:00.123+00:00', '1969-12-31T23:59:59.999+00:00')
    """
    second, milli = divmod(ms, 1000)
    prefix = _SECONDS.get(second)
    if prefix is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        prefix = _SECONDS[second] = from_ms(second * 1000).isoformat()[:-6]  # without +00:00
    return f"{prefix}.{milli:03d}+00:00"


_SECONDS: dict[int, str] = {}


def _format_ts(ts: datetime) -> str:
    """``ts.isoformat(timespec="milliseconds")``, from orjson's C formatter.

    >>> from datetime import timezone
    >>> _format_ts(datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC))
    '2024-05-01T12:00:00.123+00:00'
    >>> _format_ts(datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2))))
    '2024-05-01T12:00:00.000+02:00'
    """
    if ts.tzinfo is not UTC:  # rare (parsed times are UTC); orjson drops an offset's seconds
        return ts.isoformat(timespec="milliseconds")
    text = orjson.dumps(ts).decode()[1:-1]  # microseconds are left out when 0, else all six digits
    if ts.microsecond:
        return text[:23] + text[26:]
    return text[:19] + ".000" + text[19:]


# -- decoding: the fast pass -----------------------------------------------------------------------


class _RawWire(msgspec.Struct):
    """What a valid raw event decodes to in msgspec's one pass (unknown fields are ignored)."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EVENT_ID_LENGTH)]
    features: Annotated[dict[str, Value], msgspec.Meta(min_length=1)]
    ts: int | str | None = None
    key: str | None = None
    label: Label = None


_RAW = msgspec.json.Decoder(_RawWire)
_VECTOR = msgspec.json.Decoder(FeatureVector)
_encode = msgspec.json.Encoder().encode


def parse_raw_event(
    data: bytes | None,
    *,
    max_bytes: int = MAX_EVENT_BYTES,
    default_ms: int | None = None,
    nulls: list[str] | None = None,
) -> RawEvent:
    """Decode and validate one raw event; ``default_ms`` stands in for a missing ``ts``.

    A feature whose value is ``null`` is a missing value: left out of the event, its name added to
    ``nulls`` (without that list, it is ``invalid_type``). An InvalidEventError carries the event_id
    whenever the message had a readable one.

    >>> seen: list[str] = []
    >>> parse_raw_event(b'{"event_id": "e1", "ts": 0, "features": {"amount": null, "country": "FR"}}', nulls=seen)
    RawEvent(event_id='e1', ts_ms=0, key=None, features={'country': 'FR'}, label=None)
    >>> seen
    ['amount']
    """
    if not data or len(data) > max_bytes:
        _decode(data, max_bytes)  # raises with the reason
    try:
        wire = _RAW.decode(data)  # type: ignore[arg-type]
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return _parse_event(_decode(data, max_bytes), default_ms, nulls)  # names the reason, or accepts
    try:
        return RawEvent(wire.event_id, _ts_ms(wire.ts, default_ms), wire.key, wire.features, wire.label)
    except InvalidEventError as error:
        error.event_id = wire.event_id
        raise


# -- decoding: the field-by-field checks ---------------------------------------------------------


def _decode(data: bytes | None, max_bytes: int) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidEventError("empty_message", "the message has no value (null or empty)")
    if len(data) > max_bytes:
        raise InvalidEventError("too_large", f"{len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        value = orjson.loads(data)  # checks UTF-8 itself: no decoded copy on the hot path
    except orjson.JSONDecodeError as exc:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InvalidEventError("not_utf8", f"not UTF-8 at byte {bad.start}") from None
        event_id = _event_id_in(text)  # not JSON, but its dead letter still says which event it was
        if str(exc).startswith("depth limit"):
            raise InvalidEventError("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels", event_id) from None
        try:
            _reject_non_finite_literal(text)
        except InvalidEventError as error:
            error.event_id = event_id
            raise
        raise InvalidEventError("invalid_json", str(exc)[:200], event_id) from None
    if not isinstance(value, dict):
        raise InvalidEventError("not_an_object", f"expected a JSON object, got {type(value).__name__}")
    return value


_EVENT_ID_TEXT = re.compile(r'"event_id"\s*:\s*"([^"\\]{1,' + str(MAX_EVENT_ID_LENGTH) + r'})"')


def _event_id_in(text: str) -> str | None:
    """Return the event_id written in a message that is not valid JSON, when a plain one can be read.

    >>> _event_id_in('{"event_id": "e7", "features": {"a": NaN}}'), _event_id_in("{oops")
    ('e7', None)
    """
    found = _EVENT_ID_TEXT.search(text)
    return found.group(1) if found else None


def _reject_non_finite_literal(text: str) -> None:
    """Tell NaN/Infinity literals (which strict JSON rejects) apart from other malformed JSON."""

    def constant(name: str) -> float:
        raise InvalidEventError("non_finite", f"{name} is not a finite number")

    def number(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise InvalidEventError("non_finite", f"{literal[:32]} overflows a double")
        return value

    try:
        json.loads(text, parse_constant=constant, parse_float=number)
    except (ValueError, RecursionError):  # other malformed JSON: the caller says invalid_json
        return


def _parse_ts(value: Any, default: datetime | None) -> datetime:
    """Parse a time field as a datetime (alerts, champion changes), ``default`` when absent."""
    return from_ms(_ts_ms(value, to_ms(default) if default is not None else None))


def _ts_ms(value: Any, default_ms: int | None) -> int:
    if value is None:
        if default_ms is None:
            raise InvalidEventError("invalid_ts", "ts is required")
        return default_ms
    if isinstance(value, int) and not isinstance(value, bool):
        if not MIN_MS <= value <= MAX_MS:
            raise InvalidEventError("invalid_ts", f"epoch milliseconds out of range: {value}")
        return value
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEventError("invalid_ts", f"not an RFC 3339 timestamp: {value[:64]!r}") from None
        if ts.tzinfo is None:
            raise InvalidEventError("invalid_ts", "RFC 3339 timestamps need an offset (Z or +hh:mm)")
        try:
            return to_ms(ts.astimezone(UTC))
        except (OverflowError, ValueError):
            raise InvalidEventError("invalid_ts", f"out of range in UTC: {value[:64]!r}") from None
    raise InvalidEventError("invalid_ts", "ts must be an RFC 3339 string or epoch milliseconds")


def _check_number(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidEventError("non_finite", f"{name} is not a finite number")


def _parse_features(value: Any, nulls: list[str] | None = None) -> Features:
    if not isinstance(value, dict):
        raise InvalidEventError("invalid_type", "features must be an object")
    if nulls is not None and None in value.values():  # missing values: left out, and said
        nulls.extend(name for name, v in value.items() if v is None)
        value = {name: v for name, v in value.items() if v is not None}
    features: Features = value
    if not value:
        raise InvalidEventError("empty_features", "features must be a non-empty object")
    isfinite = math.isfinite
    for name, v in value.items():  # once per feature of every event: no message built unless it fails
        if type(v) is float:
            if not isfinite(v):
                _check_number(f"feature {name!r}", v)
        elif not isinstance(v, (int, str)):  # bool is an int; a tuple is faster than int | str here
            raise InvalidEventError("invalid_type", f"feature {name!r} must be a number, string or bool")
    return features


def _parse_label(value: Any) -> Label:
    if isinstance(value, float):
        _check_number("label", value)
    elif value is not None and not isinstance(value, int | str):
        raise InvalidEventError("invalid_type", "label must be a bool, number, string or null")
    label: Label = value
    return label


def _parse_optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidEventError("invalid_type", f"{name} must be a string")
    return value


def _parse_event_id(event_id: Any) -> str:
    if event_id is None or event_id == "":
        raise InvalidEventError("missing_event_id", "event_id is required")
    if not isinstance(event_id, str) or len(event_id) > MAX_EVENT_ID_LENGTH:
        raise InvalidEventError(
            "invalid_type", f"event_id must be a string of at most {MAX_EVENT_ID_LENGTH} characters"
        )
    return event_id


def _parse_event(obj: dict[str, Any], default_ms: int | None, nulls: list[str] | None = None) -> RawEvent:
    try:
        event_id = _parse_event_id(obj.get("event_id"))
        features = _parse_features(obj.get("features"), nulls)
        label = _parse_label(obj.get("label"))
        key = _parse_optional_str(obj, "key")
        return RawEvent(event_id, _ts_ms(obj.get("ts"), default_ms), key, features, label)
    except InvalidEventError as error:
        error.event_id = readable_event_id(obj)
        raise


def readable_event_id(obj: Any) -> str | None:
    """Return the event_id of a decoded message when it is a usable one, for its dead letter."""
    event_id = obj.get("event_id") if isinstance(obj, dict) else None
    return event_id if isinstance(event_id, str) and 0 < len(event_id) <= MAX_EVENT_ID_LENGTH else None


def decode_label(text: str) -> Label:
    """Turn a probability key written by :meth:`Prediction.to_json` back into its label."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float | str) else text
