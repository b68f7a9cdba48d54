"""The chained fast path (STREAMWISE_CHAIN=1) on a real broker and redis-server, worker as a process.

One loop over events.raw validates, featurizes and learns; its results must be those of the three
agents: every event predicted once, invalid events in the dead-letter topic with their reason,
feature vectors still on ``features``, and a final state equal to a run without Kafka.
"""

from __future__ import annotations

import signal
from collections import Counter

import orjson
import pytest

from online_models.config import parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.pipeline import EmbeddedRunner, Pipeline
from streams.consumer import read_topic
from streams.producer import encode_event, encode_label, produce
from tests.integration.conftest import StreamEnv, wait_for
from tests.integration.faults import final_learner, model_status, replay_raw, same_state

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

MODELS = [
    {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
    {"name": "ht", "recipe": "hoeffding_tree", "task": "binary", "drift": {"detector": "ddm", "policy": "reset"}},
]
CHAIN = {"STREAMWISE_CHAIN": "1"}
BAD = [b"not json", b'{"event_id": "x1", "features": "nope"}', b'{"features": {"a": 1}}']


def labeled(env: StreamEnv) -> int:
    return sum(status["labeled"] for status in model_status(env, "lr").values())


def test_the_chained_loop_learns_what_the_embedded_pipeline_learns(stream_env: StreamEnv) -> None:
    n = 3000
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    events = list(synthetic_events("agrawal_drift", n, seed=5))
    values = [encode_event(e) for e in events]
    values[1000:1000] = [(None, bad) for bad in BAD]  # invalid events in the middle of the stream
    stream_env.create_topics()
    assert not produce(stream_env.bootstrap, [(stream_env.topic("events.raw"), *kv) for kv in values]).errors

    worker = stream_env.start_worker(**CHAIN)
    wait_for(lambda: labeled(stream_env) == n, timeout=120, interval=0.3, what="every event learned")
    stream_env.stop_worker(worker, signal.SIGTERM)  # its final checkpoint

    reference = EmbeddedRunner(Pipeline(config))
    for _, value in values:
        reference.process(value)
    predictions = read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=2 * n, timeout=60)
    per_event = Counter(orjson.loads(r.value)["event_id"] for r in predictions)
    assert per_event == {e["event_id"]: 2 for e in events}
    features = read_topic(stream_env.bootstrap, stream_env.topic("features"), expected=n, timeout=60)
    assert [orjson.loads(r.value)["event_id"] for r in features] == [e["event_id"] for e in events]
    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=3, timeout=60)
    assert [orjson.loads(r.value)["reason"] for r in letters] == ["invalid_json", "invalid_type", "missing_event_id"]
    assert same_state(final_learner(stream_env, config, 0, chain=True), reference.learner)
    assert "Traceback" not in stream_env.worker_logs()


def test_delayed_labels_reach_the_chained_loop_through_events_raw(stream_env: StreamEnv) -> None:
    n, partitions = 4000, 2
    stream_env.partitions = partitions
    stream_env.write_config(MODELS)
    config = parse_config({"models": MODELS})
    events = list(synthetic_events("agrawal_drift", n, seed=6))
    keys = {e["event_id"]: e["key"] for e in events}
    stream, labels = [], 0
    for kind, record in with_delayed_labels(events, delay=100):
        if kind == EVENT:
            stream.append((stream_env.topic("events.raw"), *encode_event(record)))
        else:  # the label names its event's key: that is how it finds the event's partition
            labels += 1
            label = {**record, "key": keys[record["event_id"]]}
            stream.append((stream_env.topic("events.labels"), *encode_label(label)))
    keyless = {"event_id": events[0]["event_id"], "label": True}
    stream.append((stream_env.topic("events.labels"), *encode_label(keyless)))
    stream_env.create_topics()
    assert not produce(stream_env.bootstrap, stream).errors

    worker = stream_env.start_worker(**CHAIN)
    wait_for(lambda: labeled(stream_env) == labels, timeout=120, interval=0.3, what="every label joined")
    stream_env.stop_worker(worker, signal.SIGTERM)

    letters = read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), expected=1, timeout=60)
    assert [orjson.loads(r.value)["reason"] for r in letters] == ["label_key_required"]
    replayed = replay_raw(stream_env, config, partitions)
    for p in range(partitions):
        final = final_learner(stream_env, config, p, chain=True)
        assert same_state(final, replayed[p]), f"partition {p} differs from a replay of its log"
    assert labels == n
