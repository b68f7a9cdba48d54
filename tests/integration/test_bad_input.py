"""No message can stop a partition: every kind of bad input, through a real broker, becomes one dead
letter with its reason (one that fits a Kafka message), and every good message around it is predicted.

The oversized events are sent by kcat (librdkafka's defaults, its message limit raised), the rest by
confluent-kafka: the raw topic gets them in this order, one partition, good events in between.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from online_models.datasets import synthetic_events
from streams.kafka.consumer import Record, read_topic
from streams.kafka.topics import KIND_HEADER
from streams.testing import StreamEnv, wait_for
from tests.integration.faults import FaultRow, counts, learned, print_table

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.redis]
KCAT = shutil.which("kcat")
MB = 1024 * 1024


def big_event(event_id: str, size: int) -> bytes:
    return orjson.dumps({"event_id": event_id, "features": {"a": 1.0}, "pad": "x" * size})


# (what, key, value, reason): sent in this order with good events between them. value None: a null
# value; a value of bytes longer than 1 MB: sent with kcat, beyond librdkafka's default limit.
BAD: list[tuple[str, bytes | None, bytes | None, str]] = [
    ("1.5 MB, beyond the producer's default limit", b"big-1", big_event("big-1", int(1.5 * MB)), "too_large"),
    ("3.5 MB", None, big_event("big-2", int(3.5 * MB)), "too_large"),
    ("nested 100,000 deep", None, b"[" * 100_000 + b"]" * 100_000, "too_deep"),
    (
        "an event whose features nest 2,000 deep",
        None,
        b'{"event_id": "deep", "features": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001,
        "too_deep",
    ),
    ("unterminated nesting", None, b'{"a": [' * 5000, "too_deep"),
    ("an empty value", b"k-empty", b"", "empty_message"),
    ("a null value", b"k-null", None, "empty_message"),
    ("invalid UTF-8", None, b'{"event_id": "u1", "features": {"a": "\xff\xfe"}}', "not_utf8"),
    ("a lone surrogate", None, b'{"event_id": "s1", "features": {"a": "\\ud800"}}', "invalid_json"),
    ("NaN", None, b'{"event_id": "n1", "features": {"a": NaN}}', "non_finite"),
    ("a number past a double", None, b'{"event_id": "n2", "features": {"a": 1e400}}', "non_finite"),
    (
        "an event_id of 10,000 characters",
        None,
        orjson.dumps({"event_id": "e" * 10_000, "features": {"a": 1}}),
        "invalid_type",
    ),
    ("a list as a feature", b"k-list", b'{"event_id": "l1", "features": {"a": [1, 2]}}', "invalid_type"),
    ("not an object", None, b"[1, 2, 3]", "not_an_object"),
    (
        "a timestamp out of range",
        None,
        b'{"event_id": "t1", "ts": 99999999999999999, "features": {"a": 1}}',
        "invalid_ts",
    ),
    ("truncated JSON", None, b'{"event_id": "j1", "features": ', "invalid_json"),
    ("binary garbage", b"\xff\x01", bytes(range(256)) * 40, "not_utf8"),
]
# Labels can be bad too; and someone else may write into the learn log.
BAD_LABELS: list[tuple[bytes | None, str]] = [
    (None, "empty_message"),
    (b"\xc3\x28", "not_utf8"),
    (b'{"event_id": "x"}', "missing_label"),
    (b"[" * 3000, "too_deep"),
]
BAD_RECORDS: list[tuple[bytes, list[tuple[str, bytes]] | None, str]] = [
    (b"garbage", None, "invalid_json"),
    (b'{"event_id": "g1"}', [(KIND_HEADER, b"gossip")], "invalid_kind"),
]


def send(bootstrap: str, topic: str, key: bytes | None, value: bytes | None, headers=None) -> None:  # type: ignore[no-untyped-def]
    """One message, delivered before the next is sent: the topic keeps this test's order."""
    if value is not None and len(value) > MB:
        assert KCAT is not None
        command = [KCAT, "-P", "-b", bootstrap, "-t", topic, "-X", f"message.max.bytes={5 * MB}"]
        command += ["-k", key.decode()] if key else []
        subprocess.run(command, input=value, check=True, timeout=60)  # stdin without -l: one message
        return
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value, key, headers=headers)
    assert producer.flush(30) == 0


