"""A model's prequential counts and metrics: what it scored, what it could not take, label types."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from river import base, evaluate

from online_models import metrics, recipes
from online_models.config import ModelSpec, parse_config
from online_models.datasets import samples
from online_models.evaluation import PrequentialModel
from online_models.events import FeatureVector, Origin
from online_models.learner import Learner
from online_models.status import learner_status


class FailsOnNegative(base.Classifier):
    """A classifier that answers, but raises when asked to learn an event with ``x < 0``."""

    def learn_one(self, x: dict, y: Any) -> None:
        if x["x"] < 0:
            raise ValueError("cannot learn a negative x")

    def predict_proba_one(self, x: dict) -> dict[Any, float]:
        return {True: 0.6, False: 0.4}


def learner(*recipes: str, task: str = "binary") -> Learner:
    return Learner(parse_config({"models": [{"name": r, "recipe": r, "task": task} for r in recipes]}))


def vector(i: int, x: dict, label: Any) -> FeatureVector:
    return FeatureVector(f"e{i}", 1_767_225_600_000 + i, None, x, label, Origin("raw", 0, i))


def test_a_model_that_cannot_learn_an_event_publishes_its_prediction_and_scores_nothing() -> None:
    learning = learner("naive_bayes")
    model = learning.models[0]
    model.model = FailsOnNegative()

    result = learning.apply(vector(0, {"x": -1.0}, True))

    assert [p.model for p in result.predictions] == ["naive_bayes"]
    assert [(d.reason, d.model) for d in result.dead_letters] == [("model_error", "naive_bayes")]
    assert (model.labeled, model.scored, model.metric_values()) == (0, 0, {})
    assert model.failures == {"learn: ValueError": 1}
    learning.apply(vector(1, {"x": 1.0}, True))
    assert (model.labeled, model.scored) == (1, 1) and set(model.metric_values()) == set(metrics.for_task("binary"))


@pytest.mark.parametrize("recipe", ["logistic_regression", "hoeffding_tree", "naive_bayes"])
def test_labels_zero_and_one_come_back_as_numbers_and_score_as_river_does(recipe: str) -> None:
    pairs = [(x, int(y)) for x, y in samples("shop", 600, seed=3)]
    learning = learner(recipe)
    answers = [learning.apply(vector(i, x, y)).predictions[0] for i, (x, y) in enumerate(pairs)]

    assert {type(a.prediction) for a in answers[1:]} == {int}
    assert {type(k) for a in answers[1:] for k in a.proba} == {int}
    model = learning.models[0]
    for name, metric in metrics.for_task("binary").items():
        expected = evaluate.progressive_val_score(iter(pairs), recipes.build(recipe), metric).get()
        assert math.isclose(model.metric_values()[name], expected, rel_tol=0, abs_tol=1e-12), name


@pytest.mark.parametrize("recipe", ["logistic_regression", "hoeffding_tree", "naive_bayes"])
def test_text_labels_with_a_positive_class_learn_and_score_as_river_does_on_booleans(recipe: str) -> None:
    pairs = list(samples("shop", 600, seed=3))
    config = {"models": [{"name": recipe, "recipe": recipe, "task": "binary"}], "labels": {"positive": "fraud"}}
    learning = Learner(parse_config(config))
    answers = [learning.apply(vector(i, x, "fraud" if y else "ok")).predictions[0] for i, (x, y) in enumerate(pairs)]

    assert {a.prediction for a in answers[1:]} == {"fraud", "ok"}  # not True/False, nor "ok" learned as True
    assert {k for a in answers[1:] for k in a.proba} == {"fraud", "ok"}
    model = learning.models[0]
    for name, metric in metrics.for_task("binary").items():
        expected = evaluate.progressive_val_score(iter(pairs), recipes.build(recipe), metric).get()
        assert math.isclose(model.metric_values()[name], expected, rel_tol=0, abs_tol=1e-12), name


def test_text_labels_without_a_positive_class_are_refused_not_learned_as_true() -> None:
    learning = learner("logistic_regression")
    result = learning.apply(vector(0, {"x": 1.0}, "no"))

    assert [(d.reason, d.model) for d in result.dead_letters] == [("model_error", "logistic_regression")]
    assert "set labels.positive" in result.dead_letters[0].detail
    model = learning.models[0]
    assert (model.labeled, model.metric_values(), model.failures) == (0, {}, {"learn: BinaryLabelError": 1})


def test_a_partition_counts_its_dead_letters_and_what_waits() -> None:
    learning = learner("logistic_regression")
    learning.apply(vector(0, {"x": 1.0}, None))  # a prediction waits for its label
    learning.apply(vector(1, {"x": 2.0}, "no"))  # a binary label that is not one: model_error
    status = learner_status(learning, datetime(2026, 1, 1, tzinfo=UTC))
    assert (status["dead_letters"], status["waiting_predictions"], status["waiting_labels"]) == (
        {"model_error": 1},
        1,
        0,
    )
    restored = pickle.loads(pickle.dumps(learning))  # a checkpoint keeps the counts
    assert restored.letters == learning.letters


def test_the_history_stays_dense_and_bounded() -> None:
    model = PrequentialModel(ModelSpec(name="nb", recipe="naive_bayes", task="binary"), 10, history_points=20)
    for x, y in samples("shop", 1000, seed=3):
        model.step(x, y)
    labeled = [p.labeled for p in model.history]
    assert len(labeled) <= 20 and model.history_every == 80
    assert labeled == list(range(80, 1001, 80))  # evenly spaced after two thinnings (10 -> 20 -> 40 -> 80)
