"""River's own answers to compare against: prequential scores from ``progressive_val_score``, the
recipes they are computed for, and model configs the integration tests share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from river import evaluate, stream

from online_models import metrics
from online_models.config import ModelSpec
from online_models.datasets import samples


def river_reference(
    spec: ModelSpec, dataset: str, n: int, seed: int, delay: int | None = None, build: Callable[[], Any] | None = None
) -> dict[str, float]:
    """Final metrics of ``river.evaluate.progressive_val_score`` for each metric of the task,
    with a model built by River's own constructors (``build``; by default through the spec's
    classes); ``delay`` reveals each label that many events late."""
    result = {}
    for name, metric in metrics.for_task(spec.task).items():
        model = (build or spec.build)()
        score = evaluate.progressive_val_score(samples(dataset, n, seed), model, metric, delay=delay)
        result[name] = float(score.get())
    return result


def anomaly_reference(spec: ModelSpec, dataset: str, n: int, seed: int, delay: int | None = None) -> dict[str, float]:
    """River's delayed progressive validation of an anomaly detector that learns each event when it comes.

    ``progressive_val_score`` learns an unsupervised model when the label is revealed; a detector in
    production learns every event on arrival (most never get a label), so only the scoring waits:
    the score given on arrival is scored when the label comes, ``delay`` events later.
    """
    result = {}
    for name, metric in metrics.for_task("anomaly").items():
        model, scores = spec.build(), {}
        for i, x, y in stream.simulate_qa(samples(dataset, n, seed), moment=None, delay=delay):
            if y is None:  # the question: score, then learn without the label
                scores[i] = model.score_one(x)
                model.learn_one(x)
            else:  # the answer
                metric.update(y, scores.pop(i))
        result[name] = float(metric.get())
    return result


# Recipes with a random source get a seed so that two runs (and River's reference) agree.
SEEDED = {"hoeffding_adaptive_tree": {"seed": 42}, "adaptive_random_forest": {"seed": 42}}

CLASSIFIERS = [
    "logistic_regression",
    "hoeffding_tree",
    "hoeffding_adaptive_tree",
    "adaptive_random_forest",
    "naive_bayes",
]
REGRESSORS = ["linear_regression", "hoeffding_tree_regressor"]


def spec_for(recipe: str, task: str) -> ModelSpec:
    return ModelSpec(name=recipe, recipe=recipe, task=task, params=SEEDED.get(recipe, {}))


# One hoeffding tree whose drift detector resets it: on agrawal_drift with late labels it fires reliably.
DRIFT_RESET_MODELS = [
    {"name": "ht", "recipe": "hoeffding_tree", "task": "binary", "drift": {"detector": "fhddm", "policy": "reset"}}
]
