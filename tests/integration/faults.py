"""Helpers of the fault tests: what a worker left in Redis, a no-fault reference, the fault table."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis
import redis.asyncio as aioredis
from confluent_kafka import Consumer, Producer, TopicPartition

from online_models import checkpoint
from online_models.checkpoint import state_digest
from online_models.config import StreamwiseConfig
from online_models.events import Origin
from online_models.learner import Learner
from online_models.placement import Placement
from online_models.storage.checkpoint_store import CheckpointStore
from streams.kafka.consumer import read_topic
from streams.kafka.producer import send
from streams.kafka.topics import record_kind
from streams.testing import ROOT, SIGNING_KEY, StreamEnv, free_port

REPORT = ROOT / "reports" / "faults.md"


def final_learner(env: StreamEnv, config: StreamwiseConfig, partition: int) -> Learner:
    """The learner of a learn-log partition's newest checkpoint, as a restarted worker restores it."""

    async def load() -> Learner:
        client = aioredis.from_url(env.redis_url)
        try:
            found = await CheckpointStore(client, env.name, env.name).load("learner", partition)
        finally:
            await client.aclose()
        assert found is not None, f"no checkpoint of partition {partition}"
        return checkpoint.restore(found, config, SIGNING_KEY.encode(), Learner)

    return asyncio.run(load())


def replay_log(env: StreamEnv, config: StreamwiseConfig, partitions: int) -> dict[int, Learner]:
    """A fault-free learner per hosting partition fed the learn log (``features``) as it stands, read back
    from Kafka: what any crash-free run over the same log computes (records written twice by a
    replay included, as the engine reads them)."""
    placement = Placement(config, partitions)
    learners = {p: Learner(config, partition=p, placement=placement) for p in placement.hosts}
    records = read_topic(env.bootstrap, env.topic("features"), timeout=120, idle=4)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.partition not in learners:  # no model there: only champion changes
            continue
        origin = Origin(env.topic("features"), record.partition, record.offset)
        list(learners[record.partition].read(record.value, record_kind(record.headers), origin))
    return learners


def same_state(a: Learner, b: Learner) -> bool:
    return [(state_digest(m.model), m.metric_values(), m.labeled) for m in a.models] == [
        (state_digest(m.model), m.metric_values(), m.labeled) for m in b.models
    ]


def produce_like_librdkafka(bootstrap: str, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    """Send (topic, key, value) as a user of confluent-kafka or kcat does: librdkafka's defaults,
    whose partitioner (CRC32 of the key, random without one) is not Kafka's Java murmur2."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for topic, key, value in messages:
        send(producer, topic, value, key)
    assert producer.flush(60) == 0, "not every message was delivered"


def predicted_ids(env: StreamEnv) -> Counter[str]:
    """How many predictions each event_id got (any model): redeliveries show up as > models."""
    records = read_topic(env.bootstrap, env.topic("predictions"), timeout=180, idle=5)
    return Counter(orjson.loads(r.value)["event_id"] for r in records)


def model_status(env: StreamEnv, model: str) -> dict[int, dict]:
    client = redis.Redis.from_url(env.redis_url)
    raw = client.hgetall(f"{env.name}:models:{model}:status")
    return {int(p): orjson.loads(doc) for p, doc in raw.items()}


def learned(env: StreamEnv, model: str = "lr") -> int:
    """Labeled events learned by ``model`` over every partition, as the worker last reported."""
    return sum(status["labeled"] for status in model_status(env, model).values())


def counts(env: StreamEnv, model: str = "lr") -> str:
    """Where a stream stands, for a fault test that timed out: messages per topic and partition,
    what each learn-log partition learned, and whether each worker still runs."""
    consumer = Consumer({"bootstrap.servers": env.bootstrap, "group.id": f"{env.name}-counts"})
    lines = []
    try:
        for name in ("events.raw", "events.labels", "features", "predictions", "events.dlq"):
            highs = []
            for p in range(env.partitions):
                try:
                    highs.append(consumer.get_watermark_offsets(TopicPartition(env.topic(name), p), timeout=5)[1])
                except Exception:  # the broker is away: say so rather than hide the rest
                    highs.append(-1)
            lines.append(f"  {name}: {sum(h for h in highs if h > 0)} messages {highs}")
    finally:
        consumer.close()
    try:
        statuses = model_status(env, model)
        per_partition = {p: (s["events"], s["labeled"]) for p, s in sorted(statuses.items())}
        lines.append(f"  {model} (events, labeled) per learn partition: {per_partition}")
    except redis.RedisError as exc:
        lines.append(f"  model status unreadable: {exc}")
    lines.append(f"  workers: {[(w.pid, w.poll()) for w in env.workers]} (pid, exit code or None)")
    for worker in env.workers:
        if worker.poll() is None:
            code, report = env.health(worker)
            lines.append(f"  worker {worker.pid} /health {code}: {orjson.dumps(report).decode()}")
    return "counts:\n" + "\n".join(lines)


@dataclass
class FaultRow:
    fault: str
    produced: int
    predicted: int
    learned: int
    lost: int
    learned_twice: int


def print_table(rows: list[FaultRow]) -> None:
    """The fault table, on the terminal even under pytest's capture."""
    lines = [
        "",
        "| fault | events produced | predicted | learned | lost | learned twice |",
        "|---|---|---|---|---|---|",
        *(f"| {r.fault} | {r.produced} | {r.predicted} | {r.learned} | {r.lost} | {r.learned_twice} |" for r in rows),
    ]
    sys.__stdout__.write("\n".join(lines) + "\n")
    sys.__stdout__.flush()
    REPORT.parent.mkdir(exist_ok=True)
    first = not REPORT.exists()
    with REPORT.open("a") as report:  # one table over the run; `make faults` prints it at the end
        report.write("\n".join(lines[1 if first else 3 :]) + "\n")


class OwnRedis:
    """A redis-server of one test, with an append-only file, so a restart keeps its data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder)]
        self.process = subprocess.Popen([*command, "--appendonly", "yes", "--save", ""], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            redis.Redis.from_url(self.url).shutdown(nosave=False)  # flushes the append-only file
            self.process.wait(timeout=10)


@contextmanager
def own_redis(env: StreamEnv, folder: Path) -> Iterator[OwnRedis]:
    """The test's own redis-server, in place of the shared one for ``env`` until the test ends."""
    own = OwnRedis(folder)
    own.start()
    shared, env.redis_url = env.redis_url, own.url
    try:
        yield own
    finally:
        env.redis_url = shared
        own.stop()
