"""Everything the engine writes, through one confluent-kafka producer.

That is: learn-log records, predictions, drift alerts, dead letters and snapshot metadata.

Delivery is retried by the producer itself without a time limit (``message.timeout.ms=0``): while
the broker is away the local queue fills, ``produce`` waits, and the loop stops reading, so nothing
is dropped. A message the broker refuses for good (too large, say) is reported by the delivery
callback: it becomes an ``undeliverable`` dead letter, is counted, and marks Kafka degraded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from online_models.alerts import Alert
from online_models.clock import utc_now
from online_models.events import DeadLetter
from online_models.learner import LearnResult
from streams.deadletters import DeadLetterLog
from streams.engine.bridge import Bridge
from streams.engine.health import Health
from streams.kafka import topics
from streams.kafka.connection import KafkaConnection
from streams.prometheus import StreamMetrics
from streams.settings import Settings

log = logging.getLogger("streamwise.engine")
PARTITION_UA = -1  # librdkafka's "unassigned": its partitioner chooses


class OutputsDropped(Exception):
    """The engine is stopping and an output could not be queued: nothing after it may be checkpointed.

    Examples
    --------
    >>> try:
    ...     raise OutputsDropped("predictions")   # the topic of the output that was not queued
    ... except OutputsDropped as exc:
    ...     print(f"not queued for {exc}: stop without a checkpoint")
    not queued for predictions: stop without a checkpoint
    """


class Outputs:
    """The engine's one producer and the topics it writes, with the handling of a full queue and of refusals."""

    def __init__(
        self,
        settings: Settings,
        metrics: StreamMetrics,
        health: Health,
        stopping: threading.Event,
        bridge: Bridge | None = None,
        alert_sinks: list[Callable[[Alert], None]] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.stopping = stopping
        self.bridge = bridge
        self.alert_sinks = alert_sinks or []
        self.clock = clock
        self.dead_letter_log = DeadLetterLog()
        self.while_waiting: Callable[[], None] | None = None  # called every 0.1 s while the queue is full
        self.learn_log = settings.topic(topics.FEATURES)
        self.predictions = settings.topic(topics.PREDICTIONS)
        self.alerts = settings.topic(topics.ALERTS)
        self.dlq = settings.topic(topics.DLQ)
        self.snapshots = settings.topic(topics.SNAPSHOTS)
        self.producer = Producer(producer_config(settings.kafka(), self._failed))
        self._produce = self.producer.produce
        self.dropped = 0  # outputs not queued because the engine stopped with the broker away

    # -- the learn log -------------------------------------------------------------------------------

    def bundle(self, partition: int, value: bytes) -> None:
        """Write a bundle of vectors and labels into one partition of the learn log.

        It has no key: the engine writes it to every partition that hosts a model, see
        :mod:`online_models.placement`.
        """
        self.produce(self.learn_log, value, None, partition=partition)

    # -- results -------------------------------------------------------------------------------------

    def result(self, result: LearnResult) -> None:
        """Write a learn result's predictions, alerts and dead letters."""
        produce, topic = self.produce, self.predictions
        for prediction in result.predictions:
            produce(topic, prediction.to_json(), prediction.event_id.encode())
        for alert in result.alerts:
            self.alert(alert)
        for letter in result.dead_letters:
            self.dead_letter(letter)

    def alert(self, alert: Alert) -> None:
        """Log an alert, write it to the alerts topic and hand it to each alert sink on the event loop."""
        # An anomaly model flags a share of all events (its threshold): each is on the topic, not in the log.
        log.log(logging.DEBUG if alert.kind == "anomaly" else logging.WARNING, "alert %s", alert.describe())
        self.produce(self.alerts, alert.to_json(), (alert.model or alert.feature or "").encode())
        if self.bridge is not None:
            for sink in self.alert_sinks:
                self.bridge.call(sink, alert)

    def dead_letter(self, letter: DeadLetter) -> None:
        """Log where a dead letter's message came from, count it, and send it to the DLQ.

        This is the error callback of every stage.
        """
        self.dead_letter_log.note(letter)
        self.metrics.dead_letters.labels(letter.reason).inc()
        key = letter.event_id.encode() if letter.event_id else None
        self.produce(self.dlq, letter.to_json(), key)

    def snapshot(self, name: str, metadata: bytes) -> None:
        """Write a snapshot's metadata to the snapshots topic, keyed by its name."""
        self.produce(self.snapshots, metadata, name.encode())

    # -- producing -----------------------------------------------------------------------------------

    def produce(self, topic: str, value: bytes, key: bytes | None, partition: int = PARTITION_UA) -> None:
        """Queue a message; wait for room while the queue is full, and dead-letter what the producer refuses."""
        try:
            self._produce(topic, value, key, partition=partition)
        except BufferError:  # the local queue is full: the broker is slow or away
            self._when_there_is_room(topic, value, key, partition)
        except KafkaException as exc:  # refused before it was queued (too large for the producer)
            self._refused(topic, value, key, exc.args[0])

    def _when_there_is_room(self, topic: str, value: bytes, key: bytes | None, partition: int) -> None:
        self.metrics.producer_waiting.set(1)
        try:
            while True:
                self.health.failed("kafka", "producer queue full: waiting for the broker")
                if self.stopping.is_set():
                    self.dropped += 1
                    raise OutputsDropped(topic)
                self.producer.poll(0.1)
                if self.while_waiting is not None:  # the loop stands still: its heartbeat and metrics must not
                    self.while_waiting()
                try:
                    self._produce(topic, value, key, partition=partition)
                    return
                except BufferError:
                    continue
                except KafkaException as exc:
                    self._refused(topic, value, key, exc.args[0])
                    return
        finally:
            self.metrics.producer_waiting.set(0)

    def poll(self) -> None:
        """Serve delivery reports (only failures are reported)."""
        self.producer.poll(0)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for delivery; return True when everything produced so far is delivered."""
        remaining = self.producer.flush(timeout)
        if remaining:
            self.health.failed("kafka", f"{remaining} outputs not delivered within {timeout:g} s")
            return False
        return True

    def _failed(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._refused(message.topic() or "", message.value(), message.key(), error)

    def _refused(self, topic: str, value: bytes | None, key: bytes | None, error: KafkaError) -> None:
        self.metrics.delivery_failures.labels(topic).inc()
        self.health.failed("kafka", f"delivery to {topic} failed: {error.str()}")
        if topic == self.dlq:  # nothing left to tell: it is counted and logged
            log.error("a dead letter could not be delivered to %s: %s", topic, error.str())
            return
        detail = f"could not be written to {topic}: {error.str()}"
        self.dead_letter(DeadLetter("undeliverable", detail, value, None, self.clock(), key=key))


def producer_config(kafka: KafkaConnection, on_failure: Callable[[KafkaError | None, Message], None]) -> dict:
    """Return the configuration of the engine's producer: it retries without a time limit and reports only failures.

    Examples
    --------
    >>> def on_failure(error, message):
    ...     print("not delivered:", error)
    >>> config = producer_config(KafkaConnection("127.0.0.1:9092"), on_failure)
    >>> config["message.timeout.ms"], config["delivery.report.only.error"], config["on_delivery"] is on_failure
    (0, True, True)
    >>> config["bootstrap.servers"], config["enable.idempotence"]   # from KafkaConnection.producer
    ('127.0.0.1:9092', True)
    """
    return kafka.producer(**{"message.timeout.ms": 0, "delivery.report.only.error": True, "on_delivery": on_failure})
