"""Recipes: a name -> a River estimator built with River's own defaults.

A recipe called with no parameters returns exactly what River's constructors return, so any
result can be reproduced with River alone. Parameters go to the learning estimator (the last
step of a pipeline), never to the scaler.

>>> from river import linear_model, preprocessing
>>> repr(build("logistic_regression")) == repr(preprocessing.StandardScaler() | linear_model.LogisticRegression())
True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from river import base, compose, forest, linear_model, naive_bayes, preprocessing, tree

from online_models.exceptions import ConfigError

CLASSIFICATION = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})


@dataclass(frozen=True)
class Recipe:
    """How to build one kind of model: the estimator class, whether it is scaled, its tasks."""

    name: str
    estimator: Callable[..., base.Estimator]
    tasks: frozenset[str]
    scaled: bool = False

    def parameter_names(self) -> set[str]:
        return set(inspect.signature(self.estimator).parameters)

    def build(self, params: dict[str, Any] | None = None) -> base.Estimator:
        model = self.estimator(**(params or {}))
        return preprocessing.StandardScaler() | model if self.scaled else model


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("logistic_regression", linear_model.LogisticRegression, frozenset({"binary"}), scaled=True),
        Recipe("hoeffding_tree", tree.HoeffdingTreeClassifier, CLASSIFICATION),
        Recipe("hoeffding_adaptive_tree", tree.HoeffdingAdaptiveTreeClassifier, CLASSIFICATION),
        Recipe("adaptive_random_forest", forest.ARFClassifier, CLASSIFICATION),
        Recipe("naive_bayes", naive_bayes.GaussianNB, CLASSIFICATION),
        Recipe("linear_regression", linear_model.LinearRegression, REGRESSION, scaled=True),
        Recipe("hoeffding_tree_regressor", tree.HoeffdingTreeRegressor, REGRESSION),
    )
}


def get(name: str, field: str = "recipe") -> Recipe:
    """Return the recipe called ``name``; ConfigError naming ``field`` when there is none."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(field, f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None


def build(name: str, params: dict[str, Any] | None = None) -> base.Estimator:
    """Build a fresh estimator for recipe ``name`` with ``params`` (River's defaults when empty)."""
    return get(name).build(params)


def final_estimator(model: base.Estimator) -> base.Estimator:
    """The learning estimator of a model: the last step of a pipeline, or the model itself."""
    if isinstance(model, compose.Pipeline):
        return list(model.steps.values())[-1]
    return model
