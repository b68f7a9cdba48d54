"""The chained fast path's label forwarder: events.labels -> events.raw, by the event's key.

Delayed labels must reach the chained loop through the log it learns from, so that a partition
replays in the order it learned. Each valid label is produced to ``events.raw`` under the label
header, keyed by its event's ``key`` (Kafka's murmur2 partitioner: the partition of its event);
an invalid label, or one without a key, goes to the dead-letter topic with its reason.

It runs in the chained loop's thread, with the loop's producer, so it costs no Faust agent
(whose per-message overhead capped forwarding at about 4,000 labels/s). Delivery is at least
once: its offsets are committed only after the producer has delivered what it forwarded (the loop
commits them at its checkpoints); a label forwarded twice is a ``label_duplicate`` dead letter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from online_models.events import DeadLetter, Origin
from online_models.exceptions import InvalidEventError
from online_models.pipeline import Pipeline
from streams.agents.labels import routing_key
from streams.topics import LABEL_HEADER


def broker_time(message: Message) -> datetime | None:
    """The message's timestamp: what stands in for a missing ``ts``."""
    kind, ms = message.timestamp()
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if kind and ms > 0 else None


class LabelForwarder:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        pipeline: Pipeline,
        labels_topic: str,
        raw_topic: str,
        dead_letter: Callable[[DeadLetter], None],
        batch: int = 1000,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.pipeline = pipeline
        self.labels_topic = labels_topic
        self.raw_topic = raw_topic
        self.dead_letter = dead_letter
        self.batch = batch
        self._next: dict[int, int] = {}  # next offset per labels partition, once what came before is delivered

    def start(self) -> None:
        self.consumer.subscribe([self.labels_topic])

    def pump(self) -> int:
        """Forward what is waiting (no wait); the number of labels read."""
        messages = self.consumer.consume(self.batch, 0)
        for message in messages:
            if message.error() is None:
                self._forward(message)
        return len(messages)

    def _forward(self, message: Message) -> None:
        origin = Origin(self.labels_topic, message.partition(), message.offset())
        try:
            label = self.pipeline.validate_label(message.value(), broker_time(message))
            key = routing_key(label, by_event_key=True)
        except InvalidEventError as error:
            self.dead_letter(self.pipeline.dead_letter(error, message.value(), origin, message.key()))
        else:
            self.producer.produce(self.raw_topic, label.to_json(), key, headers=[LABEL_HEADER])
        self._next[origin.partition] = origin.offset + 1

    def commit(self) -> None:
        """Call after ``producer.flush()``: every label read so far is delivered."""
        if self._next:
            offsets = [TopicPartition(self.labels_topic, p, o) for p, o in self._next.items()]
            self.consumer.commit(offsets=offsets, asynchronous=True)
            self._next = {}

    def close(self) -> None:
        self.consumer.close()
