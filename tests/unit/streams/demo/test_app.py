"""The embedded demo's API: a folder registry, the run's features and alerts; no Redis."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from online_models.config import load_config
from online_models.datasets import synthetic_events
from online_models.pipeline import EmbeddedRunner
from online_models.policy import BACKGROUND_SWAP, RESET
from online_models.snapshot import DEVELOPMENT_KEY
from streams.cli import app as cli
from streams.demo.app import demo_app
from streams.demo.embedded import EmbeddedReport, events_only, run_embedded

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def demo_run() -> tuple[EmbeddedReport, EmbeddedRunner]:
    """The demo's run: the shipped models on 3,000 drifting events (once for this module)."""
    config = load_config(ROOT / "config" / "models.yaml")
    messages = events_only(orjson.dumps(e) for e in synthetic_events("agrawal_drift", 3000, seed=1))
    return run_embedded(config, messages)


def test_the_demo_serves_the_models_it_learned(tmp_path: Path, demo_run: tuple[EmbeddedReport, EmbeddedRunner]) -> None:
    report, runner = demo_run
    app = demo_app(runner, report.alerts, tmp_path / "registry", DEVELOPMENT_KEY, ROOT / "config" / "models.yaml")

    with TestClient(app) as client:
        models = client.get("/models").json()
        assert sorted(m["name"] for m in models) == ["hat", "ht", "lr", "nb"]
        assert {m["serving"] for m in models} == {1}
        key, features = next(iter(runner.features.vectors.items()))
        by_features = client.post("/predict", json={"model": "ht", "features": features}).json()
        by_key = client.post("/predict", json={"model": "ht", "key": key}).json()
        assert by_features == by_key and by_key["events_seen"] == 3000
        ht = next(m for m in runner.learner.models if m.name == "ht")
        assert by_key["prediction"] == ht.answer(features).prediction
        assert len(client.get("/alerts").json()) == len(report.alerts)
        assert client.get("/readyz").json()["ready"] is True


def test_run_without_a_signing_key_fails_naming_the_setting_unless_it_serves_nothing(  # type: ignore[no-untyped-def]
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STREAMWISE_DEV", raising=False)
    monkeypatch.delenv("STREAMWISE_SNAPSHOT_KEY", raising=False)
    result = CliRunner().invoke(cli, ["run", "--n", "10"])  # fails before the stream, not after it
    assert result.exit_code != 0 and "STREAMWISE_SNAPSHOT_KEY" in str(result.exception)
    alone = CliRunner().invoke(cli, ["run", "--n", "10", "--no-serve", "--out", str(tmp_path / "r.json")])
    assert alone.exit_code == 0, alone.output  # no registry, no snapshot: no key to need


def test_the_demo_dashboard_shows_its_run_with_exact_versions(
    tmp_path: Path, demo_run: tuple[EmbeddedReport, EmbeddedRunner]
) -> None:
    report, runner = demo_run
    app = demo_app(runner, report.alerts, tmp_path / "registry", DEVELOPMENT_KEY, ROOT / "config" / "models.yaml")
    with TestClient(app) as client:
        assert client.get("/dashboard").status_code == 200
        data = client.get("/dashboard/data").json()
    assert sorted(m["name"] for m in data["models"]) == ["hat", "ht", "lr", "nb"]
    assert len(data["alerts"]) == len(report.alerts)
    for entry in data["models"]:
        [status] = entry["status"]
        model = next(m for m in runner.learner.models if m.name == entry["name"])
        assert status["events"] == 3000 and len(status["history"]) == 3000 // 100  # history_every
        bumps = [a.events_seen for a in report.alerts if a.model == model.name and a.action in (RESET, BACKGROUND_SWAP)]
        expected = [1 + sum(b < p.events for b in bumps) for p in model.history]
        assert [p["generation"] for p in status["history"]] == expected
        assert status["generation"] == 1 + len(bumps)
