"""Recipes: a name -> a River estimator built with River's own defaults, taking mixed features.

Events carry numbers, bools and strings (``{"amount": 12.5, "country": "FR", "new": true}``). A
recipe takes them all, as a River user would write it: models that need numbers get the strings
one-hot encoded (``compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True)``: no
zero column per category ever seen, so a string of many values stays cheap); linear models get the
numbers (bools included) standardised; trees split on strings as they are. Every recipe is a
River expression (see ``tests/contract/test_recipes.py``), so any result can be reproduced with
River alone. Parameters go to the learning estimator (the last step), never to the encoders.

>>> import numbers
>>> from river import compose, linear_model, preprocessing
>>> expected = (
...     (compose.SelectType(numbers.Number) | preprocessing.StandardScaler())
...     + (compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True))
... ) | linear_model.LogisticRegression()
>>> repr(build("logistic_regression")) == repr(expected)
True
>>> model = build("logistic_regression")
>>> model.learn_one({"amount": 12.5, "country": "FR", "new": True}, True)
>>> sorted(model["LogisticRegression"].weights)
['amount', 'country_FR', 'new']
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from river import anomaly, base, compose, forest, linear_model, naive_bayes, preprocessing, tree

from online_models.exceptions import ConfigError

CLASSIFICATION = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})
ANOMALY = frozenset({"anomaly"})


def one_hot_strings() -> base.Transformer:
    """String features as 0/1 columns named ``feature_value`` (only the event's own: drop_zeros)."""
    return compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True)


def numbers_and_one_hot_strings() -> base.Transformer:
    """Numbers and bools as they are, strings one-hot: for estimators that take any number."""
    return compose.SelectType(numbers.Number) + one_hot_strings()


def scaled_numbers_and_one_hot_strings() -> base.Transformer:
    """Numbers and bools standardised, strings one-hot: for linear models."""
    return (compose.SelectType(numbers.Number) | preprocessing.StandardScaler()) + one_hot_strings()


def unit_numbers_and_one_hot_strings() -> base.Transformer:
    """Numbers and bools scaled to [0, 1] (what half-space trees assume), strings one-hot."""
    return (compose.SelectType(numbers.Number) | preprocessing.MinMaxScaler()) + one_hot_strings()


def _linear_leaves() -> dict[str, Any]:
    # A Hoeffding tree regressor fits a linear model in each leaf, on the whole event: it needs numbers.
    return {"leaf_model": numbers_and_one_hot_strings() | linear_model.LinearRegression()}


@dataclass(frozen=True)
class Recipe:
    """How to build one kind of model: the estimator class, what prepares its inputs, its tasks.

    ``prepare`` builds the steps before the estimator (None: the estimator takes the event as it
    is); ``defaults`` builds estimator parameters that differ from River's (a fresh object each time).
    """

    name: str
    estimator: Callable[..., base.Estimator]
    tasks: frozenset[str]
    prepare: Callable[[], base.Transformer] | None = None
    defaults: Callable[[], dict[str, Any]] = field(default=dict)

    def parameter_names(self) -> set[str]:
        return set(inspect.signature(self.estimator).parameters)

    def build(self, params: dict[str, Any] | None = None) -> base.Estimator:
        model = self.estimator(**{**self.defaults(), **(params or {})})
        return self.prepare() | model if self.prepare is not None else model


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "logistic_regression", linear_model.LogisticRegression, frozenset({"binary"}),
            scaled_numbers_and_one_hot_strings,
        ),
        Recipe(
            "softmax_regression", linear_model.SoftmaxRegression, frozenset({"multiclass"}),
            scaled_numbers_and_one_hot_strings,
        ),
        Recipe("hoeffding_tree", tree.HoeffdingTreeClassifier, CLASSIFICATION),
        Recipe("hoeffding_adaptive_tree", tree.HoeffdingAdaptiveTreeClassifier, CLASSIFICATION),
        Recipe("adaptive_random_forest", forest.ARFClassifier, CLASSIFICATION),
        Recipe("naive_bayes", naive_bayes.GaussianNB, CLASSIFICATION, numbers_and_one_hot_strings),
        Recipe("linear_regression", linear_model.LinearRegression, REGRESSION, scaled_numbers_and_one_hot_strings),
        Recipe("hoeffding_tree_regressor", tree.HoeffdingTreeRegressor, REGRESSION, defaults=_linear_leaves),
        Recipe("half_space_trees", anomaly.HalfSpaceTrees, ANOMALY, unit_numbers_and_one_hot_strings),
        Recipe("one_class_svm", anomaly.OneClassSVM, ANOMALY, scaled_numbers_and_one_hot_strings),
    )
}  # fmt: skip


def get(name: str, field: str = "recipe") -> Recipe:
    """Return the recipe called ``name``; ConfigError naming ``field`` when there is none."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(field, f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None


def build(name: str, params: dict[str, Any] | None = None) -> base.Estimator:
    """Build a fresh estimator for recipe ``name`` with ``params`` (River's defaults when empty)."""
    return get(name).build(params)


def flagging(detector: base.Estimator, quantile: float | None, score: float | None) -> anomaly.base.AnomalyFilter:
    """An anomaly detector that flags a score at or above the ``quantile`` of the scores so far
    (``anomaly.QuantileFilter``) or at or above a fixed ``score`` (``anomaly.ThresholdFilter``).
    A flagged event is not learned (River's ``protect_anomaly_detector``): anomalies stay anomalous."""
    if score is not None:
        return anomaly.ThresholdFilter(detector, threshold=score)
    return anomaly.QuantileFilter(detector, q=quantile)


def final_estimator(model: base.Estimator) -> base.Estimator:
    """The learning estimator of a model: the last step of a pipeline, or the model itself."""
    if isinstance(model, compose.Pipeline):
        return list(model.steps.values())[-1]
    return model
