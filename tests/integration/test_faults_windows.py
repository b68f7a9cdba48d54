"""Windowed per-key features on a real broker and redis-server, across kill -9 of the worker.

A window's state lives in the intake's checkpoint: a worker killed mid-stream restores it and reads
the raw topic on from the checkpoint's offset. Every copy of every feature vector in the learn log
(an event featurized again after a crash is written twice) must carry the windows computed from
scratch over its key's events, and equal the embedded runner's vector of the same event.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import defaultdict

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from online_models.config import parse_config
from online_models.datasets import synthetic_events
from online_models.events import FeatureVector
from online_models.learnlog import decode_records
from online_models.pipeline import EmbeddedRunner, Pipeline
from online_models.storage.checkpoint_store import CheckpointStore
from streams.kafka import topics
from streams.kafka.producer import encode_event, produce
from streams.kafka.topics import record_kind
from streams.testing import StreamEnv, wait_for
from tests.integration.faults import FaultRow, counts, final_learner, learned, predicted_ids, print_table, same_state
from tests.support.windows import expected, mismatch

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.redis]

MODELS = [{"name": "lr", "recipe": "logistic_regression", "task": "binary"}]
FEATURES = {
    "windows": [
        {"source": "salary", "seconds": 5, "stats": ["count", "sum", "mean", "min", "max", "var"]},
        {"source": "age", "seconds": 30, "stats": ["count", "mean", "max"]},
    ],
    "since_previous": True,
}
CONFIG = parse_config({"models": MODELS, "features": FEATURES})
# Checkpoints by time only, so that a kill lands after events the intake's checkpoint does not hold.
CHECKPOINTS = {"STREAMWISE_CHECKPOINT_EVERY_EVENTS": "1000000", "STREAMWISE_CHECKPOINT_EVERY_SECONDS": "2"}
CHUNK, CHUNKS = 5_000, 3


def windowed_events(n: int, seed: int) -> list[dict]:
    """Agrawal events of 97 keys (each key about every second of event time): a tenth late by up
    to 8 s (inside the 5 s window or past it), a twentieth without ``salary``."""
    rng = random.Random(seed)
    events = []
    for event in synthetic_events("agrawal", n, seed=seed):
        if rng.random() < 0.1:
            event["ts"] -= rng.randrange(0, 8_000)
        if rng.random() < 0.05:
            del event["features"]["salary"]
        events.append(event)
    return events


def send(env: StreamEnv, events: list[dict]) -> None:
    assert not produce(env.bootstrap, [(env.topic("events.raw"), *encode_event(e)) for e in events]).errors


def intake_position(env: StreamEnv) -> int:
    """How far the raw partition's newest intake checkpoint goes (0: none yet)."""

    async def load() -> int:
        client = aioredis.from_url(env.redis_url)
        try:
            found = await CheckpointStore(client, env.name, env.name).load("intake", 0)
        finally:
            await client.aclose()
        return found.position if found is not None else 0

    return asyncio.run(load())


def learn_log_vectors(env: StreamEnv, timeout: float = 300) -> dict[str, list[FeatureVector]]:
    """Every feature vector in the learn log, by event_id: every copy, read to the high watermark."""
    consumer = Consumer({"bootstrap.servers": env.bootstrap, "group.id": f"{env.name}-vectors"})
    partition = TopicPartition(env.topic(topics.FEATURES), 0, OFFSET_BEGINNING)
    high = consumer.get_watermark_offsets(partition, timeout=30)[1]
    consumer.assign([partition])
    found: dict[str, list[FeatureVector]] = defaultdict(list)
    deadline, last = time.monotonic() + timeout, -1
    try:
        while last < high - 1:
            assert time.monotonic() < deadline, f"read the learn log to offset {last} of {high} within {timeout}s"
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                continue
            last = int(message.offset() or 0)
            for record in decode_records(message.value(), record_kind(message.headers())):  # type: ignore[arg-type]
                if isinstance(record, FeatureVector):
                    found[record.event_id].append(record)
    finally:
        consumer.close()
    return found


