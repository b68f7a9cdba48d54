"""The worker snapshots its models into the Redis registry and onto model.snapshots."""

from __future__ import annotations

import asyncio
import signal

import orjson
import pytest
import redis.asyncio as aioredis
from confluent_kafka import Consumer, TopicPartition

from online_models.storage.redis_registry import ModelRegistry
from streams.kafka.consumer import read_topic
from streams.testing import SIGNING_KEY, StreamEnv, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def _end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-end-offset"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


async def test_snapshots_every_n_events_and_at_shutdown_carry_offsets_and_metrics(stream_env: StreamEnv) -> None:
    stream_env.write_config(
        [
            {
                "name": "lr",
                "recipe": "logistic_regression",
                "task": "binary",
                "snapshot": {"every_events": 500, "every_seconds": None, "first_after": None, "idle_seconds": None},
            }
        ]
    )
    stream_env.create_topics()
    worker = stream_env.start_worker()
    stream_env.cli("produce", "--synthetic", "agrawal", "--n", "1700")
    read_topic(stream_env.bootstrap, stream_env.topic("predictions"), expected=1700, timeout=120)
    stream_env.stop_worker(worker, signal.SIGTERM)
    assert worker.returncode == 0, stream_env.worker_logs()[-3000:]

    client = aioredis.from_url(stream_env.redis_url)
    registry = ModelRegistry(client, stream_env.name, SIGNING_KEY.encode())
    try:
        versions = await registry.versions("lr")
        assert [(m["version"], m["labeled"], m["reason"]) for m in versions] == [
            (1, 500, "every_events"),
            (2, 1000, "every_events"),
            (3, 1500, "every_events"),
            (4, 1700, "shutdown"),
        ]
        # The last snapshot read the whole learn log: its offset is the log's end (records travel
        # in bundles, so the end is the count of bundles, not of events).
        features = stream_env.topic("features")
        end = _end_offset(stream_env.bootstrap, features)
        assert end >= 1
        assert versions[-1]["offsets"] == {features: {"0": end}}
        model, meta = await registry.load("lr")
        assert (meta["version"], model.labeled, model.metric_values()) == (4, 1700, meta["metrics"])
    finally:
        await client.aclose()

    published = wait_for(
        lambda: read_topic(stream_env.bootstrap, stream_env.topic("model.snapshots"), expected=4, timeout=10),
        timeout=30,
        what="snapshot metadata on model.snapshots",
    )
    assert [orjson.loads(r.value)["version"] for r in published] == [1, 2, 3, 4]
    assert {r.key for r in published} == {b"lr"}


async def test_a_new_model_is_snapshotted_after_its_first_labels_and_when_the_stream_goes_idle(
    stream_env: StreamEnv,
) -> None:
    stream_env.write_config([{"name": "lr", "recipe": "logistic_regression", "task": "binary"}])  # defaults
    stream_env.create_topics()
    stream_env.start_worker()
    stream_env.cli("produce", "--synthetic", "agrawal", "--n", "300")

    client = aioredis.from_url(stream_env.redis_url)
    registry = ModelRegistry(client, stream_env.name, SIGNING_KEY.encode())
    try:

        async def reasons() -> list[tuple[int, str]]:
            return [(m["labeled"], m["reason"]) for m in await registry.versions("lr")]

        found: list[tuple[int, str]] = []
        for _ in range(600):  # the idle snapshot comes 5 s (idle_seconds) after the last label: 60 s at most here
            found = await reasons()
            if len(found) >= 2:
                break
            await asyncio.sleep(0.1)
        assert found == [(100, "first_labels"), (300, "idle")], stream_env.worker_logs()[-3000:]
    finally:
        await client.aclose()
