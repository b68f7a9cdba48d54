from pathlib import Path

import pytest

from online_models.config import load_config, parse_config
from online_models.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def field_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.field


def model(**overrides) -> dict:
    return {"name": "m", "recipe": "logistic_regression", "task": "binary", **overrides}


def test_example_config_loads() -> None:
    config = load_config(ROOT / "config" / "models.yaml")
    assert [m.name for m in config.models] == ["lr", "ht", "hat", "nb"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"models": [model(recipe="deep_net")]}, "models[0].recipe"),
        ({"models": [model(), model(name="n", task="ranking")]}, "models[1].task"),
        ({"models": [model(recipe="linear_regression")]}, "models[0].task"),
        ({"models": [model(params={"l2": 0.1, "leraning_rate": 1})]}, "models[0].params.leraning_rate"),
        ({"models": [model(), model()]}, "models[1].name"),
        ({"models": []}, "models"),
        ({"models": [model(extra=1)]}, "models[0].extra"),
        (
            {"models": [model()], "features": {"transforms": [{"name": "a", "op": "exp", "source": "b"}]}},
            "features.transforms[0].op",
        ),
    ],
)
def test_errors_name_the_field(data: dict, field: str) -> None:
    assert field_of(data) == field


def test_params_reach_the_estimator() -> None:
    config = parse_config({"models": [model(recipe="hoeffding_tree", params={"grace_period": 50})]})
    assert config.models[0].params == {"grace_period": 50}


def test_unreadable_and_invalid_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
