"""Latency from produce to prediction, open loop at a fixed rate: Streamwise next to Quix Streams.

    python bench/latency.py --rate 10000 --seconds 10

Events are sent on a fixed schedule whatever the system does (open loop: a slow answer does not
slow the sender, so no latency is hidden); each latency runs from an event's scheduled send time
to the moment its prediction is read back from the output topic, by a consumer in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import run_world  # noqa: E402
from bench.measure import wait_for_group  # noqa: E402
from bench.peers import delete_topics, ensure_quix_venv, recreate_topic  # noqa: E402
from online_models.datasets import synthetic_events  # noqa: E402
from streams.kafka import topics  # noqa: E402


def open_loop(bootstrap: str, in_topic: str, out_topic: str, rate: float, seconds: float) -> dict[str, Any]:
    """Send ``rate * seconds`` events on schedule; return the latency of their predictions (ms).

    Events (rate per second) go to ``in_topic`` at their scheduled times; a latency runs from that time to
    the moment the event's prediction is read from ``out_topic``. The figures: the rate, the events sent,
    those answered within 60 s of the last send, and the median, 99th percentile and largest latency in ms.
    """
    n = int(rate * seconds)
    events = list(synthetic_events("agrawal", n, seed=9))
    received: dict[str, float] = {}
    done = threading.Event()

    def read() -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-latency-{uuid.uuid4().hex[:8]}"})
        partitions = consumer.list_topics(out_topic, timeout=10).topics[out_topic].partitions
        consumer.assign([TopicPartition(out_topic, p, OFFSET_BEGINNING) for p in partitions])
        while not done.is_set():
            for message in consumer.consume(1000, 0.05):
                if message.error() is None:
                    received.setdefault(orjson.loads(message.value())["event_id"], time.time())
        consumer.close()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "partitioner": "murmur2_random"})
    start = time.time() + 0.5
    scheduled = [start + i / rate for i in range(n)]
    i = 0
    while i < n:
        now = time.time()
        while i < n and scheduled[i] <= now:
            event = {**events[i], "ts": int(scheduled[i] * 1000)}
            producer.produce(in_topic, orjson.dumps(event), event["key"].encode())
            i += 1
        producer.poll(0)
        time.sleep(0.0005)
    producer.flush(30)
    deadline = time.time() + 60
    while len(received) < n and time.time() < deadline:
        time.sleep(0.05)
    done.set()
    reader.join(10)
    latencies = sorted(
        (received[e["event_id"]] - t) * 1000
        for e, t in zip(events, scheduled, strict=True)
        if e["event_id"] in received
    )
    if not latencies:
        raise RuntimeError(f"no prediction read back from {out_topic}")
    return {
        "rate": rate,
        "events": n,
        "answered": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
        "max_ms": round(latencies[-1], 2),
    }


def streamwise(bootstrap: str, redis_url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Measure the latency of one Streamwise worker (logistic regression, one partition), as ``open_loop``."""
    with run_world(bootstrap, redis_url, "logistic_regression") as run:
        run.start_workers(1)
        wait_for_group(bootstrap, run.name, run.topic(topics.FEATURES), 1, 1)
        result = open_loop(bootstrap, run.topic(topics.RAW), run.topic(topics.PREDICTIONS), rate, seconds)
        run.stop_workers()
    return result


def quix(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    """Measure the latency of the Quix Streams peer (logistic regression, one partition), as ``open_loop``."""
    tag = uuid.uuid4().hex[:8]
    in_topic, out_topic, group = f"bench-latency-{tag}", f"bench-latency-{tag}-out", f"bench-latency-{tag}"
    recreate_topic(bootstrap, in_topic, 1)
    recreate_topic(bootstrap, out_topic, 1)
    command = [str(ensure_quix_venv(ROOT)), str(ROOT / "bench" / "quix_peer.py"), "--bootstrap", bootstrap]
    command += ["--in", in_topic, "--out", out_topic, "--recipe", "logistic_regression"]
    command += ["--n", str(int(rate * seconds)), "--group", group]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT)
        try:
            partial(wait_for_group, bootstrap, group, in_topic, 1, 1)()
            return open_loop(bootstrap, in_topic, out_topic, rate, seconds)
        finally:
            process.kill()
            process.wait()
            delete_topics(bootstrap, [in_topic, out_topic])


def run(bootstrap: str, redis_url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Return the latency figures of Streamwise and of Quix Streams at the same rate, by system."""
    return {"streamwise": streamwise(bootstrap, redis_url, rate, seconds), "quix": quix(bootstrap, rate, seconds)}


def main() -> None:
    """Print the latency figures of both systems as JSON, at the rate and for the seconds the command line asks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMWISE_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis-url", default=os.environ.get("STREAMWISE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print(json.dumps(run(args.bootstrap, args.redis_url, args.rate, args.seconds)))


if __name__ == "__main__":
    main()
