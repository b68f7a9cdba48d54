"""Back-pressure is visible: while the producer's queue is full (no broker here), the engine's
heartbeat and metrics keep moving and the queue-full gauge says why the loop waits."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry

from streams.engine.health import Health
from streams.engine.outputs import Outputs, OutputsDropped
from streams.prometheus import StreamMetrics
from streams.settings import Settings


def test_a_full_queue_keeps_calling_back_and_says_so_until_the_engine_stops() -> None:
    metrics, stopping = StreamMetrics(["lr"], CollectorRegistry()), threading.Event()
    outputs = Outputs(Settings(kafka_bootstrap="127.0.0.1:9"), metrics, Health(), stopping)
    # A real librdkafka producer with room for one message and no broker to take it.
    outputs.producer = Producer({"bootstrap.servers": "127.0.0.1:9", "queue.buffering.max.messages": 1})
    outputs._produce = outputs.producer.produce
    gauge = []

    def while_waiting() -> None:
        gauge.append(metrics.registry.get_sample_value("streamwise_producer_queue_full"))
        if len(gauge) == 5:
            stopping.set()

    outputs.while_waiting = while_waiting
    outputs.produce("predictions", b"first", None)  # fits
    with pytest.raises(OutputsDropped):
        outputs.produce("predictions", b"second", None)  # waits, calling back, until the stop
    assert gauge == [1.0] * 5
    assert metrics.registry.get_sample_value("streamwise_producer_queue_full") == 0.0
    assert outputs.dropped == 1
