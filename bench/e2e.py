"""Streamwise end to end through real Kafka: raw events produced in advance, workers as processes.

    python bench/e2e.py [--recipe logistic_regression] [--n 50000] [--partitions 1] [--workers 1] [--agents]

Each run gets its own topic prefix, consumer groups and Redis namespace. The events (with inline
labels) are on ``events.raw`` before the first worker starts; events/s are measured on the
``predictions`` topic, from the first prediction's CreateTime to the last one's (bench/peers.py
``output_rate``, as for the peers). After the run, the checkpoints say what the workers learned:
every event once, and on one partition the same prequential accuracy as the bare River loop.

``memory_run`` is the memory benchmark: delayed labels (each label sent ``delay`` events after its
event, on ``events.labels``), the worker's RSS read from /proc when the predictions reach each mark.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.peers import make_events, output_rate  # noqa: E402
from online_models import checkpoint  # noqa: E402
from online_models.checkpoint import CheckpointStore  # noqa: E402
from online_models.config import StreamwiseConfig, parse_config  # noqa: E402
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels  # noqa: E402
from online_models.pipeline import Learner  # noqa: E402
from streams import admin, topics  # noqa: E402
from streams.topics import LABEL_HEADER  # noqa: E402
from tests.integration.conftest import SIGNING_KEY, StreamEnv  # noqa: E402


@dataclass
class Run(StreamEnv):
    """One benchmark run's isolated world: the integration tests' (own topic prefix, consumer groups,
    Redis namespace; workers as processes), with one model and the chained fast path by default."""

    recipe: str = "logistic_regression"
    chain: bool = True
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="streamwise-bench-")))

    @property
    def config(self) -> StreamwiseConfig:
        return parse_config({"models": self.models})

    @property
    def models(self) -> list[dict[str, Any]]:
        return [{"name": "m", "recipe": self.recipe, "task": "binary"}]

    def create_topics(self) -> None:
        super().create_topics()
        self.write_config(self.models)

    def env(self, **extra: str) -> dict[str, str]:
        # The worker's defaults, not the tests' faster status timer.
        return super().env(STREAMWISE_CHAIN="1" if self.chain else "0", STREAMWISE_STATUS_INTERVAL="1.0", **extra)

    def produce(self, topic: str, records: Iterable[tuple[bytes | None, bytes]], headers: Iterable[Any] = ()) -> int:
        """``headers``: per record, in step with ``records`` (empty: none)."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 20, "partitioner": "murmur2_random"})
        count = 0
        for (key, value), header in itertools.zip_longest(records, headers):
            while True:
                try:
                    producer.produce(self.topic(topic), value, key, headers=header)
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
        if producer.flush(120) != 0:
            raise RuntimeError(f"could not deliver every record to {topic}")
        return count

    def start_workers(self, count: int) -> None:
        for _ in range(count):
            self.start_worker()

    def stop_workers(self) -> None:
        for worker in self.workers:
            self.stop_worker(worker, signal.SIGTERM)  # final checkpoints

    def wait_for_group(self, members: int, timeout: float = 120.0) -> None:
        """Until the workers' consumer group of events.raw is stable with ``members`` sharing every partition."""
        group = f"{self.name}.chain" if self.chain else self.name
        client, deadline = admin.admin_client(self.bootstrap), time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = client.describe_consumer_groups([group])[group].result()
            except Exception:  # not known to the coordinator yet
                time.sleep(0.5)
                continue
            raw = self.topic(topics.RAW)
            assigned = {
                tp.partition
                for m in found.members
                for tp in (m.assignment.topic_partitions if m.assignment else [])
                if tp.topic == raw
            }
            stable = str(found.state).endswith("STABLE") and len(found.members) == members
            if stable and len(assigned) == self.partitions:
                time.sleep(1.0)  # each worker restores its (empty) checkpoints and seeks
                return
            time.sleep(0.5)
        raise RuntimeError(
            f"group {group} not stable with {members} members within {timeout} s:\n{self.worker_logs()[-3000:]}"
        )

    def produced(self, topic: str) -> int:
        """Messages on ``topic`` (sum of high watermarks)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{self.name}-count"})
        try:
            ends = [
                consumer.get_watermark_offsets(TopicPartition(self.topic(topic), p), timeout=10)[1]
                for p in range(self.partitions)
            ]
        finally:
            consumer.close()
        return sum(ends)

    def learners(self) -> dict[int, Learner]:
        """Each partition's learner as its newest checkpoint holds it."""
        owner = f"{self.name}.chain" if self.chain else self.name

        async def load() -> dict[int, Learner]:
            client = aioredis.from_url(self.redis_url)
            store = CheckpointStore(client, self.name, owner)
            try:
                found = {p: await store.load(p) for p in range(self.partitions)}
            finally:
                await client.aclose()
            return {
                p: checkpoint.restore(cp, self.config, SIGNING_KEY.encode())
                for p, cp in found.items()
                if cp is not None
            }

        return asyncio.run(load())


