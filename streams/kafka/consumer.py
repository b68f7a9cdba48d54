"""Reading a topic from the beginning with confluent-kafka (tests, CLI tools, benchmarks)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException

from streams.kafka.connection import KafkaConnection


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes | None
    value: bytes
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
    """Every record of ``topic`` from the start; stops at ``expected`` records, after ``idle``
    seconds without one (when ``expected`` is None), or at ``timeout``."""
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
    """The next record, or None when none came within ``timeout``; a consumer error raises."""
    message = consumer.poll(timeout)
    if message is None:
        return None
    if message.error():
        if message.error().code() == KafkaError._PARTITION_EOF:
            return None
        raise KafkaException(message.error())
    kind, ms = message.timestamp()
    return Record(
        message.key(), message.value(), message.partition(), message.offset(), message.headers(), ms if kind else None
    )
