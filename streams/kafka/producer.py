"""Producing raw events and labels to Kafka at full speed with confluent-kafka, reporting delivery errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from confluent_kafka import KafkaError, Message, Producer

from streams.kafka.connection import KafkaConnection


@dataclass
class DeliveryReport:
    """How many messages were sent and delivered, and the errors of those that were not.

    Examples
    --------
    >>> report = DeliveryReport(sent=3)
    >>> report.delivered += 2   # what the delivery callback counts
    >>> report.errors.append("Broker: Message size too large")
    >>> report
    DeliveryReport(sent=3, delivered=2, errors=['Broker: Message size too large'])
    """

    sent: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)


def kafka_key(event: object) -> bytes | None:
    """Return the Kafka key of a raw event: its ``key`` field when it has one.

    Examples
    --------
    >>> kafka_key({"event_id": "e1", "key": "user-7"}), kafka_key({"event_id": "e1"}), kafka_key({"key": 7})
    (b'user-7', None, None)
    """
    key = event.get("key") if isinstance(event, dict) else None
    return key.encode() if isinstance(key, str) else None


def encode_event(event: dict) -> tuple[bytes | None, bytes]:
    """Return the Kafka key and value of one raw event.

    Examples
    --------
    >>> encode_event({"event_id": "e1", "key": "user-7", "features": {"amount": 12.5}})
    (b'user-7', b'{"event_id":"e1","key":"user-7","features":{"amount":12.5}}')
    """
    return kafka_key(event), orjson.dumps(event)


def encode_label(label: dict) -> tuple[bytes | None, bytes]:
    """Return the Kafka key (the event_id) and value of one label message.

    Examples
    --------
    >>> encode_label({"event_id": "e1", "label": True})
    (b'e1', b'{"event_id":"e1","label":true}')
    """
    return str(label["event_id"]).encode(), orjson.dumps(label)


def encode_label_line(line: bytes) -> tuple[bytes | None, bytes]:
    """Return the key and value of a JSONL label line: the line as it is, keyed by its event_id when it has one.

    Examples
    --------
    >>> encode_label_line(b'{"event_id": "e1", "label": true}')
    (b'e1', b'{"event_id": "e1", "label": true}')
    >>> encode_label_line(b"not json")
    (None, b'not json')
    """
    try:
        label = orjson.loads(line)
    except orjson.JSONDecodeError:
        label = None
    event_id = label.get("event_id") if isinstance(label, dict) else None
    return (event_id.encode() if isinstance(event_id, str) else None), line


def encode_line(line: bytes) -> tuple[bytes | None, bytes]:
    """Return the key and value of a JSONL event line: the line as it is, invalid ones included.

    The worker dead-letters the invalid ones.

    Examples
    --------
    >>> encode_line(b'{"event_id": "e1", "key": "user-7"}')
    (b'user-7', b'{"event_id": "e1", "key": "user-7"}')
    >>> encode_line(b"{oops")   # sent all the same, without a key
    (None, b'{oops')
    """
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        event = None
    return kafka_key(event), line


def send(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes | None,
    on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
) -> None:
    """Produce one message, waiting while the producer's local queue is full (deliveries drain it)."""
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.1)


def produce(
    kafka: KafkaConnection | str,
    messages: Iterable[tuple[str, bytes | None, bytes]],
    on_delivered: Callable[[int], None] | None = None,
    flush_timeout: float = 60.0,
    flush_every: int | None = None,
) -> DeliveryReport:
    """Send (topic, key, value) in order, wait for every delivery, and count what failed.

    Kafka orders messages within a partition only: of a burst to two topics, either may reach the
    broker first. With ``flush_every``, everything sent so far is delivered after each such count of
    messages, so a message reaches the broker after every message sent ``flush_every`` or more
    places before it (a label after its event).
    """
    report = DeliveryReport()
    connection = KafkaConnection(kafka) if isinstance(kafka, str) else kafka
    producer = Producer(connection.producer())

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            report.errors.append(error.str())
        else:
            report.delivered += 1
            if on_delivered:
                on_delivered(1)

    for topic, key, value in messages:
        send(producer, topic, value, key, delivered)
        report.sent += 1
        if flush_every and report.sent % flush_every == 0:
            producer.flush(flush_timeout)
        else:
            producer.poll(0)
    remaining = producer.flush(flush_timeout)
    if remaining:
        report.errors.append(f"{remaining} messages not delivered within {flush_timeout}s")
    return report
