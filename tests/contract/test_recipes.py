"""Every recipe: the River expression it stands for, mixed feature types, pickling, cloning, and pure
predictions. The contract of River's estimators, run on what Streamwise builds."""

from __future__ import annotations

import copy
import numbers
import pickle
from typing import Any

import pytest
from river import anomaly, base, compose, forest, linear_model, naive_bayes, preprocessing, tree

from online_models import recipes
from online_models.datasets import samples

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
FILLS_ITS_PARAMS = {"half_space_trees"}


# River's forest trees look an unseen string up in their leaves' nominal counts (defaultdicts) when
# they answer, which adds a zero count: the bytes change, the answers do not (checked below).
PREDICT_ADDS_ZEROS = {"adaptive_random_forest"}


def data_for(recipe: recipes.Recipe, n: int = 300) -> list[tuple[dict, object]]:
    """Mixed types (a number, two strings and a bool per event, as the README's example event)."""
    name = "shop_value" if "regression" in recipe.tasks else "shop_anomalies" if "anomaly" in recipe.tasks else "shop"
    return list(samples(name, n, seed=1))


def seeded(recipe: recipes.Recipe) -> dict:
    return {"seed": 1} if "seed" in recipe.parameter_names() else {}


def learn(model: Any, x: dict, y: object) -> None:
    if isinstance(recipes.final_estimator(model), base.AnomalyDetector):
        model.learn_one(x)  # no label: an anomaly detector learns what it sees
    else:
        model.learn_one(x, y)


def answer(model: Any, x: dict) -> object:
    if isinstance(recipes.final_estimator(model), base.AnomalyDetector):
        return model.score_one(x)
    return model.predict_one(x)


def test_every_recipe_has_a_river_reference() -> None:
    assert sorted(RIVER_DEFAULTS) == RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_no_params_means_the_river_expression(name: str) -> None:
    assert repr(recipes.build(name)) == repr(RIVER_DEFAULTS[name]())


@pytest.mark.parametrize("name", RECIPES)
def test_mixed_types_learn_and_equal_the_river_expression(name: str) -> None:
    recipe = recipes.get(name)
    ours, theirs = recipe.build(seeded(recipe)), RIVER_DEFAULTS[name](**seeded(recipe))
    for x, y in data_for(recipe, 400):
        assert answer(ours, x) == answer(theirs, x)
        learn(ours, x, y)
        learn(theirs, x, y)
    assert answer(ours, {"amount": 900.0, "country": "FR", "device": "web", "new_customer": True}) is not None


@pytest.mark.parametrize("name", RECIPES)
def test_pickle_round_trip_predicts_identically(name: str) -> None:
    recipe = recipes.get(name)
    model = recipe.build(seeded(recipe))
    data = data_for(recipe)
    for x, y in data[:200]:
        learn(model, x, y)
    restored = pickle.loads(pickle.dumps(model))
    for x, y in data[200:]:
        assert answer(restored, x) == answer(model, x)
        learn(model, x, y)
        learn(restored, x, y)


@pytest.mark.parametrize("name", RECIPES)
def test_clone_is_fresh_with_the_same_params(name: str) -> None:
    recipe = recipes.get(name)
    model = recipe.build(seeded(recipe))
    x, y = data_for(recipe)[0]
    learn(model, x, y)
    clone, fresh = model.clone(), recipe.build(seeded(recipe))
    assert repr(clone) == repr(fresh) or name in FILLS_ITS_PARAMS
    for x, y in data_for(recipe)[:100]:
        assert answer(clone, x) == answer(fresh, x)
        learn(clone, x, y)
        learn(fresh, x, y)


@pytest.mark.parametrize("name", RECIPES)
def test_learn_one_leaves_the_input_alone_and_predict_leaves_the_model_alone(name: str) -> None:
    recipe = recipes.get(name)
    model = recipe.build(seeded(recipe))
    data = data_for(recipe)
    for x, y in data[:100]:
        before = copy.deepcopy(x)
        learn(model, x, y)
        assert x == before
    state = pickle.dumps(model)
    for x, _ in data[100:150]:
        answer(model, x)
        if isinstance(recipes.final_estimator(model), base.Classifier):
            model.predict_proba_one(x)
    assert pickle.dumps(model) == state or name in PREDICT_ADDS_ZEROS
    untouched = pickle.loads(state)  # and it goes on exactly as a copy that never answered
    for x, y in data[150:]:
        assert answer(model, x) == answer(untouched, x)
        learn(model, x, y)
        learn(untouched, x, y)
