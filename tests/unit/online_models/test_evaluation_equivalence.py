"""`streamwise evaluate` reproduces river.evaluate.progressive_val_score for every recipe, and for YAML
pipelines against the same pipelines written in Python."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from online_models.config import ModelSpec
from online_models.datasets import synthetic_events
from streams.cli import app
from tests.support import river_pipelines
from tests.support.references import CLASSIFIERS, REGRESSORS, river_reference, spec_for

CASES = [
    *[("agrawal_drift", "binary", r, 1500) for r in CLASSIFIERS],
    *[("phishing", "binary", r, 1250) for r in CLASSIFIERS],
    *[("friedman", "regression", r, 1500) for r in REGRESSORS],
    # Mixed feature types (numbers, strings, bools): every recipe learns every event.
    *[("shop", "binary", r, 1500) for r in CLASSIFIERS],
    *[("shop_value", "regression", r, 1500) for r in REGRESSORS],
    *[("led", "multiclass", r, 1500) for r in ("softmax_regression", "hoeffding_tree", "naive_bayes")],
]


PIPELINES = {case.name: case for case in river_pipelines.CASES if case.task != "anomaly"}


@pytest.mark.parametrize(("dataset", "task", "recipe", "n"), CASES)
def test_evaluate_equals_progressive_val_score(tmp_path: Path, dataset: str, task: str, recipe: str, n: int) -> None:
    spec = spec_for(recipe, task)
    check_evaluate(tmp_path, spec, dataset, n, spec.build)


@pytest.mark.parametrize("name", PIPELINES)
def test_a_yaml_pipeline_evaluates_as_the_same_pipeline_in_python(tmp_path: Path, name: str) -> None:
    case = PIPELINES[name]
    check_evaluate(tmp_path, case.spec(), case.dataset, 1250, case.python)  # phishing has 1250


def check_evaluate(tmp_path: Path, spec: ModelSpec, dataset: str, n: int, build: Callable[[], Any]) -> None:
    """``streamwise evaluate`` of ``spec`` gives progressive_val_score's metrics of ``build()``."""
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump({"models": [spec.model_dump()], "evaluation": {"history_every": 500}}))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in synthetic_events(dataset, n, seed=11)))
    out = tmp_path / "report.json"

    result = CliRunner().invoke(app, ["evaluate", "--events", str(events), "--config", str(config), "--out", str(out)])

    assert result.exit_code == 0, result.output
    report = orjson.loads(out.read_bytes())["models"][spec.name]
    assert report["events"] == report["labeled"] == n and report["failures"] == {}
    assert [point["labeled"] for point in report["history"]] == list(range(500, n + 1, 500))
    expected = river_reference(spec, dataset, n, seed=11, build=build)
    for name, value in expected.items():
        assert math.isclose(report["metrics"][name], value, rel_tol=0, abs_tol=1e-12), (name, value)


@pytest.mark.parametrize("how", ["--label-delay", "--labels"])
def test_evaluate_with_late_labels_equals_progressive_val_score_with_the_same_delay(tmp_path: Path, how: str) -> None:
    spec, n, delay = spec_for("hoeffding_tree", "binary"), 1500, 25
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump({"models": [spec.model_dump()]}))
    events = list(synthetic_events("agrawal_drift", n, seed=11))
    args = ["evaluate", "--config", str(config), "--out", str(tmp_path / "report.json")]
    if how == "--label-delay":  # inline labels, held back
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
        args += ["--events", str(path), "--label-delay", str(delay)]
    else:  # a labels file: each label known just before the event `delay` later (10 ms apart)
        unlabeled, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
        unlabeled.write_bytes(
            b"".join(orjson.dumps({k: v for k, v in e.items() if k != "label"}) + b"\n" for e in events)
        )
        labels.write_bytes(
            b"".join(
                orjson.dumps({"event_id": e["event_id"], "label": e["label"], "ts": e["ts"] + 10 * delay - 1}) + b"\n"
                for e in events
            )
        )
        args += ["--events", str(unlabeled), "--labels", str(labels)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    model = report["models"][spec.name]
    assert (model["events"], model["labeled"], report["dead_letters"]) == (n, n, {})
    expected = river_reference(spec, "agrawal_drift", n, seed=11, delay=delay)
    for name, value in expected.items():
        assert math.isclose(model["metrics"][name], value, rel_tol=0, abs_tol=1e-12), (name, value)
