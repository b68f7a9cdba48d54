"""``streamwise status``: lag arithmetic, formatting, the report's degraded sections, and the two
worker gauges of the stack (consumer lag, snapshot time), without services."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console
from typer.testing import CliRunner

from streams.cli import app
from streams.cli.status.probes import StackSettings
from streams.cli.status.render import render
from streams.cli.status.report import (
    PartitionLag,
    Process,
    Report,
    Section,
    age_of,
    format_age,
    format_metrics,
    format_versions,
    lag_rows,
    model_row,
    process_state,
)
from streams.prometheus import StreamMetrics, partition_lag

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_partition_lag_is_high_watermark_minus_position_never_negative() -> None:
    assert partition_lag(120, 100) == 20
    assert partition_lag(120, 120) == 0
    assert partition_lag(120, 121) == 0  # Faust's read offset right after a seek: one too far
    assert partition_lag(120, None) == 120  # nothing committed: everything from the start
    assert partition_lag(120, None, low=20) == 100  # ... from the low watermark (retention)
    assert partition_lag(120, 5, low=20) == 100  # a committed offset below retention
    assert partition_lag(120, -1001) == 120  # librdkafka's OFFSET_INVALID
    assert partition_lag(None, 5) is None
    assert partition_lag(-1, 5) is None


def test_lag_rows_sorted_with_invalid_committed_offsets_as_none() -> None:
    committed = {("a", 1): 7, ("a", 0): -1001, ("b", 0): 3}
    watermarks = {("b", 0): (0, 3), ("a", 1): (0, 10), ("a", 0): (2, 5)}
    rows = lag_rows(committed, watermarks)
    assert [(r.topic, r.partition, r.committed, r.lag) for r in rows] == [
        ("a", 0, None, 3),
        ("a", 1, 7, 3),
        ("b", 0, 3, 0),
    ]
    assert rows[0].to_dict() == {"topic": "a", "partition": 0, "committed": None, "low": 2, "high": 5, "lag": 3}


def test_lag_rows_without_committed_entry() -> None:
    assert lag_rows({}, {("t", 0): (0, 4)}) == [PartitionLag("t", 0, None, 0, 4)]


@pytest.mark.parametrize(
    ("pid", "answers", "state"),
    [(12, True, "running"), (12, False, "not answering"), (None, True, "external"), (None, False, "stopped")],
)
def test_process_state(pid: int | None, answers: bool, state: str) -> None:
    assert process_state(pid, answers) == state
    assert Process("x", "addr", pid, answers, "log").to_dict()["state"] == state


def test_format_age() -> None:
    assert [format_age(s) for s in (-3, 0, 4.9, 59, 60, 192, 3599, 3600, 7500, 86400, 273600)] == [
        "0s",
        "0s",
        "4s",
        "59s",
        "1m00s",
        "3m12s",
        "59m59s",
        "1h00m",
        "2h05m",
        "1d00h",
        "3d04h",
    ]


def test_age_of_iso_times() -> None:
    assert age_of("2026-01-01T11:59:30.000+00:00", NOW) == "30s"
    assert age_of("2026-01-01T11:58:00", NOW) == "2m00s"  # naive: UTC
    assert age_of(None, NOW) == "-"
    assert age_of("yesterday", NOW) == "-"


def test_format_versions_and_metrics() -> None:
    assert format_versions([9, 1, 2, 3, 7, 10]) == "1-3,7,9-10"
    assert format_versions([4]) == "4"
    assert format_versions([]) == "-"
    assert format_metrics({"Accuracy": 0.91234, "F1": 0.5, "ROCAUC": 1.0, "LogLoss": 0.3}) == (
        "Accuracy=0.9123  F1=0.5000  ROCAUC=1.0000"
    )
    assert format_metrics({}) == ""


def test_model_row() -> None:
    versions = [
        {"version": 1, "created_at": "t1", "reason": "every_events"},
        {"version": 3, "created_at": "t3", "reason": "shutdown"},
    ]
    champion = {"version": 1, "candidate": "lr", "pinned": True}
    assert model_row("lr", champion, versions) == {
        "model": "lr",
        "champion": 1,
        "candidate": "lr",
        "pinned": True,
        "versions": [1, 3],
        "newest": 3,
        "newest_at": "t3",
        "newest_reason": "shutdown",
    }
    row = model_row("ht", None, [])
    assert (row["champion"], row["versions"], row["newest"], row["pinned"]) == (None, [], None, False)


def _report(redis_error: str | None = None, worker_answers: bool = True) -> Report:
    down = Section(error=redis_error) if redis_error else None
    live = {"model": "lr", "partition": 0, "generation": 2, "events": 3000, "labeled": 3000}
    return Report(
        processes=[
            Process("kafka", "127.0.0.1:9092", 11, True, "logs/kafka"),
            Process("worker", "http://127.0.0.1:9464/metrics", 12, worker_answers, "logs/worker.log"),
        ],
        group="streamwise",
        lag=Section(rows=[PartitionLag("events.raw", 0, 2990, 0, 3000).to_dict()], note="missing topics: x"),
        models=down or Section(rows=[model_row("lr", {"version": 2, "candidate": "lr"}, [{"version": 2}])]),
        live=down or Section(rows=[{**live, "metrics": {"Accuracy": 0.9}, "updated_at": "2026-01-01T11:59:58+00:00"}]),
        alerts=down or Section(),
    )


def _rendered(report: Report) -> str:
    console = Console(record=True, width=200)
    render(report, console, NOW)
    return console.export_text()


def test_report_renders_every_section() -> None:
    text = _rendered(_report())
    assert "running" in text and "Consumer lag: 10 in all" in text
    assert "missing topics: x" in text
    assert "v2" in text and "Accuracy=0.9000" in text and "2s ago" in text
    assert "Last drift alerts: none" in text
    assert _report().ok


def test_a_model_that_failed_on_events_is_flagged_with_its_counts() -> None:
    report = _report()
    failing = {"model": "nb", "partition": 0, "generation": 1, "events": 10, "labeled": 0, "metrics": {},
               "failures": {"learn: TypeError": 6000}, "updated_at": "2026-01-01T11:59:58+00:00"}  # fmt: skip
    report.live.rows.append(failing)
    text = _rendered(report)
    assert "learn: TypeError x6000" in text and "n/a (nothing scored)" in text


def test_partitions_show_dead_letters_by_reason_and_waiting_labels() -> None:
    report = _report()
    report.parts.rows.extend([
        {"part": "intake:0", "partition": 0, "dead_letters": {"invalid_json": 3, "non_finite": 1}},
        {"part": "learner:0", "partition": 0, "dead_letters": {"label_unmatched": 7}, "waiting_predictions": 120,
         "waiting_labels": 2},
    ])  # fmt: skip
    text = _rendered(report)
    assert "invalid_json 3  non_finite 1" in text and "label_unmatched 7" in text
    assert "120" in text and report.to_dict()["partitions"]["rows"][1]["waiting_labels"] == 2


def test_a_service_down_is_one_line_and_not_ok() -> None:
    report = _report(redis_error="Redis unreachable at redis://127.0.0.1:1/0: refused", worker_answers=False)
    text = _rendered(report)
    assert text.count("Redis unreachable at redis://127.0.0.1:1/0: refused") == 3  # models, live, alerts
    assert "not answering" in text
    assert not report.ok
    doc = report.to_dict()
    assert doc["ok"] is False and doc["models"] == {
        "ok": False,
        "error": "Redis unreachable at redis://127.0.0.1:1/0: refused",
        "note": None,
        "rows": [],
    }
    assert doc["lag"]["group"] == "streamwise" and doc["lag"]["rows"][0]["lag"] == 10
    orjson.dumps(doc)  # JSON-ready


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_status_with_every_service_down_prints_and_strict_fails(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    for name, value in {
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "RUN_DIR": str(tmp_path),
        "API_PORT": str(port),
        "PROMETHEUS_PORT": str(port),
        "METRICS_PORT": str(port),
    }.items():
        monkeypatch.setenv(f"STREAMWISE_{name}", value)
    runner = CliRunner()
    result = runner.invoke(app, ["status", "--json", "--timeout", "0.5"])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert {p["name"]: p["state"] for p in doc["processes"]} == dict.fromkeys(
        ("kafka", "redis", "prometheus", "worker", "api"), "stopped"
    )
    assert doc["lag"]["error"].startswith(f"Kafka unreachable at 127.0.0.1:{port}")
    assert doc["alerts"]["error"].startswith(f"Redis unreachable at redis://127.0.0.1:{port}/0")
    assert runner.invoke(app, ["status", "--strict", "--timeout", "0.5"]).exit_code == 1


# -- the worker's gauges --------------------------------------------------------------------------


def test_consumer_lag_gauge_drops_partitions_gone_elsewhere() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(["lr"], registry)
    metrics.observe_consumer_lag({("raw", 0): 5, ("raw", 1): 0})
    assert registry.get_sample_value("streamwise_consumer_lag", {"topic": "raw", "partition": "0"}) == 5
    metrics.observe_consumer_lag({("raw", 1): 7})
    assert registry.get_sample_value("streamwise_consumer_lag", {"topic": "raw", "partition": "0"}) is None
    assert registry.get_sample_value("streamwise_consumer_lag", {"topic": "raw", "partition": "1"}) == 7


def test_snapshot_timestamp_gauge_is_the_snapshot_time() -> None:
    registry = CollectorRegistry()
    metrics = StreamMetrics(["lr"], registry)
    metrics.observe_snapshot("lr", {"reason": "every_events", "size": 10, "created_at": NOW.isoformat()}, 0.01)
    assert registry.get_sample_value("streamwise_snapshot_timestamp_seconds", {"model": "lr"}) == NOW.timestamp()


def test_the_stack_is_looked_for_where_infra_stack_sh_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMWISE_RUN_DIR", raising=False)
    root = Path(__file__).resolve().parents[4]
    assert (root / "infra" / "stack.sh").is_file()
    assert StackSettings().run_dir == root / ".run"  # its pid files and logs: the default of infra/stack.sh
