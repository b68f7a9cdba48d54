"""Every recipe: River's defaults, pickling, cloning, and pure predictions."""

from __future__ import annotations

import copy
import pickle

import pytest
from river import base, forest, linear_model, naive_bayes, preprocessing, tree

from online_models import recipes
from online_models.datasets import samples

RECIPES = sorted(recipes.RECIPES)


def data_for(recipe: recipes.Recipe) -> list[tuple[dict, object]]:
    name = "friedman" if "regression" in recipe.tasks else "agrawal"
    return list(samples(name, 300, seed=1))


def seeded(recipe: recipes.Recipe) -> dict:
    return {"seed": 1} if "seed" in recipe.parameter_names() else {}


# What a River user would write for each recipe, independently of online_models.recipes.
RIVER_DEFAULTS = {
    "logistic_regression": lambda: preprocessing.StandardScaler() | linear_model.LogisticRegression(),
    "hoeffding_tree": tree.HoeffdingTreeClassifier,
    "hoeffding_adaptive_tree": tree.HoeffdingAdaptiveTreeClassifier,
    "adaptive_random_forest": forest.ARFClassifier,
    "naive_bayes": naive_bayes.GaussianNB,
    "linear_regression": lambda: preprocessing.StandardScaler() | linear_model.LinearRegression(),
    "hoeffding_tree_regressor": tree.HoeffdingTreeRegressor,
}


def test_every_recipe_has_a_river_reference() -> None:
    assert sorted(RIVER_DEFAULTS) == RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_no_params_means_rivers_defaults(name: str) -> None:
    assert repr(recipes.build(name)) == repr(RIVER_DEFAULTS[name]())


@pytest.mark.parametrize("name", RECIPES)
def test_pickle_round_trip_predicts_identically(name: str) -> None:
    recipe = recipes.get(name)
    model = recipe.build(seeded(recipe))
    data = data_for(recipe)
    for x, y in data[:200]:
        model.learn_one(x, y)
    restored = pickle.loads(pickle.dumps(model))
    for x, y in data[200:]:
        assert restored.predict_one(x) == model.predict_one(x)
        model.learn_one(x, y)
        restored.learn_one(x, y)


@pytest.mark.parametrize("name", RECIPES)
def test_clone_is_fresh_with_the_same_params(name: str) -> None:
    recipe = recipes.get(name)
    model = recipe.build(seeded(recipe))
    x, y = data_for(recipe)[0]
    model.learn_one(x, y)
    clone, fresh = model.clone(), recipe.build(seeded(recipe))
    assert repr(clone) == repr(fresh)
    for x, y in data_for(recipe)[:100]:
        assert clone.predict_one(x) == fresh.predict_one(x)
        clone.learn_one(x, y)
        fresh.learn_one(x, y)


@pytest.mark.parametrize("name", RECIPES)
def test_learn_one_leaves_the_input_alone_and_predict_leaves_the_model_alone(name: str) -> None:
    recipe = recipes.get(name)
    model = recipe.build(seeded(recipe))
    data = data_for(recipe)
    for x, y in data[:100]:
        before = copy.deepcopy(x)
        model.learn_one(x, y)
        assert x == before
    state = pickle.dumps(model)
    for x, _ in data[100:150]:
        model.predict_one(x)
        if isinstance(recipes.final_estimator(model), base.Classifier):
            model.predict_proba_one(x)
    assert pickle.dumps(model) == state
