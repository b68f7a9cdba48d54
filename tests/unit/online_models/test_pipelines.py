"""A pipeline in the model config is checked against River at start-up; every error names its field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from online_models.config import parse_config
from online_models.exceptions import ConfigError

LR = "linear_model.LogisticRegression"


def model(**fields: Any) -> dict[str, Any]:
    return {"name": "m", "task": "binary", **fields}


def fails(text: str, *, task: str = "binary") -> str:
    """The field named by the error of a one-model config whose pipeline is ``text`` (YAML)."""
    with pytest.raises(ConfigError) as info:
        good = model(recipe="hoeffding_tree")
        parse_config({"models": [good, model(name="p", task=task, pipeline=yaml.safe_load(text))]})
    assert info.value.field.startswith("models[1].")
    return info.value.field


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[preprocessing.StandardScaler, {class: linear_model.LogisticRegression, params: {l3: 1}}]",
         "models[1].pipeline[1].params.l3"),
        ("[preprocessing.StandardScaler, linear_model.LogistcRegression]", "models[1].pipeline[1]"),
        ("[{class: linear_model.Nope}]", "models[1].pipeline[0].class"),
        ("[{class: os.Popen}]", "models[1].pipeline[0].class"),  # no module river.os: nothing imported
        ("[{class: dummy.Iterator}]", "models[1].pipeline[0].class"),  # collections.abc's, not River's
        ("[{class: datasets.Phishing}]", "models[1].pipeline[0].class"),  # reads a file: never a step
        ("[{class: '__import__'}]", "models[1].pipeline[0].class"),
        ("[linear_model.LogisticRegression, preprocessing.StandardScaler]", "models[1].pipeline[0]"),
        ("[{select_type: int}, linear_model.LogisticRegression]", "models[1].pipeline[0].select_type"),
        ("[{union: [[{select: a}, preprocessing.StandardScaler], [{select_type: text}]]}, linear_model.Perceptron]",
         "models[1].pipeline[0].union[1][0].select_type"),
        ("[{union: [{select: a}]}, tree.HoeffdingTreeClassifier]", "models[1].pipeline[0].union"),
        ("[{class: feature_extraction.Agg}, tree.HoeffdingTreeClassifier]", "models[1].pipeline[0].params"),
        ("[{class: linear_model.LogisticRegression, params: {optimizer: {class: optim.SGD, params: {rate: 1}}}}]",
         "models[1].pipeline[0].params.optimizer.params.rate"),
        ("[{class: linear_model.LogisticRegression, param: {}}]", "models[1].pipeline[0].param"),
        ("[{select: a, select_type: str}]", "models[1].pipeline[0]"),
        ("[]", "models[1].pipeline"),
        ("[linear_model.LinearRegression]", "models[1].pipeline"),  # a regressor for a binary task
    ],
)  # fmt: skip
def test_an_invalid_pipeline_names_its_field(text: str, field: str) -> None:
    assert fails(text) == field


def test_a_binary_classifier_cannot_do_multiclass() -> None:
    assert fails(f"[{LR}]", task="multiclass") == "models[1].pipeline"


def test_a_model_is_a_recipe_or_a_pipeline_not_both_nor_neither() -> None:
    for fields in ({"recipe": "hoeffding_tree", "pipeline": [LR]}, {}):
        with pytest.raises(ConfigError) as info:
            parse_config({"models": [model(**fields)]})
        assert info.value.field == "models[0].recipe"
    with pytest.raises(ConfigError) as info:
        parse_config({"models": [model(pipeline=[LR], params={"l2": 0.1})]})
    assert info.value.field == "models[0].params"


def test_a_recipe_expands_into_the_pipeline_it_stands_for() -> None:
    config = parse_config({"models": [model(recipe="logistic_regression", params={"l2": 0.01})]})
    spec = config.models[0]
    as_pipeline = parse_config({"models": [model(pipeline=spec.steps())]}).models[0]
    assert repr(as_pipeline.build()) == repr(spec.build())
    assert spec.estimator == as_pipeline.estimator == LR


def test_recipe_params_may_be_river_objects_too() -> None:
    optimizer = {"class": "optim.SGD", "params": {"lr": 0.5}}
    spec = parse_config({"models": [model(recipe="logistic_regression", params={"optimizer": optimizer})]}).models[0]
    assert spec.build()["LogisticRegression"].optimizer.learning_rate == 0.5
