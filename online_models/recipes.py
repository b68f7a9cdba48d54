"""Recipes: a name -> a River estimator built with River's own defaults, taking mixed features.

Events carry numbers, bools and strings (``{"amount": 12.5, "country": "FR", "new": true}``). A
recipe takes them all, as a River user would write it: models that need numbers get the strings
one-hot encoded (``compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True)``: no
zero column per category ever seen, so a string of many values stays cheap); linear models get the
numbers (bools included) standardised; trees split on strings as they are. Every recipe is a
River expression (see ``tests/contract/test_estimators.py``), so any result can be reproduced with
River alone. Parameters go to the learning estimator (the last step), never to the encoders.

A recipe is a named shortcut for a pipeline: ``get(name).pipeline(params)`` is the data it expands
into, the same a model may give under ``pipeline:`` (see :mod:`online_models.pipelines`).

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
>>> get("hoeffding_tree").pipeline({"grace_period": 50})
[{'class': 'tree.HoeffdingTreeClassifier', 'params': {'grace_period': 50}}]
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

from river import anomaly, base

from online_models import pipelines
from online_models.exceptions import ConfigError
from online_models.pipelines import Step

CLASSIFICATION = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})
ANOMALY = frozenset({"anomaly"})

# The steps that prepare mixed features, as pipeline data (see online_models.pipelines).
# Strings as 0/1 columns named ``feature_value`` (only the event's own: drop_zeros).
ONE_HOT_STRINGS: list[Step] = [
    {"select_type": "str"},
    {"class": "preprocessing.OneHotEncoder", "params": {"drop_zeros": True}},
]
# Numbers and bools as they are, strings one-hot: for estimators that take any number.
NUMBERS_AND_ONE_HOT_STRINGS: Step = {"union": [{"select_type": "number"}, ONE_HOT_STRINGS]}
# Numbers and bools standardised, strings one-hot: for linear models.
SCALED_NUMBERS_AND_ONE_HOT_STRINGS: Step = {
    "union": [[{"select_type": "number"}, "preprocessing.StandardScaler"], ONE_HOT_STRINGS]
}
# Numbers and bools scaled to [0, 1] (what half-space trees assume), strings one-hot.
UNIT_NUMBERS_AND_ONE_HOT_STRINGS: Step = {
    "union": [[{"select_type": "number"}, "preprocessing.MinMaxScaler"], ONE_HOT_STRINGS]
}
# A Hoeffding tree regressor fits a linear model in each leaf, on the whole event: it needs numbers.
LINEAR_LEAVES = {"leaf_model": {"pipeline": [NUMBERS_AND_ONE_HOT_STRINGS, "linear_model.LinearRegression"]}}


@dataclass(frozen=True)
class Recipe:
    """A named shortcut for a pipeline: the steps that prepare the event, then one River estimator.

    ``estimator`` is the River class path of the learning step; ``prepare`` the steps before it
    (none: the estimator takes the event as it is); ``defaults`` the estimator's parameters that
    differ from River's. User ``params`` go to the estimator, never to the encoders.

    Examples
    --------
    >>> recipe = get("hoeffding_tree")
    >>> sorted(recipe.tasks), "grace_period" in recipe.parameter_names()
    (['binary', 'multiclass'], True)
    >>> recipe.build({"grace_period": 50}).grace_period
    50
    """

    name: str
    estimator: str
    tasks: frozenset[str]
    prepare: tuple[Step, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)

    def parameter_names(self) -> set[str]:
        """Return the names of the estimator's parameters, from its River signature."""
        return set(inspect.signature(pipelines.river_class(self.estimator)).parameters)

    def pipeline(self, params: dict[str, Any] | None = None) -> list[Step]:
        """Return the pipeline this recipe stands for, as data (a fresh copy: the caller may keep it)."""
        last = {"class": self.estimator, "params": {**self.defaults, **(params or {})}}
        return copy.deepcopy([*self.prepare, last])

    def build(self, params: dict[str, Any] | None = None) -> base.Estimator:
        """Build a fresh estimator of this recipe, with ``params`` over its defaults."""
        return pipelines.build(self.pipeline(params))


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "logistic_regression", "linear_model.LogisticRegression", frozenset({"binary"}),
            (SCALED_NUMBERS_AND_ONE_HOT_STRINGS,),
        ),
        Recipe(
            "softmax_regression", "linear_model.SoftmaxRegression", frozenset({"multiclass"}),
            (SCALED_NUMBERS_AND_ONE_HOT_STRINGS,),
        ),
        Recipe("hoeffding_tree", "tree.HoeffdingTreeClassifier", CLASSIFICATION),
        Recipe("hoeffding_adaptive_tree", "tree.HoeffdingAdaptiveTreeClassifier", CLASSIFICATION),
        Recipe("adaptive_random_forest", "forest.ARFClassifier", CLASSIFICATION),
        Recipe("naive_bayes", "naive_bayes.GaussianNB", CLASSIFICATION, (NUMBERS_AND_ONE_HOT_STRINGS,)),
        Recipe(
            "linear_regression", "linear_model.LinearRegression", REGRESSION, (SCALED_NUMBERS_AND_ONE_HOT_STRINGS,)
        ),
        Recipe("hoeffding_tree_regressor", "tree.HoeffdingTreeRegressor", REGRESSION, defaults=LINEAR_LEAVES),
        Recipe("half_space_trees", "anomaly.HalfSpaceTrees", ANOMALY, (UNIT_NUMBERS_AND_ONE_HOT_STRINGS,)),
        Recipe("one_class_svm", "anomaly.OneClassSVM", ANOMALY, (SCALED_NUMBERS_AND_ONE_HOT_STRINGS,)),
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


def flagging(
    detector: base.Estimator, quantile: float | None, score: float | None
) -> anomaly.QuantileFilter | anomaly.ThresholdFilter:
    """Wrap ``detector`` to flag a score at or above the ``quantile`` of the scores so far, or at or above ``score``.

    A quantile gives an ``anomaly.QuantileFilter``, a score an ``anomaly.ThresholdFilter``. A flagged
    event is not learned (River's ``protect_anomaly_detector``): anomalies stay anomalous.
    """
    if score is not None:
        return anomaly.ThresholdFilter(detector, threshold=score)
    if quantile is None:
        raise ValueError("a threshold is a quantile or a score")
    return anomaly.QuantileFilter(detector, q=quantile)
