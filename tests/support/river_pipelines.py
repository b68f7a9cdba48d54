"""YAML pipelines, each with the same pipeline written in Python with River: the cases of the
contract suite and of the prequential equivalence tests. Not only recipes: other estimators,
optimizers as nested objects, feature selection, polynomial features, a pipeline as a parameter."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from river import (
    anomaly,
    base,
    compose,
    feature_extraction,
    forest,
    linear_model,
    naive_bayes,
    optim,
    preprocessing,
    tree,
)

from online_models.config import ModelSpec


@dataclass(frozen=True)
class PipelineCase:
    name: str
    task: str
    dataset: str  # online_models.datasets: what it learns in the tests
    text: str  # the ``pipeline:`` of a model config, in YAML
    python: Callable[[], base.Estimator]

    def steps(self) -> list[Any]:
        return yaml.safe_load(self.text)

    def spec(self) -> ModelSpec:
        return ModelSpec(name=self.name, task=self.task, pipeline=self.steps())


def _one_hot() -> base.Transformer:
    return compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True)


CASES = [
    PipelineCase(
        "lr_sgd_l2", "binary", "shop",
        """
        - union:
            - [{select_type: number}, preprocessing.StandardScaler]
            - [{select_type: str}, {class: preprocessing.OneHotEncoder, params: {drop_zeros: true}}]
        - class: linear_model.LogisticRegression
          params: {l2: 0.001, optimizer: {class: optim.SGD, params: {lr: 0.05}}}
        """,
        lambda: ((compose.SelectType(numbers.Number) | preprocessing.StandardScaler()) + _one_hot())
        | linear_model.LogisticRegression(l2=0.001, optimizer=optim.SGD(lr=0.05)),
    ),
    PipelineCase(
        "poly_amount", "binary", "shop",
        """
        - union:
            - [{select: amount}, preprocessing.StandardScaler,
               {class: feature_extraction.PolynomialExtender, params: {degree: 2, include_bias: true}}]
            - [{select_type: str}, preprocessing.OneHotEncoder]
        - linear_model.LogisticRegression
        """,
        lambda: (
            (compose.Select("amount") | preprocessing.StandardScaler()
             | feature_extraction.PolynomialExtender(degree=2, include_bias=True))
            + (compose.SelectType(str) | preprocessing.OneHotEncoder())
        ) | linear_model.LogisticRegression(),
    ),
    PipelineCase(
        "gini_tree", "binary", "shop",
        "- {class: tree.HoeffdingTreeClassifier, params: {grace_period: 50, split_criterion: gini}}",
        lambda: tree.HoeffdingTreeClassifier(grace_period=50, split_criterion="gini"),
    ),
    PipelineCase(
        "bernoulli_nb", "binary", "shop",
        "[{select_type: str}, preprocessing.OneHotEncoder, naive_bayes.BernoulliNB]",
        lambda: compose.SelectType(str) | preprocessing.OneHotEncoder() | naive_bayes.BernoulliNB(),
    ),
    PipelineCase(
        "amf", "binary", "phishing",
        "- {class: forest.AMFClassifier, params: {n_estimators: 5, seed: 1}}",
        lambda: forest.AMFClassifier(n_estimators=5, seed=1),
    ),
    PipelineCase(
        "softmax_sgd", "multiclass", "led",
        """
        - preprocessing.StandardScaler
        - class: linear_model.SoftmaxRegression
          params: {optimizer: {class: optim.SGD, params: {lr: 0.1}}}
        """,
        lambda: preprocessing.StandardScaler() | linear_model.SoftmaxRegression(optimizer=optim.SGD(lr=0.1)),
    ),
    PipelineCase(
        "adam_regression", "regression", "shop_value",
        """
        - {select_type: number}
        - preprocessing.StandardScaler
        - class: linear_model.LinearRegression
          params: {l2: 0.0001, optimizer: {class: optim.Adam, params: {lr: 0.01}}}
        """,
        lambda: compose.SelectType(numbers.Number) | preprocessing.StandardScaler()
        | linear_model.LinearRegression(l2=0.0001, optimizer=optim.Adam(lr=0.01)),
    ),
    PipelineCase(
        "tree_regressor_numeric_leaves", "regression", "friedman",
        """
        - class: tree.HoeffdingTreeRegressor
          params:
            grace_period: 100
            leaf_model: {pipeline: [preprocessing.StandardScaler, linear_model.LinearRegression]}
        """,
        lambda: tree.HoeffdingTreeRegressor(
            grace_period=100, leaf_model=preprocessing.StandardScaler() | linear_model.LinearRegression()
        ),
    ),
    PipelineCase(
        "hst_amount", "anomaly", "shop_anomalies",
        """
        - {select: [amount]}
        - preprocessing.MinMaxScaler
        - {class: anomaly.HalfSpaceTrees, params: {n_trees: 10, height: 6, seed: 7}}
        """,
        lambda: compose.Select("amount") | preprocessing.MinMaxScaler()
        | anomaly.HalfSpaceTrees(n_trees=10, height=6, seed=7),
    ),
]  # fmt: skip
