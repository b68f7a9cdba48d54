"""Drift detection on seeded streams with known change points, alerts, and the drift policies."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from online_models.alerts import Alert
from online_models.config import DriftSpec, ModelSpec, PolicyName, parse_config
from online_models.datasets import synthetic_events
from online_models.drift import Signal
from online_models.evaluation import PrequentialModel
from online_models.exceptions import ConfigError
from online_models.pipeline import EmbeddedRunner, Pipeline
from online_models.policy import DriftGuard

P = 5000  # agrawal_drift with n=10,000 switches from Agrawal function 0 to 4 at index 5,000


def run(config: dict[str, Any], events: Iterator[dict[str, Any]]) -> tuple[EmbeddedRunner, list[tuple[int, Alert]]]:
    runner = EmbeddedRunner(Pipeline(parse_config(config)))
    alerts = [(i, a) for i, e in enumerate(events) for a in runner.process(orjson.dumps(e)).alerts]
    return runner, alerts


def model(name: str, recipe: str, task: str = "binary", **drift: Any) -> dict[str, Any]:
    return {"name": name, "recipe": recipe, "task": task, **({"drift": drift} if drift else {})}


# The first concept_drift on the seeded stream (Hoeffding tree's 0/1 errors), per detector.
FIRST_DRIFT = {"ddm": 5046, "eddm": 5080, "hddm_a": 5029, "hddm_w": 5032, "fhddm": 5035}


@pytest.mark.parametrize("detector", list(FIRST_DRIFT))
def test_concept_drift_is_detected_within_1000_events_after_the_switch_and_never_before(detector: str) -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector=detector)], "alerts": {"cooldown_events": 0}}
    _, alerts = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))

    drifts = [i for i, a in alerts if a.kind == "concept_drift"]
    assert drifts[0] == FIRST_DRIFT[detector]
    assert P <= drifts[0] < P + 1000
    alert = next(a for i, a in alerts if i == drifts[0] and a.kind == "concept_drift")
    assert alert.details["error_rate_recent"] > alert.details["error_rate_before"]
    assert (alert.model, alert.detector, alert.event_id) == ("ht", detector, f"agrawal_drift-42-{drifts[0]:08d}")


def regression_events(n: int, switch: int, seed: int = 3) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(n):
        x = rng.uniform(0, 1)
        y = (3 * x if i < switch else 3 - 3 * x) + rng.gauss(0, 0.1)
        yield {"event_id": f"r{i}", "ts": i, "features": {"x": x}, "label": y}


@pytest.mark.parametrize(("detector", "first"), [("adwin", 3007), ("page_hinkley", 3073)])
def test_regression_concept_drift_on_absolute_errors(detector: str, first: int) -> None:
    config = {"models": [model("lin", "linear_regression", "regression", detector=detector)]}
    _, alerts = run(config, regression_events(6000, 3000))
    assert [(i, a.kind) for i, a in alerts] == [(first, "concept_drift")]


def shifting_inputs(n: int, shift_at: int | None, seed: int = 7) -> Iterator[dict[str, Any]]:
    """amount ~ N(100, 10) then N(130, 10); country de/fr/it at 60/30/10 % then 20/30/50 %."""
    rng = random.Random(seed)
    for i in range(n):
        shifted = shift_at is not None and i >= shift_at
        features = {
            "amount": rng.gauss(130 if shifted else 100, 10),
            "country": rng.choices(["de", "fr", "it"], [2, 3, 5] if shifted else [6, 3, 1])[0],
            "noise": rng.uniform(0, 1),
        }
        yield {"event_id": f"d{i}", "ts": i * 10, "features": features}


DATA_DRIFT = {"models": [model("nb", "naive_bayes")], "data_drift": {"params": {"delta": 0.0001}}}


def test_a_shifted_numeric_mean_and_changed_category_frequencies_raise_data_drift_before_any_label() -> None:
    runner, alerts = run(DATA_DRIFT, shifting_inputs(6000, shift_at=3000))

    by_feature = {a.feature: (i, a) for i, a in reversed(alerts)}  # the first alert per feature
    assert set(by_feature) == {"amount", "country"}
    assert all(a.kind == "data_drift" and a.model is None for _, a in alerts)
    amount_at, amount = by_feature["amount"]
    assert 3000 <= amount_at < 3200 and amount.detector == "adwin"
    assert amount.details["mean_recent"] > amount.details["mean_before"] > 99
    country_at, country = by_feature["country"]
    assert 3000 <= country_at < 3700 and country.detector == "chi2"
    assert country.details["p_value"] < 0.001
    assert country.details["recent"]["it"] > 2 * country.details["reference"]["it"]
    assert runner.learner.models[0].labeled == 0


def test_a_stationary_stream_raises_no_data_drift() -> None:
    _, alerts = run(DATA_DRIFT, shifting_inputs(6000, shift_at=None))
    assert alerts == []


def test_alerts_are_deterministic_and_repeats_within_the_cool_down_are_merged() -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector="eddm")], "alerts": {"cooldown_events": 1000}}
    first = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))[1]
    again = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))[1]

    assert [a.alert_id for _, a in first] == [a.alert_id for _, a in again]
    drifts = [(i, a) for i, a in first if a.kind == "concept_drift"]
    assert [i for i, _ in drifts] == [5080]  # 5153 fell within the cool-down
    warnings = [i for i, a in first if a.kind == "concept_warning"]
    assert all(b - a >= 1000 for a, b in itertools.pairwise(warnings))


def test_alerts_without_an_action_are_rate_limited_per_minute_of_event_time() -> None:
    config = {**DATA_DRIFT, "alerts": {"cooldown_events": 0, "max_per_minute": 1}}
    runner, alerts = run(config, shifting_inputs(6000, shift_at=3000))  # 6,000 events span one minute
    assert len(alerts) == 1 and runner.learner.gate.suppressed >= 1


def test_reset_policy_replaces_the_model_with_a_fresh_one_and_says_so() -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector="fhddm", policy="reset")]}
    runner, alerts = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))

    assert [(i, a.kind, a.action) for i, a in alerts] == [(5035, "concept_drift", "reset")]
    ht = runner.learner.models[0]
    assert ht.generation == 2 and alerts[0][1].details["generation"] == 2
    assert ht.model.n_nodes < 20  # a tree grown on the last ~5,000 events only
    assert runner.learner.actions == {("ht", "reset"): 1}


def test_background_policy_starts_at_the_warning_and_swaps_on_the_drift() -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector="hddm_a", policy="background")]}
    runner, alerts = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))

    assert [(i, a.kind, a.action) for i, a in alerts] == [
        (5024, "concept_warning", "background_start"),
        (5029, "concept_drift", "background_swap"),
    ]
    assert runner.learner.models[0].generation == 2 and runner.learner.guards["ht"].background is None


def test_alert_policy_only_reports() -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector="hddm_a", policy="alert")]}
    runner, alerts = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))
    assert [a.action for _, a in alerts] == [None, None] and runner.learner.models[0].generation == 1


def test_an_alert_round_trips_through_its_json() -> None:
    _, alerts = run(DATA_DRIFT, shifting_inputs(4000, shift_at=2000))
    alert = alerts[0][1]
    decoded = Alert.from_json(alert.to_json())
    assert decoded == alert and orjson.loads(alert.to_json())["alert_id"] == alert.alert_id


@pytest.mark.parametrize("categories", [3, 150, 2000])
def test_stationary_categorical_inputs_of_any_cardinality_raise_no_data_drift(categories: int) -> None:
    rng = random.Random(categories)
    events = ({"event_id": f"c{i}", "ts": i, "features": {"c": str(rng.randrange(categories))}} for i in range(20_000))
    assert run(DATA_DRIFT, events)[1] == []


def test_a_clearly_better_challenger_is_promoted_once_per_cool_down() -> None:
    config = {
        "models": [
            {
                "name": "lr",
                "recipe": "logistic_regression",
                "task": "binary",
                "promotion": {"metric": "Accuracy", "window": 500, "margin": 0.05, "cooldown_events": 2000},
            },
            {"name": "lr-ht", "recipe": "hoeffding_tree", "task": "binary", "challenger_of": "lr"},
        ]
    }
    runner = EmbeddedRunner(Pipeline(parse_config(config)))
    promotions = [
        (i, p)
        for i, e in enumerate(synthetic_events("agrawal", 6000, seed=3))
        for p in runner.process(orjson.dumps(e)).promotions
    ]
    assert [(i, p.from_candidate, p.to_candidate) for i, p in promotions] == [(1999, "lr", "lr-ht")]
    promotion = promotions[0][1]
    assert promotion.challenger_score > promotion.champion_score + 0.05
    assert runner.learner.judges["lr"].champion == "lr-ht"


def guarded(policy: PolicyName, min_labeled: int) -> tuple[DriftGuard, PrequentialModel]:
    spec = ModelSpec(name="nb", recipe="naive_bayes", task="binary")
    return DriftGuard(DriftSpec(detector="ddm", policy=policy, min_labeled=min_labeled)), PrequentialModel(spec)


def learn(guard: DriftGuard, labels: int) -> None:
    for _ in range(labels):
        guard.learn_background({"x": 1.0}, 1)


WARNING, DRIFT = Signal("concept_warning", "ddm", {}), Signal("concept_drift", "ddm", {})


def test_no_policy_acts_before_the_served_model_learned_min_labeled_labels() -> None:
    guard, served = guarded("background", min_labeled=3)
    learn(guard, 2)
    assert guard.act(served, WARNING) is None and guard.act(served, DRIFT) is None and served.generation == 1
    learn(guard, 1)
    assert guard.act(served, WARNING) == "background_start"
    learn(guard, 2)
    assert guard.act(served, DRIFT) == "background_swap" and served.generation == 2
    # The swapped-in model learned 2 labels alongside: it may not be replaced before its 3rd.
    assert guard.learned == 2 and guard.act(served, DRIFT) is None
    learn(guard, 1)
    assert guard.act(served, DRIFT) == "reset" and guard.learned == 0 and served.generation == 3


def test_a_reset_model_is_not_reset_again_before_it_learned_min_labeled_labels() -> None:
    guard, served = guarded("reset", min_labeled=1000)
    learn(guard, 1000)
    assert guard.act(served, DRIFT) == "reset"
    learn(guard, 999)
    assert not guard.wants_action(DRIFT) and guard.act(served, DRIFT) is None
    learn(guard, 1)
    assert guard.wants_action(DRIFT) and guard.act(served, DRIFT) == "reset"


def test_a_signal_before_min_labeled_is_reported_as_an_alert_without_an_action() -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector="fhddm", policy="reset", min_labeled=20_000)]}
    runner, alerts = run(config, synthetic_events("agrawal_drift", 10_000, seed=42))
    assert [(i, a.kind, a.action) for i, a in alerts] == [(5035, "concept_drift", None)]
    assert runner.learner.models[0].generation == 1 and not runner.learner.actions


@pytest.mark.parametrize("bad", [-1, "many", 1.5])
def test_a_bad_min_labeled_fails_at_start_up_naming_the_field(bad: object) -> None:
    config = {"models": [model("ht", "hoeffding_tree", detector="ddm", min_labeled=bad)]}
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert info.value.field == "models[0].drift.min_labeled"