def test_kill_9_mid_stream_windows_recover_exactly_and_nothing_is_lost(stream_env: StreamEnv) -> None:
    n = CHUNK * CHUNKS
    events = windowed_events(n, seed=31)
    reference = EmbeddedRunner(Pipeline(CONFIG))
    vectors: dict[str, FeatureVector] = {}
    for event in events:
        vector = reference.process(encode_event(event)[1]).vector
        assert vector is not None
        vectors[event["event_id"]] = vector
    stream_env.write_config(MODELS, features=FEATURES)
    stream_env.create_topics()

    # A chunk at a time, in two halves; the worker is killed in each of the first two chunks, once
    # its intake has a checkpoint in the first half and the learner has learned events of the second
    # half that the intake's checkpoint does not hold yet (the new worker featurizes them again, from
    # the restored windows), or else the whole chunk. The next chunk's windows hold events of before.
    worker, kills = None, []
    for c in range(CHUNKS):
        start, middle, end = c * CHUNK, c * CHUNK + CHUNK // 2, (c + 1) * CHUNK
        send(stream_env, events[start:middle])
        if worker is None:
            worker = stream_env.start_worker(**CHECKPOINTS)
        if c == CHUNKS - 1:
            send(stream_env, events[middle:end])
            break
        wait_for(
            lambda start=start: intake_position(stream_env) > start,
            timeout=300,
            interval=0.2,
            what=f"an intake checkpoint past offset {start}",
            describe=lambda: counts(stream_env),
        )
        send(stream_env, events[middle:end])
        wait_for(
            lambda middle=middle, end=end: (
                learned(stream_env) > max(intake_position(stream_env), middle) or learned(stream_env) >= end
            ),
            timeout=300,
            interval=0.1,
            what=f"events past offset {middle} learned, not all in the intake's checkpoint",
            describe=lambda: counts(stream_env),
        )
        stream_env.stop_worker(worker, signal.SIGKILL)
        kills.append((learned(stream_env), intake_position(stream_env)))
        worker = stream_env.start_worker(**CHECKPOINTS) if c % 2 else None  # else restarted after the next chunk
    wait_for(
        lambda: learned(stream_env) >= n,
        timeout=300,
        interval=0.2,
        what=f"{n} events learned",
        describe=lambda: counts(stream_env),
    )

    # The online store: each key's newest vector, with its windows, as the embedded runner keeps it.
    client = redis.Redis.from_url(stream_env.redis_url)

    def stored_like_reference() -> bool:
        raw = {key: client.get(f"{stream_env.name}:features:{key}") for key in reference.features.vectors}
        return all(v is not None and orjson.loads(v) == reference.features.vectors[k] for k, v in raw.items())

    wait_for(stored_like_reference, timeout=60, what="every key's newest vector in the online store")
    assert worker is not None
    stream_env.stop_worker(worker, signal.SIGTERM)  # the last checkpoint

    written = learn_log_vectors(stream_env)
    assert written.keys() == vectors.keys()
    twice = sum(len(copies) - 1 for copies in written.values())
    wanted = expected(CONFIG.features, [(e["key"], e["ts"], e["features"]) for e in events])
    for event, want in zip(events, wanted, strict=True):
        for copy in written[event["event_id"]]:
            assert mismatch(CONFIG.features, copy.features, want) is None, (event, copy)
            assert copy.features == vectors[event["event_id"]].features  # the embedded runner's, to the bit

    final = final_learner(stream_env, CONFIG, partition=0)
    predictions = predicted_ids(stream_env)
    total = final.models[0].labeled
    fault = f"windows: kill -9 x2 at (learned, intake checkpoint) {kills}; {twice} vectors written again, all exact"
    print_table([FaultRow(fault, n, len(predictions), total, n - len(predictions), total - n)])
    assert set(predictions) == set(vectors)  # 0 lost
    assert total == n  # learned once each
    assert same_state(final, reference.learner), "the final model differs from the embedded run's"
    assert "Traceback" not in stream_env.worker_logs()
