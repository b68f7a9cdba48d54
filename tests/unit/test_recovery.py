"""Exact recovery in pure logic: a learner checkpointed anywhere and resumed ends byte-identical
to one that never stopped, and a redelivered event or label is never learned twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from online_models import checkpoint
from online_models.checkpoint import CheckpointError, CheckpointStore, state_digest
from online_models.config import StreamwiseConfig, parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.events import FeatureVector, Origin
from online_models.labels import parse_label_event
from online_models.pipeline import Learner, Pipeline
from tests.conftest import SEEDED

KEY = b"recovery-test-signing-key-000000"
CONFIG = parse_config(
    {
        "models": [
            {
                "name": "ht",
                "recipe": "hoeffding_tree",
                "task": "binary",
                "drift": {"detector": "ddm", "policy": "reset"},
            },
            {
                "name": "arf",
                "recipe": "adaptive_random_forest",
                "task": "binary",
                "params": SEEDED["adaptive_random_forest"],
            },
        ],
        "labels": {"ttl_seconds": 3600},
    }
)


def learn_log(n: int, delay: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """The features log of one partition: feature vectors and, ``delay`` events later, labels."""
    pipeline = Pipeline(CONFIG)
    log = []
    for kind, message in with_delayed_labels(synthetic_events("agrawal_drift", n, seed=seed), delay):
        if kind == EVENT:
            vector = pipeline.featurize(pipeline.validate(orjson.dumps(message)), {})
            log.append(("vector", vector.to_json()))
        else:
            log.append(("label", orjson.dumps(message)))
    return log


def feed(learner: Learner, log: list[tuple[str, bytes]], start: int = 0) -> int:
    """Feed ``log`` from offset ``start`` as the learn agent does; returns how many were learned."""
    steps = 0
    for offset, (kind, value) in enumerate(log[start:], start):
        origin = Origin("features", 0, offset)
        if learner.has_consumed(origin):
            continue
        if kind == "label":
            learner.join_label(parse_label_event(value), origin)
        else:
            learner.learn(FeatureVector.from_json(value), origin)
        learner.consumed(origin)
        steps += 1
    return steps


def state(learner: Learner) -> list[tuple[str, dict[str, float], int, int]]:
    return [(state_digest(m.model), m.metric_values(), m.labeled, m.scored) for m in learner.models]


@pytest.mark.parametrize("crash_at", [1, 777, 1500, 2999])
def test_a_checkpoint_restored_and_replayed_ends_byte_identical(crash_at: int) -> None:
    log = learn_log(1500, delay=40)
    reference = Learner(CONFIG)
    feed(reference, log)

    crashed = Learner(CONFIG)
    feed(crashed, log[: crash_at // 2])
    saved = checkpoint.take(crashed, CONFIG, KEY)
    feed(crashed, log[crash_at // 2 : crash_at])  # learned, then lost with the process
    restored = checkpoint.restore(saved, CONFIG, KEY)
    replayed = feed(restored, log, start=0)  # the broker redelivers from an older committed offset

    assert replayed == len(log) - crash_at // 2  # what came before the checkpoint was skipped
    assert state(restored) == state(reference)
    assert len(restored.pending) == len(reference.pending) == 0


def test_redelivered_events_and_labels_are_not_learned_twice() -> None:
    log = learn_log(600, delay=30)
    reference = Learner(CONFIG)
    feed(reference, log)
    # An upstream stage replayed after a crash: the same messages again, at new offsets.
    redelivered = log[:400] + log[250:400] + log[400:] + log[-50:]
    learner = Learner(CONFIG)
    feed(learner, redelivered)

    assert state(learner) == state(reference)
    assert [m.labeled for m in learner.models] == [600, 600]


def test_a_redelivered_event_with_an_inline_label_is_dropped() -> None:
    learner = Learner(CONFIG)
    vector = FeatureVector.from_json(orjson.dumps({"event_id": "e1", "ts": 0, "features": {"a": 1.0}, "label": True}))
    first, again = learner.learn(vector), learner.learn(vector)
    assert (first.duplicate, len(first.predictions)) == (False, 2)
    assert (again.duplicate, again.predictions) == (True, [])
    assert [m.labeled for m in learner.models] == [1, 1]


def test_the_dedupe_window_is_bounded() -> None:
    config = StreamwiseConfig(**{**CONFIG.model_dump(), "dedupe": {"window": 10}})
    learner = Learner(config)
    for i in range(100):
        learner.learn(FeatureVector.from_json(orjson.dumps({"event_id": f"e{i}", "ts": 0, "features": {"a": 1.0}})))
    assert len(learner.seen) == 10


def test_a_checkpoint_of_another_config_or_key_is_refused() -> None:
    saved = checkpoint.take(Learner(CONFIG), CONFIG, KEY)
    other = StreamwiseConfig(**{**CONFIG.model_dump(), "dedupe": {"window": 10}})
    with pytest.raises(CheckpointError, match="config"):
        checkpoint.restore(saved, other, KEY)
    with pytest.raises(CheckpointError, match="tampered"):
        checkpoint.restore(saved, CONFIG, b"another-key-another-key-0000000")


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[CheckpointStore]:
    client = aioredis.from_url(redis_url)
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield CheckpointStore(client, namespace, "group")
    async for key in client.scan_iter(f"{namespace}:*"):
        await client.delete(key)
    await client.aclose()


async def test_the_stored_checkpoint_never_goes_backwards(store: CheckpointStore) -> None:
    log = learn_log(200, delay=10)
    learner = Learner(CONFIG)
    feed(learner, log[:100])
    early = checkpoint.take(learner, CONFIG, KEY)
    feed(learner, log, start=100)
    late = checkpoint.take(learner, CONFIG, KEY)

    assert await store.save(late)
    assert not await store.save(early)  # a worker that lost the partition finishing late
    loaded = await store.load(0)
    assert loaded is not None and loaded.position == late.position == len(log)
    assert state(checkpoint.restore(loaded, CONFIG, KEY)) == state(learner)
    assert await store.load(5) is None
