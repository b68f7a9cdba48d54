"""``streamwise run`` and ``streamwise evaluate``: the embedded loop (``streams.demo``) on the terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from online_models.config import StreamwiseConfig, load_config
from online_models.datasets import GENERATORS, read_jsonl
from online_models.pipeline import EmbeddedRunner, ProcessResult
from streams.cli import options
from streams.cli.options import ConfigOption
from streams.demo.embedded import (
    EmbeddedReport,
    Message,
    by_time,
    events_only,
    labels_late,
    run_embedded,
    synthetic_messages,
    write_report,
)
from streams.demo.plot import plot_report


def _first_metric(runner: EmbeddedRunner) -> str:
    model = runner.learner.models[0]
    name, value = next(iter(model.metric_values().items()), (None, None))
    return f"{model.name} {name}={value:.4f}" if value is not None else f"{model.name} (nothing scored yet)"


def _run_with_progress(
    config: StreamwiseConfig, messages: Iterator[Message], total: int | None
) -> tuple[EmbeddedReport, EmbeddedRunner]:
    with options.progress() as progress:
        task = progress.add_task("prequential", total=total, status="")

        def on_result(runner: EmbeddedRunner, result: ProcessResult) -> None:
            for alert in result.alerts:
                progress.console.print(f"[yellow]alert[/] {alert.describe()}")
            if result.vector is not None and runner.learner.events_seen % 500 == 0:
                progress.update(task, advance=500, status=_first_metric(runner))

        report, runner = run_embedded(config, messages, on_result=on_result)
        progress.update(task, completed=report.events, status=_first_metric(runner))
    return report, runner


def _print_summary(report: EmbeddedReport) -> None:
    out = Console(width=max(Console().width, 132))  # CI logs are not terminals: keep rows on one line
    table = Table(title=f"Prequential results over {report.events} events and {report.labels} delayed labels")
    for column in ("model", "recipe", "generation", "events", "labeled", "expired", "metrics"):
        table.add_column(column)
    for name, model in report.models.items():
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in model["metrics"].items())
        counts = (model["generation"], model["events"], model["labeled"], report.expired.get(name, 0))
        table.add_row(name, model["recipe"] or model["estimator"], *map(str, counts), metrics)
    out.print(table)
    if report.alerts:
        alerts = Table(title=f"{len(report.alerts)} drift alerts")
        for column in ("events seen", "event", "kind", "model / feature", "detector", "action"):
            alerts.add_column(column)
        for alert in report.alerts:
            where = alert.model or f"feature {alert.feature}"
            row = (str(alert.events_seen), alert.event_id, alert.kind, where, alert.detector, alert.action or "")
            alerts.add_row(*row)
        out.print(alerts)
    if report.dead_letters:
        out.print(f"dead letters: {report.dead_letters}")


def run(
    config: ConfigOption = None,
    synthetic: Annotated[str, typer.Option(help=f"Data set: {', '.join(GENERATORS)}.")] = "agrawal_drift",
    n: Annotated[int, typer.Option("--n", min=1, help="Number of events.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    label_delay: Annotated[int, typer.Option(min=0, help="Labels arrive this many events late (0: inline).")] = 100,
    out: Annotated[
        Path, typer.Option(help="Where to write the JSON report; the PNG plot goes next to it (.png).")
    ] = Path(".run/report.json"),
    serve: Annotated[bool, typer.Option(help="Then serve the learned models over HTTP until Ctrl-C.")] = True,
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8000,
    registry: Annotated[Path, typer.Option(help="Folder of the demo's model registry.")] = Path(".run/registry"),
) -> None:
    """Run the embedded demo over a drifting synthetic stream, then serve the learned models.

    The stream goes through every configured model (no Kafka, no Redis), then the prediction API serves them.
    """
    settings = options.settings()
    path = config or settings.config
    cfg = load_config(path)
    key = settings.signing_key() if serve else b""  # before the stream: a missing key fails at once
    options.console.print(
        f"Streaming {n} {synthetic} events through {len(cfg.models)} models (embedded, test-then-train), "
        f"labels {label_delay} events late"
    )
    report, runner = _run_with_progress(cfg, synthetic_messages(synthetic, n, seed, label_delay), n)
    _print_summary(report)
    _write_run_outputs(report, out)
    if serve:
        from streams.demo.app import serve_demo  # FastAPI and uvicorn: only when serving

        serve_demo(runner, report.alerts, registry, key, path, port, say=_say)


def _write_run_outputs(report: EmbeddedReport, out: Path) -> None:
    """Write the JSON report to ``out`` and its plot next to it (same name, ``.png``)."""
    write_report(report, out)
    plot = plot_report(report, out.with_suffix(".png"))
    _say(f"report written to {out}\nplot written to {plot}")


def evaluate(
    events: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="JSONL file of raw events.")],
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("report.json"),
    config: ConfigOption = None,
    labels: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="JSONL file of labels, joined in the order of their ts."),
    ] = None,
    label_delay: Annotated[
        int, typer.Option(min=0, help="Each inline label is learned this many events late (River's delay).")
    ] = 0,
) -> None:
    """Run the embedded pipeline over a JSONL file and write final and periodic prequential metrics.

    Labels come inline, ``--label-delay`` events late, or from ``--labels`` (by time): the metrics
    equal River's ``progressive_val_score`` with the same delay.
    """
    if labels is not None and label_delay:
        raise typer.BadParameter("give --labels or --label-delay, not both")
    cfg = load_config(config or options.settings().config)
    lines = read_jsonl(events)
    if labels is not None:
        messages = by_time(lines, read_jsonl(labels))
    else:
        messages = labels_late(lines, label_delay) if label_delay else events_only(lines)
    report, _ = _run_with_progress(cfg, messages, None)
    write_report(report, out)
    _print_summary(report)
    options.console.print(f"report written to {out}")


def _say(text: str) -> None:
    options.console.print(text, soft_wrap=True, markup=False, highlight=False)  # one line each, ready to copy
