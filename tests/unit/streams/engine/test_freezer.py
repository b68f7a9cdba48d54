"""A state frozen by a forked child is the state at the moment of the call, whatever happens after."""

from __future__ import annotations

import pickle

import orjson

from online_models.checkpoint import state_digest
from online_models.config import parse_config
from online_models.datasets import synthetic_events
from online_models.pipeline import EmbeddedRunner, Pipeline
from streams.engine.freezer import Freezer

CONFIG = parse_config({"models": [{"name": "ht", "recipe": "hoeffding_tree", "task": "binary"}]})


def test_a_forked_freeze_is_the_state_at_the_call_and_the_next_one_stays_in_the_thread() -> None:
    runner = EmbeddedRunner(Pipeline(CONFIG))
    events = [orjson.dumps(e) for e in synthetic_events("agrawal", 2000, seed=3)]
    for event in events[:1000]:
        runner.process(event)
    before = state_digest(runner.learner)
    freezer = Freezer(fork_above=10.0)
    freezer.seconds["p0"] = 20.0  # known to be slow: forked; then known to be quick
    forked = freezer.freeze("p0", runner.learner)
    for event in events[1000:]:  # the loop goes on at once
        runner.process(event)
    assert state_digest(pickle.loads(forked.result(timeout=60))) == before
    assert "p0" in freezer.seconds
    in_thread = freezer.freeze("p0", runner.learner)
    assert in_thread.done() and state_digest(pickle.loads(in_thread.result())) == state_digest(runner.learner)
