"""The peers of the end-to-end learning-throughput benchmark (issue 6): the limit, DIY and Quix Streams.

    python bench/peers.py trial [--bootstrap 127.0.0.1:9092] [--n 20000] [--arf-n 3000] [--repeat 1]
    python bench/peers.py diy --bootstrap B --in TOPIC --out TOPIC --recipe R --n N --group G

``trial`` produces scratch topics, runs the three peers for each recipe, prints a table and deletes its
topics. ``diy`` is the hand-written confluent-kafka loop, run as its own process (one core, like a worker);
it prints one JSON line. The orchestrator (bench/run.py) imports ``produce_raw``, ``make_events``,
``bare_river``, ``diy_confluent``, ``quix_peer``, ``ensure_quix_venv`` and ``output_rate``.

End-to-end events/s are measured on the output topic: (n - 1) / (last - first) over the messages'
CreateTime, i.e. the time each prediction was produced, min and max over all partitions.
The Quix Streams peer runs in ``.venv-quix`` (bench/requirements-quix.txt): quixstreams pins an older
confluent-kafka and pydantic than the project's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from online_models import metrics, recipes
from online_models.datasets import synthetic_events

ROOT = Path(__file__).resolve().parent.parent
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
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    names = [t for t in topics if t in existing]
    if names:
        for future in admin.delete_topics(names, operation_timeout=timeout).values():
            future.result(timeout=timeout)


def partition_count(bootstrap: str, topic: str, timeout: float = 10.0) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return len(admin.list_topics(topic, timeout=timeout).topics[topic].partitions)


def produce_raw(bootstrap: str, topic: str, events: list[bytes], keys: list[bytes], partitions: int) -> None:
    """(Re)create ``topic`` with ``partitions`` and produce ``events`` keyed by ``keys``; flush."""
    recreate_topic(bootstrap, topic, partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000})
    for value, key in zip(events, keys, strict=True):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) != 0:
        raise RuntimeError(f"could not deliver every event to {topic!r}")


# ---------------------------------------------------------------------------------------------- events
def make_events(n: int) -> tuple[list[bytes], list[bytes], list[tuple[dict, bool]]]:
    """Raw orjson events (label inline), their keys, and the decoded (features, label) pairs."""
    events = list(synthetic_events("agrawal_drift", n, seed=1))
    raw = [orjson.dumps(e) for e in events]
    keys = [e["key"].encode() for e in events]
    return raw, keys, [(e["features"], e["label"]) for e in events]


# ---------------------------------------------------------------------------------------------- the limit
class Prequential:
    """River model + the binary metrics, updated as bench/core_loop.py's bare_loop: predict, score, learn."""

    def __init__(self, recipe: str) -> None:
        self.model = recipes.build(recipe)
        self.scores = metrics.for_task("binary")
        self.uses_proba = [(m, metrics.needs_proba(m)) for m in self.scores.values()]

    def step(self, x: dict[str, Any], y: Any) -> tuple[dict[Any, float], Any]:
        proba = self.model.predict_proba_one(x)
        label = max(proba, key=proba.get) if proba else None
        for m, uses_proba in self.uses_proba:
            m.update(y, proba if uses_proba else label)
        self.model.learn_one(x, y)
        return proba, label

    def summary(self) -> dict[str, float]:
        return {name: float(m.get()) for name, m in self.scores.items()}


def bare_river(recipe: str, pairs: Pairs) -> dict[str, Any]:
    """The limit: the prequential loop over pairs already decoded in memory."""
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


# ---------------------------------------------------------------------------------------------- output rate
def output_rate(bootstrap: str, topic: str, n: int, timeout: float = 120.0) -> dict[str, Any]:
    """Read up to ``n`` messages of ``topic`` (all partitions, from the start); rate from their CreateTime.

    first_ms/last_ms are the min/max timestamps over every partition; events_per_s = (count-1)/(last-first).
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
    span = (last - first) / 1000 if first is not None and last is not None else 0.0
    return {
        "events": count,
        "first_ms": first,
        "last_ms": last,
        "seconds": span,
        "events_per_s": (count - 1) / span if span > 0 else 0.0,
    }


# ---------------------------------------------------------------------------------------------- DIY
def diy_loop(
    bootstrap: str, in_topic: str, out_topic: str, recipe: str, n: int, group: str, idle_timeout: float = 60.0
) -> dict[str, Any]:
    """The hand-written loop a competent user writes: consume a batch, decode, predict, score, learn, produce."""
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


def _run_peer(cmd: list[str], bootstrap: str, in_topic: str, out_topic: str, n: int) -> dict[str, Any]:
    """Create ``out_topic`` like ``in_topic``, run ``cmd``, parse its last JSON line, add the output rate."""
    recreate_topic(bootstrap, out_topic, partition_count(bootstrap, in_topic))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[1]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    own = json.loads(proc.stdout.strip().splitlines()[-1])
    rate = output_rate(bootstrap, out_topic, n)
    return {**rate, "accuracy": own["accuracy"], "metrics": own["metrics"], "loop_seconds": own["seconds"]}


def _peer_args(bootstrap: str, in_topic: str, out_topic: str, recipe: str, n: int, group: str) -> list[str]:
    return [
        *("--bootstrap", bootstrap, "--in", in_topic, "--out", out_topic),
        *("--recipe", recipe, "--n", str(n), "--group", group),
    ]


def diy_confluent(bootstrap: str, in_topic: str, out_topic: str, recipe: str, n: int, group: str) -> dict[str, Any]:
    """The DIY loop in its own process; events/s from ``out_topic``'s timestamps."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "diy",
        *_peer_args(bootstrap, in_topic, out_topic, recipe, n, group),
    ]
    return _run_peer(cmd, bootstrap, in_topic, out_topic, n)