@contextmanager
def run_world(bootstrap: str, redis_url: str, recipe: str, **kwargs: Any) -> Iterator[Run]:
    run = Run(bootstrap, redis_url, recipe=recipe, **kwargs)
    try:
        run.create_topics()
        yield run
    finally:
        run.cleanup()


def streamwise(
    bootstrap: str,
    redis_url: str,
    recipe: str,
    n: int,
    *,
    partitions: int = 1,
    workers: int = 1,
    chain: bool = True,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Events/s of Streamwise workers over ``n`` events produced in advance; what they learned."""
    raw, keys, _ = make_events(n)
    with run_world(bootstrap, redis_url, recipe, partitions=partitions, chain=chain) as run:
        if partitions == 1:
            run.produce(topics.RAW, zip(keys, raw, strict=True))
            run.start_workers(workers)
        else:  # measure the workers sharing the partitions, not the first rebalance of a new group
            run.start_workers(workers)
            run.wait_for_group(workers)
            run.produce(topics.RAW, zip(keys, raw, strict=True))
        rate = output_rate(bootstrap, run.topic(topics.PREDICTIONS), n, timeout=timeout)
        if rate["events"] < n:
            raise RuntimeError(f"{rate['events']} of {n} predictions within {timeout} s:\n{run.worker_logs()[-3000:]}")
        run.stop_workers()  # SIGTERM: final checkpoints
        learners = run.learners()
    learned = sum(model.labeled for learner in learners.values() for model in learner.models)
    accuracy = None
    if partitions == 1 and learners:
        accuracy = float(learners[0].models[0].metrics["Accuracy"].get())
    return {**rate, "learned": learned, "accuracy": accuracy, "partitions": partitions, "workers": workers}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def memory_run(
    bootstrap: str, redis_url: str, marks: tuple[int, ...] = (200_000, 1_000_000), delay: int = 500
) -> dict[str, Any]:
    """Worker RSS (KiB) when the predictions reach each mark; labels arrive ``delay`` events late.

    The labels are produced into events.raw, each ``delay`` events after its event, as the label
    forwarder places them in a live stream (labels produced in advance to events.labels would all be
    forwarded behind the whole backlog of events, and wait in the pending join).
    """
    total = max(marks)
    with run_world(bootstrap, redis_url, "logistic_regression") as run:
        keys: dict[str, str] = {}
        records, headers = [], []
        for kind, record in with_delayed_labels(synthetic_events("agrawal_drift", total, seed=1), delay):
            if kind == EVENT:
                keys[record["event_id"]] = record["key"]
                records.append((record["key"].encode(), orjson.dumps(record)))
                headers.append(None)
            else:
                label = {**record, "key": keys.pop(record["event_id"])}
                records.append((label["key"].encode(), orjson.dumps(label)))
                headers.append([LABEL_HEADER])
        run.produce(topics.RAW, records, headers)
        del records, headers
        run.start_workers(1)
        pid, rss, started = run.workers[0].pid, {}, time.monotonic()
        for mark in marks:
            while run.produced(topics.PREDICTIONS) < mark:
                if run.workers[0].poll() is not None or time.monotonic() - started > 1200:
                    raise RuntimeError(
                        f"worker stopped or too slow before {mark} predictions:\n{run.worker_logs()[-3000:]}"
                    )
                time.sleep(0.2)
            rss[mark] = rss_kib(pid)
        seconds = time.monotonic() - started
        run.stop_workers()
        learned = sum(model.labeled for learner in run.learners().values() for model in learner.models)
    return {"rss_kib": {str(k): v for k, v in rss.items()}, "learned": learned, "events": total, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMWISE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis-url", default=os.environ.get("STREAMWISE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--recipe", default="logistic_regression")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--agents", action="store_true", help="the three Faust agents instead of the chained loop")
    parser.add_argument("--memory", action="store_true", help="the memory benchmark instead")
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(memory_run(args.bootstrap, args.redis_url)))
        return
    result = streamwise(
        args.bootstrap,
        args.redis_url,
        args.recipe,
        args.n,
        partitions=args.partitions,
        workers=args.workers,
        chain=not args.agents,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
