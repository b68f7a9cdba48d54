"""End to end through real Kafka: Streamwise's workers and the peers, each in its own processes, measured alike.

    python bench/e2e.py [--recipe logistic_regression] [--n 50000] [--partitions 1] [--workers 1]
    python bench/e2e.py --memory

One measurement (``measure``): start the system, wait until its consumer group holds every input
partition, read its CPU time, produce the events (labels inline), wait until every prediction is on
the output topic, read its CPU time again. Events/s come from the output topic, first to last
prediction's CreateTime (bench/peers.py ``output_rate``); CPU-seconds are user plus system time of
the system's processes over that span (start-up excluded, for every system alike). After a
Streamwise run, its checkpoints say what it learned (every event once; on one partition, the same
prequential accuracy as the bare loop) and its metrics give the longest checkpoint pause.

``memory_run`` is the memory benchmark: delayed labels on ``events.labels``, each sent ``delay``
events after its event, and the worker's RSS when the predictions reach each mark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import yaml
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import high_watermarks, measure, wait_for_group  # noqa: E402
from bench.peers import make_events  # noqa: E402
from online_models import checkpoint  # noqa: E402
from online_models.config import StreamwiseConfig, parse_config  # noqa: E402
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels  # noqa: E402
from online_models.learner import Learner  # noqa: E402
from online_models.storage.checkpoint_store import CheckpointStore  # noqa: E402
from streams.kafka import topics  # noqa: E402
from streams.kafka.consumer import read_topic  # noqa: E402
from streams.kafka.producer import encode_event, encode_label, send  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.testing import SIGNING_KEY, StreamEnv, free_port  # noqa: E402

SHIPPED = "shipped"  # the recipe that stands for the shipped config's models


@dataclass
class Run(StreamEnv):
    """One Streamwise run's isolated world, with one model (``recipe``, a binary task).

    It is the integration tests' world (own topic prefix, consumer group, Redis namespace; workers as
    processes), with a temporary folder and the metrics port of each worker started.
    """

    recipe: str = "logistic_regression"
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="streamwise-bench-")))
    metrics_ports: list[int] = field(default_factory=list)

    @property
    def config(self) -> StreamwiseConfig:
        """The parsed model config of this run: its one model."""
        return parse_config({"models": self.models})

    @property
    def models(self) -> list[dict[str, Any]]:
        """The models section: one binary model ``m`` of ``recipe`` (``shipped``: config/models.yaml's)."""
        if self.recipe == SHIPPED:
            return list(yaml.safe_load((ROOT / "config" / "models.yaml").read_text())["models"])
        return [{"name": "m", "recipe": self.recipe, "task": "binary"}]

    def create_topics(self) -> None:
        """Create this run's topics, and write its model config."""
        super().create_topics()
        self.write_config(self.models)

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment of this run's workers: the worker's defaults, a checkpoint every 2 s, ``extra``."""
        # The worker's defaults (not the tests' faster status timer), but a checkpoint every 2 s: even a
        # short run (5,000 events of adaptive_random_forest) checkpoints, so its pause is measured.
        return super().env(STREAMWISE_STATUS_INTERVAL="1.0", STREAMWISE_CHECKPOINT_EVERY_SECONDS="2", **extra)

    def start_workers(self, count: int) -> None:
        """Start ``count`` workers, each with its own metrics port (kept in ``metrics_ports``)."""
        for _ in range(count):
            port = free_port()
            self.metrics_ports.append(port)
            self.start_worker(STREAMWISE_METRICS_PORT=str(port))

    def stop_workers(self) -> None:
        """Stop every worker with SIGTERM, so that each writes its final checkpoints."""
        for worker in self.workers:
            self.stop_worker(worker, signal.SIGTERM)  # final checkpoints

    def longest_checkpoint_pause(self) -> float:
        """Return the longest pause of any worker's loop for a checkpoint round, in seconds (from its metrics)."""
        pauses = [0.0]
        for port in self.metrics_ports:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            found = re.search(r"^streamwise_checkpoint_pause_max_seconds ([0-9.e+-]+)$", text, re.M)
            pauses.append(float(found.group(1)) if found else 0.0)
        return max(pauses)

    def learners(self) -> dict[int, Learner]:
        """Return each learn-log partition's learner as its newest checkpoint holds it, by partition."""

        async def load() -> dict[int, Learner]:
            client = aioredis.from_url(self.redis_url)
            store = CheckpointStore(client, self.name, self.name)
            try:
                found = {p: await store.load("learner", p) for p in range(self.partitions)}
            finally:
                await client.aclose()
            key = SIGNING_KEY.encode()
            return {p: checkpoint.restore(cp, self.config, key, Learner) for p, cp in found.items() if cp is not None}

        return asyncio.run(load())


@contextmanager
def run_world(bootstrap: str, redis_url: str, recipe: str, **kwargs: Any) -> Iterator[Run]:
    """Yield a new run of ``recipe`` with its topics created; clean up its workers, topics and keys on the way out."""
    run = Run(bootstrap, redis_url, recipe=recipe, **kwargs)
    try:
        run.create_topics()
        yield run
    finally:
        run.cleanup()


def streamwise(
    bootstrap: str, redis_url: str, recipe: str, n: int, *, partitions: int = 1, workers: int = 1
) -> dict[str, Any]:
    """Measure one Streamwise run of ``n`` events, and return its figures.

    The figures of ``measure`` (events/s, CPU-seconds per 100k events, ...), plus the labeled events
    its workers learned, the prequential accuracy (one partition only, else None), the longest
    checkpoint pause in ms, and the partitions and workers.
    """
    raw, keys, _ = make_events(n)
    with run_world(bootstrap, redis_url, recipe, partitions=partitions) as run:
        run.start_workers(workers)

        def ready() -> None:  # each of the engine's groups holds every partition it reads
            for group, read in topics.groups(Settings(app_id=run.name)).items():
                for topic in read:
                    wait_for_group(bootstrap, group, run.topic(topic), partitions, workers)

        result = measure(
            bootstrap, run.topic(topics.RAW), run.topic(topics.PREDICTIONS), list(zip(keys, raw, strict=True)),
            run.workers, ready, per_record=len(run.models),
        )  # fmt: skip
        pause = run.longest_checkpoint_pause()
        run.stop_workers()
        learners = run.learners()
        learn_log = read_topic(bootstrap, run.topic(topics.FEATURES), timeout=120, idle=3)
    learned = sum(model.labeled for learner in learners.values() for model in learner.models)
    accuracy = None
    if partitions == 1 and learners:
        accuracy = float(learners[0].models[0].metrics["Accuracy"].get())
    return {
        **result,
        "learned": learned,
        "learned_per_model": {m.name: m.labeled for learner in learners.values() for m in learner.models},
        "accuracy": accuracy,
        "checkpoint_pause_max_ms": round(pause * 1000, 2),
        # What the learn log costs: its bytes per event (each hosting partition has every record).
        "learn_log_bytes_per_event": round(sum(len(r.value or b"") for r in learn_log) / n, 1),
        "partitions": partitions,
        "workers": workers,
    }


def rss_kib(pid: int) -> int:
    """Return the resident set size of process ``pid``, in KiB (VmRSS of /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def memory_run(
    bootstrap: str, redis_url: str, marks: tuple[int, ...] = (200_000, 1_000_000), delay: int = 500
) -> dict[str, Any]:
    """Measure the worker's RSS (KiB) when the predictions reach each mark.

    Each label goes on events.labels ``delay`` events after its event; all are produced before the
    worker starts (the engine paces them). Also return the labeled events learned, the events and
    the seconds from the worker's start to the last mark.
    """
    total = max(marks)
    with run_world(bootstrap, redis_url, "logistic_regression") as run:
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
        for kind, record in with_delayed_labels(synthetic_events("agrawal_drift", total, seed=1), delay):
            topic, (key, value) = (
                (run.topic(topics.RAW), encode_event(record))
                if kind == EVENT
                else (run.topic(topics.LABELS), encode_label(record))
            )
            send(producer, topic, value, key)
        if producer.flush(300) != 0:
            raise RuntimeError("could not deliver the memory run's events")
        run.start_workers(1)
        pid, rss, started = run.workers[0].pid, {}, time.monotonic()
        for mark in marks:
            while high_watermarks(bootstrap, run.topic(topics.PREDICTIONS)) < mark:
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
    """Print the figures of one Streamwise run (or of the memory benchmark) as JSON, as the command line asks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMWISE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis-url", default=os.environ.get("STREAMWISE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--recipe", default="logistic_regression")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="the memory benchmark instead")
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(memory_run(args.bootstrap, args.redis_url)))
        return
    result = streamwise(
        args.bootstrap, args.redis_url, args.recipe, args.n, partitions=args.partitions, workers=args.workers
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
