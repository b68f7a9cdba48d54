"""Exact recovery in pure logic: a learner checkpointed anywhere and resumed ends byte-identical
to one that never stopped, and a record written to the learn log twice is never learned twice."""

from __future__ import annotations

import orjson
import pytest

from online_models import checkpoint
from online_models.checkpoint import CheckpointError
from online_models.config import StreamwiseConfig
from online_models.datasets import synthetic_events
from online_models.events import FeatureVector, Origin
from online_models.intake import Intake
from online_models.learner import Learner
from tests.support.recovery import CONFIG, KEY, feed, learn_log, state


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
