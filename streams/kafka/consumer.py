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
    """

    def error(self) -> KafkaError | None: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def __len__(self) -> int: ...


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
    message = cast(Delivered | None, consumer.poll(timeout))
    if message is None:
        return None
    error = message.error()
    if error is not None:
        if error.code() == KafkaError._PARTITION_EOF:
            return None
        raise KafkaException(error)
    kind, ms = message.timestamp()
    value = message.value() or b""  # a tombstone (null value) reads as empty
    return Record(message.key(), value, message.partition(), message.offset(), message.headers(), ms if kind else None)
