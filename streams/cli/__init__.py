"""The ``streamwise`` command line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from online_models.config import StreamwiseConfig, load_config
from online_models.datasets import EVENT, GENERATORS, synthetic_events, with_delayed_labels
from online_models.exceptions import StreamwiseError
from online_models.pipeline import EmbeddedRunner, ProcessResult
from streams.cli.alerts import alerts_app
from streams.cli.models import models_app
from streams.cli.status import status
from streams.cli.tail import tail as tail_command
from streams.embedded import EmbeddedReport, Message, events_only, read_jsonl, run_embedded, write_report
from streams.kafka import admin, topics
from streams.kafka.producer import encode_event, encode_label, encode_label_line, encode_line, produce
from streams.settings import Settings

app = typer.Typer(
    help="Streamwise: online River models learning from Kafka, evaluated prequentially.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Kafka topic administration.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(alerts_app, name="alerts")
app.command("tail")(tail_command)
app.add_typer(models_app, name="models")
app.command()(status)
console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Model config (YAML); default STREAMWISE_CONFIG.")
]


def _settings() -> Settings:
    return Settings()


def _config(path: Path | None) -> StreamwiseConfig:
    return load_config(path or _settings().config)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )


def _first_metric(runner: EmbeddedRunner) -> str:
    model = runner.learner.models[0]
    name, value = next(iter(model.metric_values().items()), (None, None))
    return f"{model.name} {name}={value:.4f}" if value is not None else f"{model.name} (nothing scored yet)"


def _run_with_progress(
    config: StreamwiseConfig, messages: Iterator[Message], total: int | None
) -> tuple[EmbeddedReport, EmbeddedRunner]:
    with _progress() as progress:
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


@app.command()
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
    cfg = _config(config)
    key = _settings().signing_key()  # before the stream: a missing key fails at once
    console.print(
        f"Streaming {n} {synthetic} events through {len(cfg.models)} models (embedded, test-then-train), "
        f"labels {label_delay} events late"
    )
    report, runner = _run_with_progress(cfg, _synthetic_messages(synthetic, n, seed, label_delay), n)
    _print_summary(report)
    _write_run_outputs(report, out)
    if serve:
        _serve_demo(runner, report, registry, key, config or _settings().config, port)


def _write_run_outputs(report: EmbeddedReport, out: Path) -> tuple[Path, Path]:
    """Write the JSON report to ``out`` and its plot next to it (same name, ``.png``); return both paths."""
    from streams.cli.plot import plot_report

    write_report(report, out)
    plot = plot_report(report, out.with_suffix(".png"))
    console.print(f"report written to {out}\nplot written to {plot}", soft_wrap=True, markup=False, highlight=False)
    return out, plot


def _serve_demo(
    runner: EmbeddedRunner, report: EmbeddedReport, root: Path, key: bytes, config: Path, port: int
) -> None:
    import uvicorn

    from streams.cli.demo import demo_app

    app = demo_app(runner, report.alerts, root, key, config)

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)  # one line each, ready to copy

    model = runner.learner.models[0].slot
    example = next(iter(runner.features.vectors.items()), None)
    say(
        f"\nServing {len({m.slot for m in runner.learner.models})} models on http://127.0.0.1:{port} "
        f"(registry in {root}); docs at http://127.0.0.1:{port}/docs.\n"
        f"Dashboard: http://127.0.0.1:{port}/dashboard\nTry:"
    )
    if example is not None:
        key_name, features = example
        body = orjson.dumps({"model": model, "features": features}).decode()
        say(f"  curl -s localhost:{port}/predict -H 'content-type: application/json' -d '{body}'")
        say(
            f"  curl -s localhost:{port}/predict -H 'content-type: application/json' "
            f'-d \'{{"model": "{model}", "key": "{key_name}"}}\''
        )
    say(f"  curl -s localhost:{port}/models   curl -s localhost:{port}/alerts\nCtrl-C stops it.")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _synthetic_messages(name: str, n: int, seed: int, label_delay: int) -> Iterator[Message]:
    events = synthetic_events(name, n, seed)
    if label_delay == 0:
        return ((EVENT, orjson.dumps(e)) for e in events)
    return ((kind, orjson.dumps(m)) for kind, m in with_delayed_labels(events, label_delay))


@app.command()
def evaluate(
    events: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="JSONL file of raw events.")],
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("report.json"),
    config: ConfigOption = None,
) -> None:
    """Run the embedded pipeline over a JSONL file and write final and periodic prequential metrics."""
    cfg = _config(config)
    report, _ = _run_with_progress(cfg, events_only(read_jsonl(events)), None)
    write_report(report, out)
    _print_summary(report)
    console.print(f"report written to {out}")


@app.command("produce")
def produce_command(
    file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="JSONL file of raw events.")] = None,
    labels: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="JSONL file of labels, to the labels topic.")
    ] = None,
    synthetic: Annotated[str | None, typer.Option(help=f"Generate events: {', '.join(GENERATORS)}.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of synthetic events.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    label_delay: Annotated[
        int,
        typer.Option(
            min=0,
            help="Synthetic labels go to the labels topic this many events late (0: inline), each after its event.",
        ),
    ] = 0,
    topic: Annotated[
        str | None,
        typer.Option(help="Target topic by its name in the stream (events.raw, ...): the topic prefix is added."),
    ] = None,
) -> None:
    """Produce raw events (and delayed labels), or labels, to Kafka at full speed (confluent-kafka)."""
    if sum(source is not None for source in (file, labels, synthetic)) != 1:
        raise typer.BadParameter("give exactly one of --file, --labels or --synthetic")
    if topic is not None and topic not in topics.ALL:
        raise typer.BadParameter(f"{topic!r}: one of {', '.join(topics.ALL)} (the topic prefix is added)")
    settings = _settings()
    labels_topic = settings.topic(topics.LABELS)
    target = settings.topic(topic or (topics.LABELS if labels is not None else topics.RAW))
    messages: Iterator[tuple[str, bytes | None, bytes]]
    if labels is not None:
        messages = ((target, *encode_label_line(line)) for line in read_jsonl(labels))
        total = None
    elif file is not None:
        messages = ((target, *encode_line(line)) for line in read_jsonl(file))
        total = None
    elif label_delay == 0:
        messages = ((target, *encode_event(e)) for e in synthetic_events(synthetic or "", n, seed))
        total = n
    else:
        messages = (
            (target, *encode_event(m)) if kind == EVENT else (labels_topic, *encode_label(m))
            for kind, m in with_delayed_labels(synthetic_events(synthetic or "", n, seed), label_delay)
        )
        total = 2 * n
    with _progress() as progress:
        task = progress.add_task(f"produce -> {target}", total=total, status="")
        # Labels reach the broker after their events (each comes label_delay or more messages later).
        report = produce(settings.kafka(), messages, lambda k: progress.advance(task, k), flush_every=label_delay)
    console.print(f"sent {report.sent}, delivered {report.delivered}, errors {len(report.errors)}")
    for error in report.errors[:10]:
        console.print(f"[red]delivery error:[/] {error}")
    if report.errors:
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create the core-loop topics with STREAMWISE_PARTITIONS partitions (idempotent)."""
    settings = _settings()
    outcome = admin.create_stream_topics(settings)
    for name, what in outcome.items():
        Console().print(f"{name}: {what}")


@app.command()
def worker() -> None:
    """Run the worker: the engine (events, labels, learning) against the configured Kafka and Redis."""
    from prometheus_client import start_http_server

    from online_models.gc_tuning import tune_gc
    from streams.worker import Worker, build_worker

    settings = _settings()
    cfg = load_config(settings.config)
    admin.create_stream_topics(settings)
    faust_app, runtime = build_worker(settings, cfg)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=runtime.metrics.registry)
    tune_gc()
    Worker(faust_app, runtime, loglevel=settings.log_level.upper()).execute_from_commandline()


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the HTTP API (FastAPI on uvicorn)."""
    import uvicorn

    from api.settings import ApiSettings

    ApiSettings().signing_key()  # fail here, naming the setting, rather than inside uvicorn
    os.environ.setdefault("STREAMWISE_TUNE_GC", "true")  # a serving process: see online_models/gc_tuning.py

    uvicorn.run("streams.cli.serve:create_api", factory=True, host=host, port=port)


def main() -> None:
    """Run the ``streamwise`` command line; a StreamwiseError is printed as one line and exits with code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except StreamwiseError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)
