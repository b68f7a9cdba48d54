"""A PNG of a run: each model's prequential metric over the events seen, with its drift alerts.

Written by ``streamwise run`` next to the JSON report. matplotlib is imported inside the functions
(the command line does not pay for it) and draws on its Agg canvas: no display, no pyplot state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.demo.embedded import EmbeddedReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Artist ids (``Artist.get_gid()``), so that a caller or a test can tell the lines apart.
MODEL_GID = "model:"  # + model name: its prequential curve
ALERT_GID = "alert:"  # + kind: a vertical line at an alert without an action
ACTION_GID = "action:"  # + action: a vertical line at a drift policy action

ALERT_STYLES: dict[str, dict[str, Any]] = {
    "concept_drift": {"linestyle": "--", "linewidth": 1.2, "alpha": 0.8},
    "concept_warning": {"linestyle": ":", "linewidth": 1.0, "alpha": 0.6},
    "data_drift": {"linestyle": "-.", "linewidth": 0.8, "alpha": 0.5, "color": "grey"},
}
ACTION_STYLE: dict[str, Any] = {"linestyle": "-", "linewidth": 2.2, "alpha": 0.35}


def plot_report(report: EmbeddedReport | Mapping[str, Any], path: Path, metric: str | None = None) -> Path:
    """Write the PNG of ``report`` (an EmbeddedReport or its JSON) to ``path``; return ``path``."""
    figure = report_figure(report, metric)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


def report_figure(report: EmbeddedReport | Mapping[str, Any], metric: str | None = None) -> Figure:
    """Return the figure of ``plot_report``.

    It has one line per model with a history of ``metric`` (default: the first model's first metric)
    and a vertical line per alert, in the model's colour.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = report.to_dict() if isinstance(report, EmbeddedReport) else report
    metric = metric or _default_metric(data["models"])
    figure = Figure(figsize=(11, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = _plot_models(axes, data["models"], metric)
    _plot_alerts(axes, data["alerts"], colours)
    axes.set_xlim(0, max(int(data["events"]), 1))
    axes.set_xlabel("events seen")
    axes.set_ylabel(f"prequential {metric}")
    axes.set_title(f"Prequential {metric} over {data['events']} events, {len(data['alerts'])} drift alerts")
    axes.grid(True, alpha=0.3)
    axes.legend(handles=_legend_handles(axes), loc="best", fontsize="small")
    return figure


def _default_metric(models: Mapping[str, Any]) -> str:
    for model in models.values():
        for name in model["metrics"]:
            return str(name)
    return "metric"


def _plot_models(axes: Axes, models: Mapping[str, Any], metric: str) -> dict[str, str]:
    """Draw one line per model that has ``metric``; return the colour of each model."""
    from matplotlib.colors import to_hex

    colours: dict[str, str] = {}
    for name, model in models.items():
        if metric not in model["metrics"]:
            continue
        points = [(p["events"], p["metrics"][metric]) for p in model["history"] if metric in p["metrics"]]
        if not points or points[-1][0] != model["events"]:
            points.append((model["events"], model["metrics"][metric]))  # the final value
        xs, ys = zip(*points, strict=True)
        (line,) = axes.plot(xs, ys, marker="o", markersize=3, label=f"{name} ({model['recipe'] or model['estimator']})")
        line.set_gid(MODEL_GID + name)
        colours[name] = to_hex(line.get_color())
    return colours


def _plot_alerts(axes: Axes, alerts: list[Mapping[str, Any]], colours: Mapping[str, str]) -> None:
    """Draw a vertical line per alert.

    Dashed for a drift, dotted for a warning, grey dash-dot for data drift, and a wide translucent
    band for an alert that carried a policy action.
    """
    for alert in alerts:
        model = alert["model"]
        if model is not None and model not in colours:
            continue  # a model without the plotted metric
        colour = colours.get(model or "", "grey")
        if alert["action"]:
            line = axes.axvline(alert["events_seen"], color=colour, **ACTION_STYLE)
            line.set_gid(ACTION_GID + alert["action"])
        else:
            style = {"color": colour, **ALERT_STYLES.get(alert["kind"], ALERT_STYLES["concept_drift"])}
            line = axes.axvline(alert["events_seen"], **style)
            line.set_gid(ALERT_GID + alert["kind"])


def _legend_handles(axes: Axes) -> list[Any]:
    """Return the legend's handles: the models' curves, then one grey sample of each alert style drawn."""
    from matplotlib.lines import Line2D

    handles: list[Any] = [line for line in axes.get_lines() if (line.get_gid() or "").startswith(MODEL_GID)]
    gids = {line.get_gid() or "" for line in axes.get_lines()}
    for kind, style in ALERT_STYLES.items():
        if ALERT_GID + kind in gids:
            handles.append(Line2D([], [], **{"color": "grey", **style}, label=kind.replace("_", " ")))
    actions = sorted(gid.removeprefix(ACTION_GID) for gid in gids if gid.startswith(ACTION_GID))
    if actions:
        handles.append(Line2D([], [], color="grey", **ACTION_STYLE, label=f"action: {', '.join(actions)}"))
    return handles
