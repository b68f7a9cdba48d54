"""Shared fixtures: reference prequential scores computed with River alone."""

from __future__ import annotations

from river import evaluate

from online_models import metrics, recipes
from online_models.config import ModelSpec
from online_models.datasets import samples


def river_reference(spec: ModelSpec, dataset: str, n: int, seed: int, delay: int | None = None) -> dict[str, float]:
    """Final metrics of ``river.evaluate.progressive_val_score`` for each metric of the task,
    with a model built by River's own constructors (through the recipe's class); ``delay``
    reveals each label that many events late."""
    result = {}
    for name, metric in metrics.for_task(spec.task).items():
        model = recipes.build(spec.recipe, spec.params)
        score = evaluate.progressive_val_score(samples(dataset, n, seed), model, metric, delay=delay)
        result[name] = float(score.get())
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
