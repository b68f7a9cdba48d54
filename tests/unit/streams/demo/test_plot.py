"""The PNG of ``streamwise run``: each model's prequential metric and the drift alerts of a real run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from online_models.config import load_config
from streams.cli import app as cli
from streams.demo.embedded import EmbeddedReport, run_embedded, synthetic_messages
from streams.demo.plot import ACTION_GID, ALERT_GID, MODEL_GID, plot_report, report_figure

ROOT = Path(__file__).resolve().parents[4]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> EmbeddedReport:
    """The demo's models on a drifting stream (the concept switches at 2000), labels 100 events late."""
    config = load_config(ROOT / "config" / "models.yaml")
    report, _ = run_embedded(config, synthetic_messages("agrawal_drift", 4000, seed=42, label_delay=100))
    assert any(a.action for a in report.alerts) and any(not a.action for a in report.alerts)
    return report


def gids(report: EmbeddedReport | dict) -> Counter[str]:
    (axes,) = report_figure(report).axes
    return Counter(line.get_gid() or "" for line in axes.get_lines())


def test_the_plot_is_a_png_with_a_line_per_model_and_a_marker_per_alert(report: EmbeddedReport, tmp_path: Path) -> None:
    path = plot_report(report, tmp_path / "out" / "report.png")

    assert path == tmp_path / "out" / "report.png"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    drawn = gids(report)
    assert {g for g in drawn if g.startswith(MODEL_GID)} == {MODEL_GID + name for name in report.models}
    assert all(drawn[MODEL_GID + name] == 1 for name in report.models)
    actions = Counter(ACTION_GID + a.action for a in report.alerts if a.action)
    alerts = Counter(ALERT_GID + a.kind for a in report.alerts if not a.action)
    assert {g: n for g, n in drawn.items() if not g.startswith(MODEL_GID)} == actions + alerts
    assert {ACTION_GID + "reset", ACTION_GID + "background_swap", ALERT_GID + "concept_drift"} <= set(drawn)


def test_each_curve_follows_the_model_history_to_its_final_metric(report: EmbeddedReport) -> None:
    (axes,) = report_figure(report, metric="Accuracy").axes
    curves = {line.get_gid(): line for line in axes.get_lines() if (line.get_gid() or "").startswith(MODEL_GID)}
    for name, model in report.models.items():
        line = curves[MODEL_GID + name]
        # (a point before anything was scored has no metric: no point of the curve)
        history = [(p["events"], p["metrics"]["Accuracy"]) for p in model["history"] if p["metrics"]]
        points = [tuple(p) for p in np.asarray(line.get_xydata()).tolist()]
        assert points[: len(history)] == history and points[-1] == (4000, model["metrics"]["Accuracy"])
    assert axes.get_xlim() == (0, 4000) and axes.get_ylabel() == "prequential Accuracy"
    legend_box = axes.get_legend()
    assert legend_box is not None
    legend = [text.get_text() for text in legend_box.get_texts()]
    assert legend[: len(report.models)] == [f"{n} ({m['recipe']})" for n, m in report.models.items()]
    assert any(label.startswith("action: ") for label in legend)


def test_the_json_report_plots_the_same_figure(report: EmbeddedReport) -> None:
    assert gids(orjson.loads(orjson.dumps(report.to_dict()))) == gids(report)


def test_run_writes_the_json_report_and_the_plot_next_to_it(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STREAMWISE_DEV", "1")
    out = tmp_path / "run" / "report.json"
    result = CliRunner().invoke(cli, ["run", "--n", "1500", "--no-serve", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert orjson.loads(out.read_bytes())["events"] == 1500
    assert out.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)
    assert f"report written to {out}" in result.output and f"plot written to {out.with_suffix('.png')}" in result.output
