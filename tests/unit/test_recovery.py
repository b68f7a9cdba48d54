"""Exact recovery in pure logic: a learner checkpointed anywhere and resumed ends byte-identical
to one that never stopped, and a record written to the learn log twice is never learned twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from online_models import checkpoint
from online_models.checkpoint import CheckpointError, state_digest
from online_models.config import StreamwiseConfig, parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.events import DeadLetter, FeatureVector, Origin
from online_models.intake import Intake
from online_models.learner import Learner
from online_models.learnlog import LABEL
from online_models.pipeline import Pipeline
from online_models.storage.checkpoint_store import CheckpointStore
from tests.support.references import SEEDED

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


Log = list[tuple[str | None, bytes]]  # (record kind, value) per offset of one learn-log partition


def learn_log(n: int, delay: int, seed: int = 7) -> Log:
    """The learn log of one partition: feature vectors with their raw offsets and, ``delay`` events
    later, labels with their offsets in the labels topic."""
    pipeline = Pipeline(CONFIG)
    intake = pipeline.new_intake()
    log: Log = []
    offsets = {EVENT: 0, LABEL: 0}
    for kind, message in with_delayed_labels(synthetic_events("agrawal_drift", n, seed=seed), delay):
        source = Origin(f"events.{kind}", 0, offsets[kind])
        offsets[kind] += 1
        if kind == EVENT:
            record = intake.event(orjson.dumps(message), None, None, source)
        else:
            record = pipeline.label(orjson.dumps(message), None, None, source)
        assert not isinstance(record, DeadLetter)
        log.append((None if kind == EVENT else LABEL, record.to_json()))
    return log


def feed(learner: Learner, log: Log, start: int = 0) -> int:
    """Feed ``log`` from offset ``start`` as the engine does; returns how many records it read."""
    steps = 0
    for offset, (kind, value) in enumerate(log[start:], start):
        origin = Origin("features", 0, offset)
        if learner.has_consumed(origin):  # the engine seeks past these; a redelivery would be skipped
            continue
        list(learner.read(value, kind, origin))
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
    restored = checkpoint.restore(saved, CONFIG, KEY, Learner)
    replayed = feed(restored, log, start=0)  # the broker redelivers from an older committed offset

    assert replayed == len(log) - crash_at // 2  # what came before the checkpoint was skipped
    assert state(restored) == state(reference)
    assert len(restored.pending) == len(reference.pending) == 0


def test_records_written_again_by_a_replay_are_not_learned_twice() -> None:
    log = learn_log(600, delay=30)
    reference = Learner(CONFIG)
    feed(reference, log)
    # An intake (or the label forwarding) replayed after a crash: the same records again, with the
    # same sources, at new offsets of the learn log.
    rewritten = log[:400] + log[250:400] + log[400:] + log[-50:]
    learner = Learner(CONFIG)
    feed(learner, rewritten)

    assert state(learner) == state(reference)
    assert [m.labeled for m in learner.models] == [600, 600]


def test_a_record_at_a_source_offset_already_read_is_skipped_with_no_output() -> None:
    learner = Learner(CONFIG)
    data = orjson.dumps({"event_id": "e1", "ts": 0, "features": {"a": 1.0}, "label": True})
    vector = Intake(CONFIG).event(data, None, None, Origin("events.raw", 0, 9))
    assert isinstance(vector, FeatureVector)
    first, again = learner.apply(vector), learner.apply(vector)
    assert (first.duplicate, len(first.predictions)) == (False, 2)
    assert (again.duplicate, again.predictions) == (True, [])
    assert [m.labeled for m in learner.models] == [1, 1]


def test_without_a_window_an_event_sent_twice_is_two_events_and_with_one_it_is_dropped() -> None:
    data = orjson.dumps({"event_id": "e1", "ts": 0, "features": {"a": 1.0}, "label": True})
    for window, labeled in ((0, 2), (10, 1)):
        config = StreamwiseConfig(**{**CONFIG.model_dump(), "dedupe": {"window": window}})
        learner, intake = Learner(config), Intake(config)
        for offset in (0, 1):  # one event produced twice: two offsets of the raw topic
            learner.apply(intake.event(data, None, None, Origin("events.raw", 0, offset)))  # type: ignore[arg-type]
        assert [m.labeled for m in learner.models] == [labeled, labeled]


def test_the_dedupe_window_is_bounded() -> None:
    config = StreamwiseConfig(**{**CONFIG.model_dump(), "dedupe": {"window": 10}})
    learner = Learner(config)
    for i in range(100):
        learner.learn(FeatureVector.from_json(orjson.dumps({"event_id": f"e{i}", "ts": 0, "features": {"a": 1.0}})))
    assert learner.seen is not None and len(learner.seen) == 10


def test_a_checkpoint_of_another_config_key_or_kind_is_refused() -> None:
    saved = checkpoint.take(Learner(CONFIG), CONFIG, KEY)
    other = StreamwiseConfig(**{**CONFIG.model_dump(), "dedupe": {"window": 10}})
    with pytest.raises(CheckpointError, match="config"):
        checkpoint.restore(saved, other, KEY, Learner)
    with pytest.raises(CheckpointError, match="tampered"):
        checkpoint.restore(saved, CONFIG, b"another-key-another-key-0000000", Learner)
    with pytest.raises(CheckpointError, match="format"):
        checkpoint.restore(saved, CONFIG, KEY, Intake)


def test_an_intake_checkpoint_holds_the_per_key_aggregates() -> None:
    config = StreamwiseConfig(
        **{**CONFIG.model_dump(), "features": {"aggregates": [{"source": "age", "stats": ["count"]}]}}
    )
    intake = Intake(config, partition=1)
    for offset, event in enumerate(synthetic_events("agrawal", 50, seed=1)):
        intake.event(orjson.dumps(event), None, None, Origin("events.raw", 1, offset))
    restored = checkpoint.restore(checkpoint.take(intake, config, KEY), config, KEY, Intake)
    assert restored.key_states == intake.key_states and restored.next_offset("events.raw") == 50


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
    loaded = await store.load("learner", 0)
    assert loaded is not None and loaded.position == late.position == len(log)
    assert state(checkpoint.restore(loaded, CONFIG, KEY, Learner)) == state(learner)
    assert await store.load("learner", 5) is None and await store.load("intake", 0) is None
