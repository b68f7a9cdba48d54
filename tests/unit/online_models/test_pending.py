"""Delayed labels in the embedded pipeline: River's delayed progressive validation, bounded state."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import orjson
import pytest

from online_models.config import StreamwiseConfig, parse_config
from online_models.datasets import EVENT, synthetic_events, with_delayed_labels
from online_models.pipeline import EmbeddedRunner, Pipeline, ProcessResult
from tests.support.references import SEEDED, river_reference, spec_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def config(recipes: list[str], **extra: object) -> StreamwiseConfig:
    models = [{"name": r, "recipe": r, "task": "binary", "params": SEEDED.get(r, {})} for r in recipes]
    return parse_config({"models": models, **extra})


def feed(runner: EmbeddedRunner, messages: list[tuple[str, dict]]) -> list[ProcessResult]:
    return [
        runner.process(orjson.dumps(m)) if kind == EVENT else runner.process_label(orjson.dumps(m))
        for kind, m in messages
    ]


@pytest.mark.parametrize("delay", [1, 25, 400])
@pytest.mark.parametrize("recipe", ["logistic_regression", "hoeffding_tree", "naive_bayes"])
def test_delayed_labels_equal_progressive_val_score_with_delay(recipe: str, delay: int) -> None:
    n = 2000
    runner = EmbeddedRunner(Pipeline(config([recipe])))
    feed(runner, list(with_delayed_labels(synthetic_events("agrawal_drift", n, seed=5), delay)))

    model = runner.learner.models[0]
    assert (model.events, model.labeled, len(runner.learner.pending)) == (n, n, 0)
    expected = river_reference(spec_for(recipe, "binary"), "agrawal_drift", n, seed=5, delay=delay)
    for name, value in expected.items():
        assert math.isclose(model.metric_values()[name], value, rel_tol=0, abs_tol=1e-12), (name, value)


def test_a_label_before_its_event_waits_and_is_joined_when_the_event_comes() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"])))
    events = list(synthetic_events("agrawal", 50, seed=1))
    labels = [("label", {"event_id": e["event_id"], "label": e["label"], "ts": e["ts"]}) for e in events]
    results = feed(runner, labels + [(EVENT, {k: v for k, v in e.items() if k != "label"}) for e in events])

    assert runner.learner.models[0].labeled == 50
    assert len(runner.learner.pending) == 0
    assert [r.label_delays for r in results[50:53]] == [[0.0], [0.0], [0.0]]
    assert all(not r.dead_letters for r in results)


def test_unlabeled_predictions_expire_by_count_and_memory_stays_bounded() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"], labels={"max_pending": 100})))
    events = [(EVENT, {k: v for k, v in e.items() if k != "label"}) for e in synthetic_events("agrawal", 5000)]
    expired = sum(r.expired["naive_bayes"] for r in feed(runner, events))

    assert expired == 4900
    assert len(runner.learner.pending) == len(runner.learner.pending.store) == 100
    assert len(runner.learner.pending._settled) <= 100


def test_unlabeled_predictions_expire_by_event_time() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"], labels={"ttl_seconds": 1.0})))
    events = [(EVENT, {k: v for k, v in e.items() if k != "label"}) for e in synthetic_events("agrawal", 500)]
    results = feed(runner, events)  # 10 ms apart: 1 s of event time holds 101 events

    assert sum(r.expired["naive_bayes"] for r in results) == 500 - 101
    assert len(runner.learner.pending) == 101


def test_labels_for_expired_unknown_or_settled_events_are_dead_lettered() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"], labels={"ttl_seconds": 1.0})))
    events = list(synthetic_events("agrawal", 400))
    feed(runner, [(EVENT, {k: v for k, v in e.items() if k != "label"}) for e in events[:200]])

    def label(event_id: str, ts: int) -> list[str]:
        result = runner.process_label(orjson.dumps({"event_id": event_id, "label": True, "ts": ts}))
        return [d.reason for d in result.dead_letters]

    assert label(events[0]["event_id"], events[199]["ts"]) == ["label_expired"]
    assert label(events[150]["event_id"], events[199]["ts"]) == []  # joined
    assert label(events[150]["event_id"], events[199]["ts"]) == ["label_duplicate"]
    assert label("never-seen", events[199]["ts"]) == []  # waits for its event ...
    late = feed(runner, [(EVENT, {k: v for k, v in e.items() if k != "label"}) for e in events[200:]])
    unmatched = [d for r in late for d in r.dead_letters]
    assert [(d.reason, d.event_id) for d in unmatched] == [("label_unmatched", "never-seen")]


def test_an_invalid_label_message_is_a_dead_letter_with_its_reason() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"])))
    reasons = [
        runner.process_label(data).dead_letters[0].reason
        for data in (b"{", b'{"label": 1}', b'{"event_id": "e"}', b'{"event_id": "e", "label": [1]}')
    ]
    assert reasons == ["invalid_json", "missing_event_id", "missing_label", "invalid_type"]


def test_a_redelivered_event_waiting_for_its_label_gets_its_first_answers_and_is_held_once() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"])))
    events = list(with_delayed_labels(synthetic_events("agrawal", 30, seed=2), 30))
    unlabeled = [(k, m) for k, m in events if k == EVENT]
    feed(runner, [(EVENT, dict(e, label=True)) for _, e in unlabeled[:10]])  # a warm model
    first = feed(runner, unlabeled[10:])
    again = feed(runner, unlabeled[10:])  # redelivered after a restart, say

    nb = runner.learner.models[0]
    assert [r.predictions[0].proba for r in again] == [r.predictions[0].proba for r in first]
    assert (nb.events, len(runner.learner.pending)) == (30, 20)


def label_reasons(runner: EmbeddedRunner, *labels: dict) -> list[list[str]]:
    return [[d.reason for d in runner.process_label(orjson.dumps(m)).dead_letters] for m in labels]


def test_a_second_label_is_a_duplicate_whether_the_first_waits_or_was_joined() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"])))
    label = {"event_id": "e", "label": True, "ts": 0}
    assert label_reasons(runner, label, label) == [[], ["label_duplicate"]]
    runner.process(orjson.dumps({"event_id": "e", "ts": 0, "features": {"a": 1.0}}))  # joins the first
    assert label_reasons(runner, label) == [["label_duplicate"]]
    runner.process_label(orjson.dumps({"event_id": "f", "label": True, "ts": 0}))
    inline = runner.process(orjson.dumps({"event_id": "f", "ts": 0, "features": {"a": 1.0}, "label": False}))
    assert [d.reason for d in inline.dead_letters] == ["label_duplicate"]
    assert runner.learner.models[0].labeled == 2


def test_future_timestamps_neither_pin_labels_nor_expire_everything() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"], labels={"ttl_seconds": 1.0})))
    events = [(EVENT, {k: v for k, v in e.items() if k != "label"}) for e in synthetic_events("agrawal", 300)]
    feed(runner, events[:100])
    runner.process_label(orjson.dumps({"event_id": "ghost", "label": True, "ts": "2099-01-01T00:00:00Z"}))
    bogus = runner.process(orjson.dumps({"event_id": "bogus", "ts": "2999-01-01T00:00:00Z", "features": {"a": 1}}))
    assert sum(bogus.expired.values()) == 0  # a year-2999 event does not move event time
    late = feed(runner, events[100:])
    assert ("label_unmatched", "ghost") in [(d.reason, d.event_id) for r in late for d in r.dead_letters]
    assert len(runner.learner.pending) <= 102


def test_out_of_range_timestamps_and_empty_messages_are_dead_letters() -> None:
    runner = EmbeddedRunner(Pipeline(config(["naive_bayes"])))
    assert label_reasons(runner, {"event_id": "e", "label": True, "ts": "0001-01-01T00:30:00+01:00"}) == [
        ["invalid_ts"]
    ]
    assert [d.reason for d in runner.process_label(None).dead_letters] == ["empty_message"]  # type: ignore[arg-type]
    assert [d.reason for d in runner.process(None).dead_letters] == ["empty_message"]  # type: ignore[arg-type]
