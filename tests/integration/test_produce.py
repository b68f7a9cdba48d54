"""`streamwise produce --label-delay`: each label reaches the broker after its event. Kafka orders
messages within a partition only; of a burst to two topics, either may land first, and a worker
cannot tell labels that are late from labels that were never sent yet."""

from __future__ import annotations

import orjson
import pytest

from streams.kafka import admin
from streams.kafka.consumer import read_topic
from streams.testing import StreamEnv

pytestmark = [pytest.mark.kafka, pytest.mark.redis]  # stream_env: Kafka, and Redis for its workers


def test_delayed_labels_reach_the_broker_after_their_events(stream_env: StreamEnv) -> None:
    n, delay = 4000, 50
    raw, labels = stream_env.topic("events.raw"), stream_env.topic("events.labels")
    append_time = {"message.timestamp.type": "LogAppendTime"}  # when the broker wrote each message
    admin.create_topics(stream_env.bootstrap, [raw, labels], 1, configs={raw: append_time, labels: append_time})
    stream_env.cli("produce", "--synthetic", "agrawal", "--n", str(n), "--label-delay", str(delay))
    written = read_topic(stream_env.bootstrap, raw, expected=n)
    events = {orjson.loads(r.value)["event_id"]: r.timestamp_ms for r in written}
    early = [
        r.offset
        for r in read_topic(stream_env.bootstrap, labels, expected=n)
        if r.timestamp_ms < events[orjson.loads(r.value)["event_id"]]
    ]
    assert len(events) == n
    assert early == [], f"{len(early)} of {n} labels reached the broker before their event"


def test_topic_names_take_the_prefix_and_labels_go_to_the_labels_topic(stream_env: StreamEnv) -> None:
    raw, labels = stream_env.topic("events.raw"), stream_env.topic("events.labels")
    admin.create_topics(stream_env.bootstrap, [raw, labels], 1)
    events = stream_env.tmp / "events.jsonl"
    events.write_bytes(b'{"event_id": "e1", "features": {"x": 1}}\n')
    label_file = stream_env.tmp / "labels.jsonl"
    label_file.write_bytes(b'{"event_id": "e1", "label": true}\n{"event_id": "e2", "label": false}\n')

    stream_env.cli("produce", "--file", str(events), "--topic", "events.raw")
    stream_env.cli("produce", "--labels", str(label_file))
    refused = stream_env.cli("produce", "--file", str(events), "--topic", raw, check=False)  # a full name: refused

    assert [r.key for r in read_topic(stream_env.bootstrap, labels, expected=2)] == [b"e1", b"e2"]
    assert [orjson.loads(r.value)["event_id"] for r in read_topic(stream_env.bootstrap, raw, expected=1)] == ["e1"]
    assert refused.returncode == 2 and "the topic prefix is added" in refused.stderr
