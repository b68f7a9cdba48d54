import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from online_models.events import (
    DEAD_LETTER_VALUE_BYTES,
    DeadLetter,
    Origin,
    Prediction,
    _decode,
    _format_ts,
    _parse_event,
    decode_label,
    parse_raw_event,
)
from online_models.exceptions import InvalidEventError
from online_models.labels import parse_label_event

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NOW_MS = 1_767_225_600_000


def reason_of(data: bytes, **kwargs) -> str:
    with pytest.raises(InvalidEventError) as info:
        parse_raw_event(data, default_ms=NOW_MS, **kwargs)
    return info.value.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "invalid_json"),
        (b"\xff\xfe", "not_utf8"),
        (b'"text"', "not_an_object"),
        (b'{"features": {"a": 1}}', "missing_event_id"),
        (b'{"event_id": "", "features": {"a": 1}}', "missing_event_id"),
        (b'{"event_id": 1, "features": {"a": 1}}', "invalid_type"),
        (b'{"event_id": "e", "features": {}}', "empty_features"),
        (b'{"event_id": "e"}', "invalid_type"),
        (b'{"event_id": "e", "features": {"a": null}}', "invalid_type"),
        (b'{"event_id": "e", "features": {"a": {"b": 1}}}', "invalid_type"),
        (b'{"event_id": "e", "features": {"a": NaN}}', "non_finite"),
        (b'{"event_id": "e", "features": {"a": Infinity}}', "non_finite"),
        (b'{"event_id": "e", "features": {"a": 1e400}}', "non_finite"),
        (b'{"event_id": "e", "features": {"a": 1}, "label": [1]}', "invalid_type"),
        (b'{"event_id": "e", "features": {"a": 1}, "key": 5}', "invalid_type"),
        (b'{"event_id": "e", "features": {"a": 1}, "ts": "2026-01-01T00:00:00"}', "invalid_ts"),
        (b'{"event_id": "e", "features": {"a": 1}, "ts": "soon"}', "invalid_ts"),
        (b'{"event_id": "e", "features": {"a": 1}, "ts": 1e20}', "invalid_ts"),
        (b'{"event_id": "e", "features": {"a": 1}, "ts": 99999999999999999}', "invalid_ts"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


def test_size_limit_is_checked_before_decoding() -> None:
    assert reason_of(b'{"event_id": "e", "features": {"a": 1}}', max_bytes=10) == "too_large"


def test_valid_event_keeps_types_and_parses_both_timestamp_forms() -> None:
    event = parse_raw_event(
        b'{"event_id": "e", "ts": "2026-03-01T12:00:00Z", "key": "k", '
        b'"features": {"n": 2, "f": 0.5, "s": "x", "b": true}, "label": "cat"}'
    )
    assert event.features == {"n": 2, "f": 0.5, "s": "x", "b": True}
    assert event.ts == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert (event.key, event.label) == ("k", "cat")
    assert parse_raw_event(b'{"event_id": "e", "ts": 1500, "features": {"a": 1}}').ts == datetime(
        1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC
    )


def test_missing_ts_takes_the_default() -> None:
    assert parse_raw_event(b'{"event_id": "e", "features": {"a": 1}}', default_ms=NOW_MS).ts == NOW


def test_dead_letter_keeps_text_or_base64_and_origin() -> None:
    letter = DeadLetter("not_utf8", "bad", b"\xff", Origin("raw", 2, 7), NOW, key=b"k")
    record = orjson.loads(letter.to_json())
    assert base64.b64decode(record["value_base64"]) == b"\xff"
    assert (record["topic"], record["partition"], record["offset"], record["key"]) == ("raw", 2, 7, "k")
    assert orjson.loads(DeadLetter("x", "y", b"{}", None, NOW).to_json())["value"] == "{}"


def test_prediction_probabilities_round_trip_through_json() -> None:
    prediction = Prediction("e", "m", 1, True, {True: 0.75, False: 0.25}, NOW_MS, NOW_MS)
    record = orjson.loads(prediction.to_json())
    assert {decode_label(k): v for k, v in record["proba"].items()} == {True: 0.75, False: 0.25}
    assert decode_label("cat") == "cat" and decode_label("3") == 3


@given(
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(seconds=-4321))]) | st.none()
    )
)
def test_timestamps_are_written_as_isoformat_to_the_millisecond(ts: datetime) -> None:
    """The fast formatter (orjson's, for UTC) writes exactly what ``isoformat`` writes."""
    assert _format_ts(ts) == ts.isoformat(timespec="milliseconds")


