"""The peers of the end-to-end learning benchmark: the limit (a bare River loop), a DIY loop and Quix Streams.

The DIY loop is a hand-written confluent-kafka loop. Each peer does per event what Streamwise does:
decode, predict, update Accuracy, F1, ROCAUC and LogLoss, learn, produce a prediction record.

    python bench/peers.py diy --bootstrap B --in TOPIC --out TOPIC --recipe R --n N --group G

``diy`` is the hand-written loop, run as its own process (one core, like a worker); it prints one
JSON line. The DIY and Quix peers are measured as Streamwise is (bench/measure.py). The Quix Streams
peer runs in ``.venv-quix`` (bench/requirements-quix.txt): quixstreams pins an older confluent-kafka
and pydantic than the project's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script too (the DIY peer's process)

from bench.measure import measure, wait_for_group  # noqa: E402
from online_models import metrics, recipes  # noqa: E402
from online_models.datasets import synthetic_events  # noqa: E402
from streams.kafka.producer import send  # noqa: E402

QUIX_VENV = ".venv-quix"
QUIX_REQUIREMENTS = "bench/requirements-quix.txt"
Pairs = Sequence[tuple[dict[str, Any], Any]]


# ---------------------------------------------------------------------------------------------- topics
def recreate_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """Delete ``topic`` if it exists, then create it with ``partitions`` (replication 1).

    Deletion is asynchronous on the broker: creation is retried while the old topic is still going away.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # no notices about the old topic
    if topic in admin.list_topics(timeout=timeout).topics:
        admin.delete_topics([topic], operation_timeout=timeout)[topic].result(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
        try:
            future.result(timeout=timeout)
            break
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    while len(admin.list_topics(topic, timeout=timeout).topics[topic].partitions) != partitions:
        time.sleep(0.1)


def delete_topics(bootstrap: str, topics: Sequence[str], timeout: float = 30.0) -> None:
    """Delete those of ``topics`` that exist, and wait for the broker to confirm."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    names = [t for t in topics if t in existing]
    if names:
        for future in admin.delete_topics(names, operation_timeout=timeout).values():
            future.result(timeout=timeout)


def partition_count(bootstrap: str, topic: str, timeout: float = 10.0) -> int:
    """Return the number of partitions of ``topic``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return len(admin.list_topics(topic, timeout=timeout).topics[topic].partitions)


def produce_raw(bootstrap: str, topic: str, events: list[bytes], keys: list[bytes], partitions: int) -> None:
    """(Re)create ``topic`` with ``partitions`` and produce ``events`` keyed by ``keys``; flush."""
    recreate_topic(bootstrap, topic, partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000})
    for value, key in zip(events, keys, strict=True):
        send(producer, topic, value, key)
    if producer.flush(60) != 0:
        raise RuntimeError(f"could not deliver every event to {topic!r}")


# ---------------------------------------------------------------------------------------------- events
def make_events(n: int) -> tuple[list[bytes], list[bytes], list[tuple[dict, bool]]]:
    """Return ``n`` events as raw orjson (label inline), their keys, and the decoded (features, label) pairs."""
    events = list(synthetic_events("agrawal_drift", n, seed=1))
    raw = [orjson.dumps(e) for e in events]
    keys = [e["key"].encode() for e in events]
    return raw, keys, [(e["features"], e["label"]) for e in events]


# ---------------------------------------------------------------------------------------------- the limit
class Prequential:
    """River model + the binary metrics, updated as bench/tasks.py's bare_loop: predict, score, learn."""

    def __init__(self, recipe: str) -> None:
        self.model = recipes.build(recipe)
        self.scores = metrics.for_task("binary")
        self.uses_proba = [(m, metrics.needs_proba(m)) for m in self.scores.values()]

    def step(self, x: dict[str, Any], y: Any) -> tuple[dict[Any, float], Any]:
        """Predict ``x``, score the prediction against ``y`` and learn; return the probabilities and the label."""
        proba = self.model.predict_proba_one(x)
        label = max(proba, key=proba.get) if proba else None
        for m, uses_proba in self.uses_proba:
            m.update(y, proba if uses_proba else label)
        self.model.learn_one(x, y)
        return proba, label

    def summary(self) -> dict[str, float]:
        """Return the value of each metric so far, by name."""
        return {name: float(m.get()) for name, m in self.scores.items()}


def bare_river(recipe: str, pairs: Pairs) -> dict[str, Any]:
    """Measure the limit: the prequential loop over pairs already decoded in memory.

    Return the events, the seconds, the events/s, the accuracy and every metric.
    """
    loop = Prequential(recipe)
    start = time.perf_counter()
    for x, y in pairs:
        loop.step(x, y)
    seconds = time.perf_counter() - start
    scores = loop.summary()
    return {
        "events": len(pairs),
        "seconds": seconds,
        "events_per_s": len(pairs) / seconds,
        "accuracy": scores["Accuracy"],
        "metrics": scores,
    }


