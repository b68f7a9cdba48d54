"""The engine's partitions across rebalances, on a real broker: librdkafka keeps an application's
pause across a revoke and a new assignment, so the assignment must not inherit it."""

from __future__ import annotations

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry

from online_models.config import parse_config
from online_models.pipeline import Pipeline
from streams.engine.health import Health
from streams.engine.parts import Assignment
from streams.kafka import admin
from streams.prometheus import StreamMetrics
from streams.testing import StreamEnv, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis]  # stream_env: Kafka, and Redis for its workers


def test_a_partition_paused_when_it_went_is_read_when_it_comes_back(stream_env: StreamEnv) -> None:
    raw, labels, learn = (stream_env.topic(t) for t in ("events.raw", "events.labels", "features"))
    admin.create_topics(stream_env.bootstrap, [labels], 1)
    producer = Producer({"bootstrap.servers": stream_env.bootstrap})
    for i in range(3):
        producer.produce(labels, b'{"event_id": "e%d", "label": true}' % i)
    assert producer.flush(30) == 0
    config = parse_config({"models": [{"name": "lr", "recipe": "logistic_regression", "task": "binary"}]})
    metrics = StreamMetrics(["lr"], CollectorRegistry())
    assignment = Assignment(raw, labels, learn, Pipeline(config), None, b"k" * 32, None, metrics, Health())
    consumer = Consumer(
        {
            "bootstrap.servers": stream_env.bootstrap,
            "group.id": stream_env.name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        # From the start, not the committed offset: no group coordinator (none yet on a fresh broker).
        tp = TopicPartition(labels, 0, OFFSET_BEGINNING)
        read: list[bytes] = []

        def read_up_to(n: int) -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                read.append(message.value())
            return len(read) >= n

        assignment.assign(consumer, [tp])
        wait_for(lambda: read_up_to(1), timeout=30, interval=0, what="the first message")
        consumer.pause([tp])  # the pacer held too much of it
        assignment.drop([tp])  # revoked while paused
        consumer.incremental_unassign([tp])
        assignment.assign(consumer, [tp])  # and assigned to this worker again
        wait_for(lambda: read_up_to(4), timeout=30, interval=0, what="the partition assigned again read")
    finally:
        consumer.close()
