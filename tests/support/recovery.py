"""A learn log of one partition and a learner fed from it as the engine feeds one: what the
recovery tests checkpoint, restore and replay."""

from __future__ import annotations

import orjson

from online_models.checkpoint import state_digest
from online_models.config import parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.events import DeadLetter, Origin
from online_models.learner import Learner
from online_models.learnlog import LABEL
from online_models.pipeline import Pipeline
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