@pytest.mark.skipif(KCAT is None, reason="kcat (Debian package kcat) is needed to send oversized events")
def test_no_message_can_stop_a_partition(stream_env: StreamEnv, tmp_path: Path) -> None:
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])
    stream_env.create_topics()
    raw, labels = stream_env.topic("events.raw"), stream_env.topic("events.labels")
    good = [orjson.dumps(e) for e in synthetic_events("agrawal", 20 * (len(BAD) + 1), seed=21)]
    chunks = [good[i * 20 : (i + 1) * 20] for i in range(len(BAD) + 1)]
    for (_, key, value, _), chunk in zip(BAD, chunks, strict=False):
        for event in chunk:
            send(stream_env.bootstrap, raw, None, event)
        send(stream_env.bootstrap, raw, key, value)
    for event in chunks[-1]:
        send(stream_env.bootstrap, raw, b"\xff" * 100_000, event)  # a huge binary key: not an entity key, no harm
    for value, _ in BAD_LABELS:
        send(stream_env.bootstrap, labels, b"label", value)
    for value, headers, _ in BAD_RECORDS:
        send(stream_env.bootstrap, stream_env.topic("features"), None, value, headers)

    worker = stream_env.start_worker()
    expected = len(BAD) + len(BAD_LABELS) + len(BAD_RECORDS)
    wait_for(
        lambda: (
            learned(stream_env) == len(good)
            and len(read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=10, idle=1)) >= expected
        ),
        timeout=180,
        interval=1,
        what="every good event learned and every bad message dead-lettered",
        describe=lambda: counts(stream_env),
    )
    status, report = stream_env.health(worker)
    assert worker.poll() is None and status == 200, report
    stream_env.stop_worker(worker, signal.SIGTERM)

    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=30, idle=3)
    records = [orjson.loads(letter.value) for letter in letters]
    predicted = read_topic(stream_env.bootstrap, stream_env.topic("predictions"), timeout=30, idle=3)
    print_table(
        [FaultRow("bad input: every kind, in one partition", len(good) + len(BAD), len(predicted), len(good), 0, 0)]
    )
    assert all(len(letter.value) < MB for letter in letters), "a dead letter that does not fit"
    assert len(letters) == expected, [r["reason"] for r in records]

    by_topic = {
        t: [r for r in records if r["topic"] == stream_env.topic(t)]
        for t in ("events.raw", "events.labels", "features")
    }
    assert [r["reason"] for r in by_topic["events.raw"]] == [reason for *_, reason in BAD]
    assert [r["reason"] for r in by_topic["events.labels"]] == [reason for _, reason in BAD_LABELS]
    assert [r["reason"] for r in by_topic["features"]] == [reason for *_, reason in BAD_RECORDS]
    # Nothing lost: every offset of the raw topic is a prediction or a dead letter, once.
    raw_records = read_topic(stream_env.bootstrap, raw, timeout=60, idle=3)
    dead_offsets = sorted(r["offset"] for r in by_topic["events.raw"])
    good_offsets = sorted(r.offset for r in raw_records if r.offset not in set(dead_offsets))
    assert len(good_offsets) == len(good) == len({orjson.loads(p.value)["event_id"] for p in predicted})
    assert sorted(dead_offsets + good_offsets) == list(range(len(raw_records)))
    check_what_dead_letters_carry(by_topic["events.raw"], raw_records)


def check_what_dead_letters_carry(letters: list[dict], raw: list[Record]) -> None:
    """The original, whole or as a prefix with its size and sha256; its key; its event_id when readable."""
    originals = {r.offset: r for r in raw}
    by_what = dict(zip((what for what, *_ in BAD), letters, strict=True))
    for letter in letters:
        original = originals[letter["offset"]].value
        if original is None:  # a null value: nothing to describe
            assert (letter["value"], letter["value_bytes"], letter["value_sha256"]) == (None, None, None)
            continue
        assert letter["value_bytes"] == len(original)
        assert letter["value_sha256"] == hashlib.sha256(original).hexdigest()
        assert letter["value_truncated"] == (len(original) > 65_536)
    assert by_what["1.5 MB, beyond the producer's default limit"]["key"] == "big-1"
    assert by_what["a list as a feature"]["event_id"] == "l1"  # readable: carried
    assert by_what["a list as a feature"]["key"] == "k-list"
    assert by_what["an empty value"]["value_bytes"] == 0 and by_what["a null value"]["key"] == "k-null"
    # Not JSON, yet its event_id is plainly written: carried too; garbage has none to read.
    assert by_what["an event whose features nest 2,000 deep"]["event_id"] == "deep"
    assert by_what["truncated JSON"]["event_id"] == "j1" and by_what["binary garbage"]["event_id"] is None
    assert by_what["binary garbage"]["key_base64"] and by_what["binary garbage"]["value_base64"]


def test_a_batch_of_events_near_the_size_limit_is_all_learned(stream_env: StreamEnv) -> None:
    """Ten events of 0.7 MB each, read in one batch: their records go to the learn log in bundles
    that each fit a Kafka message (one bundle of all of them would be 7 MB and refused)."""
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])
    stream_env.create_topics()
    raw = stream_env.topic("events.raw")
    features = {f"f{i:05d}": 0.5 for i in range(54_000)}
    events = [orjson.dumps({"event_id": f"wide-{n}", "features": features, "label": n % 2 == 0}) for n in range(10)]
    assert all(0.6 * MB < len(event) < 1_000_000 for event in events)
    producer = Producer({"bootstrap.servers": stream_env.bootstrap, "message.max.bytes": 2 * MB})
    for event in events:
        producer.produce(raw, event)
    assert producer.flush(30) == 0

    worker = stream_env.start_worker()
    wait_for(
        lambda: learned(stream_env) == len(events),
        timeout=180,
        interval=1,
        what="every wide event learned",
        describe=lambda: counts(stream_env),
    )
    stream_env.stop_worker(worker, signal.SIGTERM)
    assert read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=5, idle=2) == []
    bundles = read_topic(stream_env.bootstrap, stream_env.topic("features"), timeout=30, idle=2)
    assert len(bundles) >= 2 and all(len(bundle.value) < 4 * MB for bundle in bundles)