# ---------------------------------------------------------------------------------------------- Quix Streams
def ensure_quix_venv(root: Path = ROOT) -> Path:
    """``root/.venv-quix`` with bench/requirements-quix.txt installed; (re)installs when the stamp is stale."""
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


def quix_peer(bootstrap: str, in_topic: str, out_topic: str, recipe: str, n: int, group: str) -> dict[str, Any]:
    """bench/quix_peer.py in .venv-quix; events/s from ``out_topic``'s timestamps."""
    python = ensure_quix_venv(ROOT)
    cmd = [
        str(python),
        str(ROOT / "bench" / "quix_peer.py"),
        *_peer_args(bootstrap, in_topic, out_topic, recipe, n, group),
    ]
    return _run_peer(cmd, bootstrap, in_topic, out_topic, n)


# ---------------------------------------------------------------------------------------------- trial
def check_same_accuracy(results: dict[str, dict[str, Any]], reference: str = "bare") -> dict[str, bool]:
    """peer -> whether it saw every event and its prequential accuracy equals ``reference``'s.

    Holds on 1 partition for deterministic models (same order); not for ARF (River's default seed=None).
    """
    ref = results[reference]
    return {
        name: r["events"] == ref["events"] and r["accuracy"] == ref["accuracy"]
        for name, r in results.items()
        if name != reference
    }


def _peer(name: str, bootstrap: str, raw_topic: str, out_topic: str, recipe: str, pairs: Pairs) -> dict[str, Any]:
    if name == "bare":
        return bare_river(recipe, pairs)
    run = diy_confluent if name == "diy" else quix_peer
    return run(bootstrap, raw_topic, out_topic, recipe, len(pairs), f"bench-peer-{name}-{uuid.uuid4().hex[:8]}")


def trial(bootstrap: str, n: int, arf_n: int, repeat: int = 1) -> list[dict[str, Any]]:
    """Every peer on scratch topics, 1 partition (bare and DIY on 4 too), ``repeat`` times each, interleaved.

    Prints one row per run and peer with the median events/s; deletes its topics.
    """
    tag = uuid.uuid4().hex[:8]
    out_topic = f"bench-peer-out-{tag}"
    every, one_process = ("bare", "diy", "quix"), ("bare", "diy")
    runs = [("logistic_regression", n, 1, every), ("hoeffding_tree", n, 1, every)]
    runs += [("adaptive_random_forest", arf_n, 1, every)]
    runs += [("logistic_regression", n, 4, one_process), ("hoeffding_tree", n, 4, one_process)]
    rows: list[dict[str, Any]] = []
    header = f"{'recipe':24} {'n':>6} {'parts':>5} {'peer':5} {'events':>6} {'median ev/s':>11} {'accuracy':>8}  same"
    print(header + "  (each run's ev/s)", flush=True)
    raw_topics = [f"bench-peer-raw-{tag}-p{p}" for p in {r[2] for r in runs}]
    try:
        for recipe, count, partitions, names in runs:
            raw_topic = f"bench-peer-raw-{tag}-p{partitions}"
            raw, keys, pairs = make_events(count)
            produce_raw(bootstrap, raw_topic, raw, keys, partitions)
            trials = [
                {name: _peer(name, bootstrap, raw_topic, out_topic, recipe, pairs) for name in names}
                for _ in range(repeat)
            ]
            for name in names:
                rates = [t[name]["events_per_s"] for t in trials]
                r = {**trials[0][name], "events_per_s": statistics.median(rates), "runs_events_per_s": rates}
                same = all(check_same_accuracy(t).get(name, True) for t in trials) if name != "bare" else ""
                each = ", ".join(f"{x:,.0f}" for x in rates)
                rows.append({"recipe": recipe, "n": count, "partitions": partitions, "peer": name, **r})
                print(
                    f"{recipe:24} {count:6} {partitions:5} {name:5} {r['events']:6} {r['events_per_s']:11,.0f} "
                    f"{r['accuracy']:8.4f}  {same!s:5} ({each})",
                    flush=True,
                )
    finally:
        delete_topics(bootstrap, [*raw_topics, out_topic])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    diy = sub.add_parser("diy")
    diy.add_argument("--in", dest="in_topic", required=True)
    diy.add_argument("--out", dest="out_topic", required=True)
    for flag in ("--bootstrap", "--recipe", "--group"):
        diy.add_argument(flag, required=True)
    diy.add_argument("--n", type=int, required=True)
    tr = sub.add_parser("trial")
    tr.add_argument("--bootstrap", default="127.0.0.1:9092")
    tr.add_argument("--n", type=int, default=20_000)
    tr.add_argument("--arf-n", type=int, default=3_000)
    tr.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "diy":
        result = diy_loop(args.bootstrap, args.in_topic, args.out_topic, args.recipe, args.n, args.group)
        print(json.dumps(result))
    else:
        trial(args.bootstrap, args.n, args.arf_n, args.repeat)


if __name__ == "__main__":
    main()
