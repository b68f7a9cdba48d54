from datetime import UTC, datetime

import orjson

from online_models.config import parse_config
from online_models.events import Origin, from_ms
from online_models.pipeline import EmbeddedRunner, Pipeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def runner(**features) -> EmbeddedRunner:
    config = parse_config(
        {
            "models": [
                {"name": "lr", "recipe": "logistic_regression", "task": "binary"},
                {"name": "ht", "recipe": "hoeffding_tree", "task": "binary"},
            ],
            "features": features,
        }
    )
    return EmbeddedRunner(Pipeline(config, clock=lambda: T0))


def event(i: int, **extra) -> bytes:
    return orjson.dumps({"event_id": f"e{i}", "key": "k", "features": {"a": float(i)}, "label": i % 2 == 0} | extra)


def test_every_model_predicts_and_learns_each_event() -> None:
    r = runner()
    results = [r.process(event(i)) for i in range(10)]
    assert [len(res.predictions) for res in results] == [2] * 10
    assert [m.labeled for m in r.learner.models] == [10, 10]
    first = results[0].predictions[0]
    assert (first.event_id, first.model, from_ms(first.ts_ms), from_ms(first.processed_ms)) == ("e0", "lr", T0, T0)


def test_invalid_event_becomes_a_dead_letter_with_its_origin() -> None:
    result = runner().process(b"{oops", Origin("raw", 0, 41))
    assert result.predictions == [] and result.vector is None
    assert [(d.reason, d.origin) for d in result.dead_letters] == [("invalid_json", Origin("raw", 0, 41))]


def test_a_model_that_raises_dead_letters_only_its_own_answer() -> None:
    r = runner()
    r.process(event(0))
    # A feature that was a number becomes text: the tree's numeric splitter cannot learn it; the
    # linear model one-hot encodes it.
    result = r.process(orjson.dumps({"event_id": "s", "features": {"a": "text"}, "label": True}))
    assert [p.model for p in result.predictions] == ["lr", "ht"]  # the tree answered; it cannot learn it
    assert [(d.reason, d.model, d.event_id) for d in result.dead_letters] == [("model_error", "ht", "s")]
    assert r.learner.models[1].failures == {"learn: TypeError": 1}
    assert len(r.process(event(1)).predictions) == 2  # and the stream goes on


def test_unlabeled_events_are_predicted_but_not_learned() -> None:
    r = runner()
    r.process(orjson.dumps({"event_id": "u", "features": {"a": 1.0}}))
    assert [(m.events, m.labeled) for m in r.learner.models] == [(1, 0), (1, 0)]


def test_key_state_is_kept_per_key() -> None:
    r = runner(aggregates=[{"source": "a", "stats": ["count"]}])
    for i in range(3):
        r.process(event(i))
    r.process(event(9, key="other"))
    assert r.intake.key_states["k"]["a"]["count"] == 3 and r.intake.key_states["other"]["a"]["count"] == 1
