"""Every recipe and a set of YAML pipelines: the River expression each stands for, mixed feature
types, pickling, cloning, and pure predictions. The contract of River's estimators, run on what
Streamwise builds."""

from __future__ import annotations

import copy
import numbers
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from river import anomaly, base, compose, forest, linear_model, naive_bayes, preprocessing, tree

from online_models import pipelines, recipes
from online_models.datasets import samples
from tests.support import river_pipelines

RECIPES = sorted(recipes.RECIPES)


# What a River user would write for each recipe, independently of online_models.recipes: River's
# defaults, with strings one-hot encoded where the estimator needs numbers.
def one_hot() -> base.Transformer:
    return compose.SelectType(str) | preprocessing.OneHotEncoder(drop_zeros=True)


def scaled() -> base.Transformer:
    return (compose.SelectType(numbers.Number) | preprocessing.StandardScaler()) + one_hot()


def as_numbers() -> base.Transformer:
    return compose.SelectType(numbers.Number) + one_hot()


RIVER_DEFAULTS = {
    "logistic_regression": lambda: scaled() | linear_model.LogisticRegression(),
    "softmax_regression": lambda: scaled() | linear_model.SoftmaxRegression(),
    "hoeffding_tree": tree.HoeffdingTreeClassifier,
    "hoeffding_adaptive_tree": tree.HoeffdingAdaptiveTreeClassifier,
    "adaptive_random_forest": forest.ARFClassifier,
    "naive_bayes": lambda: as_numbers() | naive_bayes.GaussianNB(),
    "linear_regression": lambda: scaled() | linear_model.LinearRegression(),
    "hoeffding_tree_regressor": lambda: tree.HoeffdingTreeRegressor(
        leaf_model=as_numbers() | linear_model.LinearRegression()
    ),
    "half_space_trees": lambda **seed: (
        ((compose.SelectType(numbers.Number) | preprocessing.MinMaxScaler()) + one_hot())
        | anomaly.HalfSpaceTrees(**seed)
    ),
    "one_class_svm": lambda: scaled() | anomaly.OneClassSVM(),
}


# HalfSpaceTrees' ``limits`` is a defaultdict that learn_one fills with the default (0, 1) per
# feature, so a clone's repr lists them; the values, and so the answers below, are the defaults'.
FILLS_ITS_PARAMS = (anomaly.HalfSpaceTrees,)


# River's forest trees look an unseen string up in their leaves' nominal counts (defaultdicts) when
# they answer, which adds a zero count: the bytes change, the answers do not (checked below).
PREDICT_ADDS_ZEROS = (forest.ARFClassifier,)


@dataclass(frozen=True)
class Case:
    """What Streamwise builds, what a River user would write for it, and the data it learns."""

    name: str
    ours: Callable[[], Any]
    river: Callable[[], Any]
    dataset: str


def _recipe_case(name: str) -> Case:
    recipe = recipes.get(name)
    seed = {"seed": 1} if "seed" in recipe.parameter_names() else {}
    # Mixed types (a number, two strings and a bool per event, as the example event of docs/topics.md).
    tasks = recipe.tasks
    dataset = "shop_value" if "regression" in tasks else "shop_anomalies" if "anomaly" in tasks else "shop"
    return Case(name, lambda: recipe.build(seed), lambda: RIVER_DEFAULTS[name](**seed), dataset)


def _pipeline_case(case: river_pipelines.PipelineCase) -> Case:
    return Case(f"pipeline:{case.name}", lambda: pipelines.build(case.steps()), case.python, case.dataset)


CASES = {c.name: c for c in [*map(_recipe_case, RECIPES), *map(_pipeline_case, river_pipelines.CASES)]}


def data_for(case: Case, n: int = 300) -> list[tuple[dict, object]]:
    return list(samples(case.dataset, n, seed=1))


def learn(model: Any, x: dict, y: object) -> None:
    if isinstance(pipelines.final_estimator(model), base.AnomalyDetector):
        model.learn_one(x)  # no label: an anomaly detector learns what it sees
    else:
        model.learn_one(x, y)


def answer(model: Any, x: dict) -> object:
    if isinstance(pipelines.final_estimator(model), base.AnomalyDetector):
        return model.score_one(x)
    return model.predict_one(x)


def assert_answer_alike(a: Any, b: Any, data: list[tuple[dict, object]]) -> None:
    """Assert that ``a`` and ``b`` give the same answer to each of ``data``, both learning it after."""
    for x, y in data:
        assert answer(a, x) == answer(b, x)
        learn(a, x, y)
        learn(b, x, y)


def test_every_recipe_has_a_river_reference() -> None:
    assert sorted(RIVER_DEFAULTS) == RECIPES


@pytest.mark.parametrize("name", CASES)
def test_no_params_means_the_river_expression(name: str) -> None:
    assert repr(CASES[name].ours()) == repr(CASES[name].river())


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_mixed_types_learn_and_equal_the_river_expression(case: Case) -> None:
    ours, theirs = case.ours(), case.river()
    data = data_for(case, 400)
    assert_answer_alike(ours, theirs, data)
    assert answer(ours, data[0][0]) is not None


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_pickle_round_trip_predicts_identically(case: Case) -> None:
    model = case.ours()
    data = data_for(case)
    for x, y in data[:200]:
        learn(model, x, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_answer_alike(restored, model, data[200:])


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_clone_is_fresh_with_the_same_params(case: Case) -> None:
    model = case.ours()
    x, y = data_for(case)[0]
    learn(model, x, y)
    clone, fresh = model.clone(), case.ours()
    assert repr(clone) == repr(fresh) or isinstance(pipelines.final_estimator(model), FILLS_ITS_PARAMS)
    assert_answer_alike(clone, fresh, data_for(case)[:100])


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_learn_one_leaves_the_input_alone_and_predict_leaves_the_model_alone(case: Case) -> None:
    model = case.ours()
    data = data_for(case)
    for x, y in data[:100]:
        before = copy.deepcopy(x)
        learn(model, x, y)
        assert x == before
    state = pickle.dumps(model)
    for x, _ in data[100:150]:
        answer(model, x)
        if isinstance(pipelines.final_estimator(model), base.Classifier):
            model.predict_proba_one(x)
    assert pickle.dumps(model) == state or isinstance(pipelines.final_estimator(model), PREDICT_ADDS_ZEROS)
    untouched = pickle.loads(state)  # and it goes on exactly as a copy that never answered
    assert_answer_alike(model, untouched, data[150:])
