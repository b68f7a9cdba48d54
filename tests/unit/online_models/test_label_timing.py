"""Every task learns the same whether its labels come inline, late on the labels stream, or before
their event, and its prequential metrics equal River's with the same delay (embedded runner)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from online_models.config import ModelSpec, parse_config
from online_models.datasets import EVENT, LABEL, synthetic_events, with_delayed_labels
from online_models.pipeline import EmbeddedRunner, Pipeline
from tests.support.references import anomaly_reference, river_reference

N, DELAY, SEED = 1500, 25, 5
TASKS = {  # task: (dataset, recipe, params)
    "binary": ("agrawal_drift", "hoeffding_tree", {}),
    "multiclass": ("led", "naive_bayes", {}),
    "regression": ("friedman", "linear_regression", {}),
    "anomaly": ("shop_anomalies", "half_space_trees", {"seed": 42}),
}
TIMINGS = {"inline": None, "late": DELAY, "before": None}  # timing: River's delay


def messages(dataset: str, timing: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The stream's events with their labels inline, ``DELAY`` events late, or each just before its event."""
    events = synthetic_events(dataset, N, seed=SEED)
    if timing == "inline":
        return ((EVENT, event) for event in events)
    if timing == "late":
        return with_delayed_labels(events, DELAY)
    return _labels_first(events)


def _labels_first(events: Iterator[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for event in events:
        yield LABEL, {"event_id": event["event_id"], "label": event["label"], "ts": event["ts"]}
        yield EVENT, {k: v for k, v in event.items() if k != "label"}


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("task", TASKS)
def test_every_task_learns_every_label_as_river_does_whenever_it_comes(task: str, timing: str) -> None:
    dataset, recipe, params = TASKS[task]
    spec = ModelSpec(name="m", recipe=recipe, task=task, params=params)
    runner = EmbeddedRunner(Pipeline(parse_config({"models": [spec.model_dump()]})))

    letters = []
    for kind, message in messages(dataset, timing):
        process = runner.process if kind == EVENT else runner.process_label
        letters += process(orjson.dumps(message)).dead_letters

    model = runner.learner.models[0]
    assert letters == [] and model.failures == {}
    assert (model.events, model.labeled, len(runner.learner.pending)) == (N, N, 0)
    delay = TIMINGS[timing]
    if task == "anomaly":
        expected = anomaly_reference(spec, dataset, N, seed=SEED, delay=delay)
    else:
        expected = river_reference(spec, dataset, N, seed=SEED, delay=delay)
    for name, value in expected.items():
        assert math.isclose(model.metric_values()[name], value, rel_tol=0, abs_tol=1e-12), (name, value)
