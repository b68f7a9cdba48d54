"""Interop with a client nobody here wrote: kcat (librdkafka's defaults, its own partitioner) produces
the events and their labels, and reads the predictions back."""

from __future__ import annotations

import shutil
import signal
import subprocess

import orjson
import pytest

from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from streams.kafka.consumer import read_topic
from streams.testing import StreamEnv, wait_for
from tests.integration.faults import counts, learned

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
KCAT = shutil.which("kcat")


def kcat(*args: str, stdin: bytes | None = None) -> bytes:
    assert KCAT is not None
    return subprocess.run([KCAT, *args], input=stdin, capture_output=True, check=True, timeout=120).stdout


@pytest.mark.skipif(KCAT is None, reason="kcat (Debian package kcat) is not installed")
def test_events_and_labels_from_kcat_are_learned_and_predictions_read_with_kcat(stream_env: StreamEnv) -> None:
    n, partitions = 2000, 2
    stream_env.partitions = partitions
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])
    stream_env.create_topics()
    messages = list(with_delayed_labels(synthetic_events("agrawal", n, seed=31), 50))
    # Key and value split by a tab (-K), one message a line (-l): events by their entity key, labels by
    # their event_id, as a user would key them; librdkafka's partitioner places both.
    events = b"".join(m["key"].encode() + b"\t" + orjson.dumps(m) + b"\n" for kind, m in messages if kind == EVENT)
    labels = b"".join(m["event_id"].encode() + b"\t" + orjson.dumps(m) + b"\n" for kind, m in messages if kind != EVENT)
    broker = ("-b", stream_env.bootstrap)
    stream_env.start_worker()
    kcat("-P", *broker, "-t", stream_env.topic("events.raw"), "-K", "\t", "-l", "/dev/stdin", stdin=events)
    kcat("-P", *broker, "-t", stream_env.topic("events.labels"), "-K", "\t", "-l", "/dev/stdin", stdin=labels)

    wait_for(
        lambda: learned(stream_env) == n,
        timeout=120,
        interval=0.5,
        what="every label joined",
        describe=lambda: counts(stream_env),
    )
    lines = kcat("-C", *broker, "-t", stream_env.topic("predictions"), "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n")
    stream_env.stop_worker(stream_env.workers[0], signal.SIGTERM)

    predictions = [line.split(b"\t", 1) for line in lines.splitlines() if line]
    assert len(predictions) == n
    assert all(key.decode() == orjson.loads(value)["event_id"] for key, value in predictions)
    assert {orjson.loads(value)["event_id"] for _, value in predictions} == {
        m["event_id"] for k, m in messages if k == EVENT
    }
    # librdkafka's partitioner put many labels in another partition than their events: joined all the same.
    raw = {
        orjson.loads(r.value)["event_id"]: r.partition
        for r in read_topic(stream_env.bootstrap, stream_env.topic("events.raw"), expected=n)
    }
    placed = read_topic(stream_env.bootstrap, stream_env.topic("events.labels"), expected=n)
    elsewhere = sum(raw[orjson.loads(r.value)["event_id"]] != r.partition for r in placed)
    assert n // 4 < elsewhere < 3 * n // 4, elsewhere
    assert read_topic(stream_env.bootstrap, stream_env.topic("events.dlq"), timeout=5, idle=2) == []
