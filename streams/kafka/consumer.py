"""Reading a topic from the beginning with confluent-kafka (tests, CLI tools, benchmarks)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Protocol, cast

from confluent_kafka import Consumer, KafkaError, KafkaException

from streams.kafka.connection import KafkaConnection


class Delivered(Protocol):
    """A message as a consumer delivers it: its topic, partition and offset are set.

    confluent-kafka types them optional, for the messages a program makes itself; reading them
    through this type costs nothing per message (one ``cast`` per batch).

    Examples
    --------
    A confluent-kafka ``Message`` answers it; one can be made without a broker:

    >>> from confluent_kafka import Message
    >>> message = Message(topic="events.raw", partition=0, offset=42, value=b'{"event_id": "e1"}', timestamp=(1, 1_000))
    >>> delivered = cast(Delivered, message)
    >>> delivered.error(), delivered.topic(), delivered.offset(), delivered.timestamp(), len(delivered)
    (None, 'events.raw', 42, (1, 1000), 18)
    """

    def error(self) -> KafkaError | None:
        """Return the error or event this message reports (an end of partition, say), or None for a message."""
        ...

    def topic(self) -> str:
        """Return the topic the message was read from."""
        ...

    def partition(self) -> int:
        """Return the partition the message was read from."""
        ...

    def offset(self) -> int:
        """Return the message's offset in its partition."""
        ...

    def key(self) -> bytes | None:
        """Return the message's key, or None without one."""
        ...

    def value(self) -> bytes | None:
        """Return the message's value, or None for a tombstone."""
        ...

    def headers(self) -> list[tuple[str, bytes]] | None:
        """Return the message's headers, or None without any."""
        ...

    def timestamp(self) -> tuple[int, int]:
        """Return the message's timestamp type (0: none) and its timestamp in epoch ms."""
        ...

    def __len__(self) -> int:
        """Return the length of the message's value in bytes."""
        ...


@dataclass(frozen=True, slots=True)
class Record:
    """One record read from a topic: its key, value, partition, offset, headers and broker timestamp.

    Examples
    --------
    >>> record = Record(b"k1", b'{"event_id": "e1"}', partition=0, offset=42, timestamp_ms=1_767_225_600_000)
    >>> record.offset, record.headers, record.timestamp_ms
    (42, None, 1767225600000)
    >>> Record(b"k1", None, partition=0, offset=43).value is None   # a tombstone
    True
    """

    key: bytes | None
    value: bytes | None  # None: a null value (a tombstone)
    partition: int
    offset: int
    headers: list[tuple[str, bytes]] | None = None
    timestamp_ms: int | None = None  # the broker timestamp (create or append time, as the topic keeps it)


def read_topic(
    kafka: KafkaConnection | str,
    topic: str,
    *,
    expected: int | None = None,
    timeout: float = 30.0,
    idle: float = 2.0,
) -> list[Record]:
    """Return every record of ``topic`` from the start.

    Reading stops at ``expected`` records, after ``idle`` seconds without one (when ``expected`` is
    None), or at ``timeout``.
    """
    connection = KafkaConnection(kafka) if isinstance(kafka, str) else kafka
    consumer = Consumer(connection.consumer(f"streamwise-reader-{uuid.uuid4().hex}"))
    records: list[Record] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            if expected is not None and len(records) >= expected:
                break
            if expected is None and records and time.monotonic() - last > idle:
                break
            record = poll_record(consumer, 0.2)
            if record is not None:
                records.append(record)
                last = time.monotonic()
    finally:
        consumer.close()
    return records


def poll_record(consumer: Consumer, timeout: float) -> Record | None:
    """Return the next record, or None when none came within ``timeout``; a consumer error raises."""
    message = cast(Delivered | None, consumer.poll(timeout))
    if message is None:
        return None
    error = message.error()
    if error is not None:
        if error.code() == KafkaError._PARTITION_EOF:
            return None
        raise KafkaException(error)
    kind, ms = message.timestamp()
    return Record(
        message.key(), message.value(), message.partition(), message.offset(), message.headers(), ms if kind else None
    )
