"""One way to measure every system end to end through Kafka (Streamwise's workers and the peers).

Start it, wait until its consumer group holds every input partition, read its CPU time, produce
the events, wait until every output is on the output topic, read its CPU time again.

Events/s are end to end: the events over the time from the first event's CreateTime on the input
topic to the last output's on the output topic (``output_rate``), the same clock for every system.
CPU-seconds are the user plus system time of the system's processes over that span: start-up is
left out for every system alike.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.producer import send

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of process ``pid`` and of its children that ended, in seconds.

    The children count because a worker forks to pickle a large checkpoint. A process that exited
    but is not reaped yet still has its figure.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send (key, value) pairs to ``topic`` with Kafka's partitioner and flush; return how many were sent."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "partitioner": "murmur2_random", "compression.type": "lz4"}
    )
    count = 0
    for key, value in records:
        send(producer, topic, value, key)
        count += 1
    if producer.flush(120) != 0:
        raise RuntimeError(f"could not deliver every record to {topic}")
    return count


def high_watermarks(bootstrap: str, topic: str) -> int:
    """Return the number of messages on ``topic`` (the sum of its partitions' high watermarks)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def wait_for_group(bootstrap: str, group: str, topic: str, partitions: int, members: int, timeout: float = 120) -> None:
    """Wait until ``group`` is stable with ``members`` members holding every partition of ``topic``.

    Raise RuntimeError when it is not after ``timeout`` seconds.
    """
    client, deadline = AdminClient({"bootstrap.servers": bootstrap}), time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = client.describe_consumer_groups([group])[group].result()
        except Exception:  # not known to the coordinator yet
            time.sleep(0.3)
            continue
        held = {
            tp.partition
            for m in found.members
            for tp in (m.assignment.topic_partitions if m.assignment else [])
            if tp.topic == topic
        }
        if str(found.state).endswith("STABLE") and len(found.members) == members and len(held) == partitions:
            return
        time.sleep(0.3)
    raise RuntimeError(f"group {group} not stable with {members} members on {topic} within {timeout} s")


def measure(
    bootstrap: str,
    in_topic: str,
    out_topic: str,
    records: list[tuple[bytes | None, bytes]],
    processes: list[subprocess.Popen],
    ready: Callable[[], None],
    timeout: float = 900,
    per_record: int = 1,
) -> dict[str, Any]:
    """Measure a system with the protocol every system goes through (see the module's doc).

    ``ready`` returns once the system's consumer group holds every input partition; ``records`` go to
    ``in_topic``, and the system's ``processes`` must put ``per_record`` outputs each (one per model)
    on ``out_topic`` within ``timeout`` seconds. Return the figures of ``output_rate`` (events/s end
    to end), the CPU-seconds of the processes over the run and the CPU-seconds per 100k events.
    """
    n = len(records)
    ready()
    cpu_before = sum(cpu_seconds(p.pid) for p in processes)
    produce(bootstrap, in_topic, records)
    deadline = time.monotonic() + timeout
    outputs = n * per_record
    while high_watermarks(bootstrap, out_topic) < outputs:
        if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in processes):
            raise RuntimeError(
                f"fewer than {outputs} outputs on {out_topic} (exit codes {[p.poll() for p in processes]})"
            )
        time.sleep(0.1)
    cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
    rate = output_rate(bootstrap, out_topic, outputs, timeout=120, start_ms=first_time(bootstrap, in_topic))
    if per_record > 1:  # events, not outputs: every model answers each event
        rate = {**rate, "events": n, "events_per_s": rate["events_per_s"] / per_record}
    return {**rate, "cpu_seconds": round(cpu, 2), "cpu_per_100k": round(cpu / n * 100_000, 3)}


def output_rate(
    bootstrap: str, topic: str, n: int, timeout: float = 120.0, start_ms: int | None = None
) -> dict[str, Any]:
    """Read up to ``n`` messages of ``topic`` (all partitions, from the start); rate from their CreateTime.

    first_ms/last_ms are the min/max timestamps over every partition; events_per_s = count / (last - start),
    from ``start_ms`` (the first input's time) when given, else from the first output's.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-output-rate-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        count, first, last = 0, None, None
        deadline = time.monotonic() + timeout
        while count < n and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                ts = msg.timestamp()[1]
                first = ts if first is None else min(first, ts)
                last = ts if last is None else max(last, ts)
                count += 1
    finally:
        consumer.close()
    begin = start_ms if start_ms is not None else first
    span = (last - begin) / 1000 if begin is not None and last is not None else 0.0
    return {
        "events": count,
        "first_ms": first,
        "last_ms": last,
        "seconds": span,
        "events_per_s": (count if start_ms is not None else count - 1) / span if span > 0 else 0.0,
    }


def first_time(bootstrap: str, topic: str) -> int:
    """Return the smallest CreateTime (ms) of the first message of each partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-first-{uuid.uuid4().hex[:8]}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        times: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while len(times) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.5):
                if message.error() is None:
                    times.setdefault(message.partition(), message.timestamp()[1])
        return min(times.values())
    finally:
        consumer.close()