# ---------------------------------------------------------------------------------------------- DIY
def diy_loop(
    bootstrap: str, in_topic: str, out_topic: str, recipe: str, n: int, group: str, idle_timeout: float = 60.0
) -> dict[str, Any]:
    """Run the hand-written loop a competent user writes: consume a batch, decode, predict, score, learn, produce.

    It stops after ``n`` events, or after ``idle_timeout`` seconds without a message. Return the events,
    the seconds from the first event to the last flush, the accuracy and every metric.
    """
    loop = Prequential(recipe)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    consumer.subscribe([in_topic])
    done, start, last_seen = 0, 0.0, time.monotonic()
    while done < n:
        batch = consumer.consume(num_messages=500, timeout=1.0)
        if not batch and time.monotonic() - last_seen > idle_timeout:
            break
        for msg in batch:
            if msg.error():
                raise KafkaException(msg.error())
            if done == 0:
                start = time.perf_counter()
            event = orjson.loads(msg.value())
            proba, label = loop.step(event["features"], event["label"])
            record = {"event_id": event["event_id"], "model": recipe, "proba": proba.get(True), "prediction": label}
            producer.produce(out_topic, orjson.dumps(record), event["event_id"].encode())
            done += 1
            if done == n:
                break
        if batch:
            last_seen = time.monotonic()
        producer.poll(0)
    producer.flush(30)
    seconds = time.perf_counter() - start
    consumer.close()
    scores = loop.summary()
    return {"events": done, "seconds": seconds, "accuracy": scores["Accuracy"], "metrics": scores}


def run_peer(
    command: list[str],
    bootstrap: str,
    in_topic: str,
    recipe: str,
    records: list[tuple[bytes | None, bytes]],
    partitions: int,
) -> dict[str, Any]:
    """Measure a peer as Streamwise is measured, and return its figures with its accuracy and metrics.

    ``command`` takes the common arguments. The input and output topics are new; the events are
    produced once the peer is up and holding every partition. The figures are those of
    bench/measure.py's ``measure`` (events/s, CPU-seconds per 100k events, ...).
    """
    out_topic, group = f"{in_topic}-out", f"bench-peer-{uuid.uuid4().hex[:8]}"
    recreate_topic(bootstrap, in_topic, partitions)
    recreate_topic(bootstrap, out_topic, partitions)
    arguments = ["--bootstrap", bootstrap, "--in", in_topic, "--out", out_topic, "--recipe", recipe]
    arguments += ["--n", str(len(records)), "--group", group]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([*command, *arguments], stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
        try:
            ready = partial(wait_for_group, bootstrap, group, in_topic, partitions, 1)
            result = measure(bootstrap, in_topic, out_topic, records, [process], ready)
            out, _ = process.communicate(timeout=120)
        except Exception:
            process.kill()
            errors.seek(0)
            raise RuntimeError(f"{command[1]} failed:\n{errors.read().decode(errors='replace')[-3000:]}") from None
        finally:
            delete_topics(bootstrap, [in_topic, out_topic])
    own = json.loads(out.strip().splitlines()[-1])
    return {**result, "accuracy": own["accuracy"], "metrics": own["metrics"]}


def diy(bootstrap: str, in_topic: str, recipe: str, records: list[tuple[bytes | None, bytes]], partitions: int) -> dict:
    """Measure the DIY loop, run as its own process (this script's ``diy`` command), as ``run_peer``."""
    return run_peer(
        [sys.executable, str(Path(__file__).resolve()), "diy"], bootstrap, in_topic, recipe, records, partitions
    )


# ---------------------------------------------------------------------------------------------- Quix Streams
def ensure_quix_venv(root: Path = ROOT) -> Path:
    """Return the Python of ``root/.venv-quix`` with bench/requirements-quix.txt installed.

    The venv is made when missing, and the requirements installed again when its stamp is older than them.
    """
    venv, requirements = root / QUIX_VENV, root / QUIX_REQUIREMENTS
    stamp, python = venv / ".installed", venv / "bin" / "python"
    if stamp.exists() and stamp.stat().st_mtime >= requirements.stat().st_mtime and python.exists():
        return python
    if not python.exists():
        subprocess.run([os.environ.get("PYTHON", "python3"), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    stamp.touch()
    return python


def quix(
    bootstrap: str, in_topic: str, recipe: str, records: list[tuple[bytes | None, bytes]], partitions: int
) -> dict:
    """Measure the Quix Streams peer (bench/quix_peer.py in ``.venv-quix``), as ``run_peer``."""
    command = [str(ensure_quix_venv(ROOT)), str(ROOT / "bench" / "quix_peer.py")]
    return run_peer(command, bootstrap, in_topic, recipe, records, partitions)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the DIY loop as ``argv`` (or the command line) asks, and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    diy_args = sub.add_parser("diy")
    diy_args.add_argument("--in", dest="in_topic", required=True)
    diy_args.add_argument("--out", dest="out_topic", required=True)
    for flag in ("--bootstrap", "--recipe", "--group"):
        diy_args.add_argument(flag, required=True)
    diy_args.add_argument("--n", type=int, required=True)
    args = parser.parse_args(argv)
    result = diy_loop(args.bootstrap, args.in_topic, args.out_topic, args.recipe, args.n, args.group)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