def test_a_label_needs_only_its_event_id_and_other_fields_are_ignored() -> None:
    label = parse_label_event(b'{"event_id": "e1", "label": 1, "ts": 0, "key": 7, "note": "x"}')
    assert (label.event_id, label.label) == ("e1", 1)
    assert orjson.loads(label.to_json()) == {"kind": "label", "event_id": "e1", "label": 1, "ts": 0, "source": None}


def test_json_nested_past_the_decoders_depth_is_too_deep_not_a_crash() -> None:
    assert reason_of(b"[" * 100_000 + b"]" * 100_000) == "too_deep"
    assert reason_of(b'{"event_id": "e", "features": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001) == "too_deep"
    assert reason_of(b"[" * 100_000) == "too_deep"  # unterminated too


def test_an_invalid_event_keeps_its_event_id_when_it_has_a_readable_one() -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_raw_event(b'{"event_id": "e9", "features": {"a": [1]}}', default_ms=NOW_MS)
    assert info.value.event_id == "e9"
    with pytest.raises(InvalidEventError) as info:
        parse_raw_event(b'{"event_id": 9, "features": {"a": 1}}', default_ms=NOW_MS)
    assert info.value.event_id is None


@pytest.mark.parametrize("original", [b"x" * 3_000_000, b"\xff" * 3_000_000, b"\x01" * 3_000_000])
def test_a_dead_letter_always_fits_a_kafka_message(original: bytes) -> None:
    letter = DeadLetter("too_large", "d" * 10_000, original, Origin("raw", 0, 1), NOW, key=b"k" * 5000, event_id="e")
    data = letter.to_json()
    record = orjson.loads(data)
    assert len(data) < 512 * 1024
    assert record["value_bytes"] == len(original) and record["value_truncated"] is True
    assert record["value_sha256"] == hashlib.sha256(original).hexdigest()
    prefix = record["value"].encode() if "value" in record else base64.b64decode(record["value_base64"])
    assert original.startswith(prefix) and len(prefix) == DEAD_LETTER_VALUE_BYTES
    assert len(record["detail"]) == 2000 and record["event_id"] == "e"


def test_a_small_dead_letter_keeps_its_whole_value() -> None:
    record = orjson.loads(DeadLetter("x", "y", b'{"a": 1}', None, NOW).to_json())
    assert (record["value"], record["value_bytes"], record["value_truncated"]) == ('{"a": 1}', 8, False)


SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5)
OBJECTS = st.dictionaries(
    st.sampled_from(["event_id", "ts", "key", "features", "label", "other"]),
    SCALARS | st.dictionaries(st.text(max_size=3), SCALARS | st.lists(SCALARS, max_size=2), max_size=3),
)


@given(OBJECTS)
def test_the_fast_pass_and_the_field_checks_agree_on_every_event(obj: dict) -> None:
    """msgspec's one pass decides nothing the field-by-field checks would decide otherwise."""
    try:
        data = json.dumps(obj, allow_nan=True).encode()
    except ValueError:
        return
    outcomes = []
    for parse in (parse_raw_event, lambda d, **kw: _parse_event(_decode(d, 10**6), kw["default_ms"])):
        try:
            outcomes.append(parse(data, default_ms=NOW_MS))
        except InvalidEventError as error:
            outcomes.append((error.reason, error.event_id))
    assert outcomes[0] == outcomes[1]
