"""``streamwise status``: what the local stack runs, the worker's consumer lag, the registry's model
versions, each model's live status and the last drift alerts.

Each section is read on its own: a service that is down turns its section into one line saying
so, and the others still print. The exit code is 0 whenever the report could be printed;
``--strict`` makes it 1 when a process or a service is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import redis
import redis.asyncio as aioredis
import typer
from confluent_kafka import Consumer, KafkaException, TopicPartition
from pydantic import Field
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.table import Table

from online_models.storage import redis_connect
from online_models.storage.redis_registry import ModelRegistry
from online_models.storage.status_store import ModelStatusStore
from online_models.storage.stores import AlertLog
from streams import topics
from streams.metrics import partition_lag
from streams.settings import SETTINGS_CONFIG, Settings, redacted_url

# The topics the engine reads (events, labels, the learn log): its consumer group's lag.
INPUT_TOPICS = topics.INPUTS
ROOT = Path(__file__).resolve().parents[1]
_kafka_log = logging.getLogger("streamwise.status.kafka")  # librdkafka's connection errors: not for the user
_kafka_log.addHandler(logging.NullHandler())
_kafka_log.propagate = False


class StackSettings(BaseSettings):
    """Where infra/stack.sh runs the local stack (the same variables and defaults)."""

    model_config = SETTINGS_CONFIG

    run_dir: Path = ROOT / ".run"
    api_port: int = Field(default=8000, ge=1, le=65535)
    prometheus_port: int = Field(default=9090, ge=1, le=65535)


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Process:
    name: str
    address: str
    pid: int | None  # from its pid file, when that process is alive
    answers: bool
    log: str

    @property
    def state(self) -> str:
        return process_state(self.pid, self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # the group's committed offset (None: nothing committed yet)
    low: int
    high: int

    @property
    def lag(self) -> int:
        return partition_lag(self.high, self.committed, self.low) or 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lag": self.lag}


@dataclass
class Section:
    """One part of the report: its rows, or why it could not be read."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.error is None, "error": self.error, "note": self.note, "rows": self.rows}


@dataclass
class Report:
    processes: list[Process]
    group: str
    lag: Section
    models: Section
    live: Section
    alerts: Section
    parts: Section = field(default_factory=Section)  # dead letters and waiting labels per partition

    @property
    def ok(self) -> bool:
        sections = (self.lag, self.models, self.live, self.alerts, self.parts)
        return all(p.answers for p in self.processes) and all(s.error is None for s in sections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "processes": [p.to_dict() for p in self.processes],
            "lag": {"group": self.group, **self.lag.to_dict()},
            "models": self.models.to_dict(),
            "live": self.live.to_dict(),
            "alerts": self.alerts.to_dict(),
            "partitions": self.parts.to_dict(),
        }


# -- pure helpers (tests/unit/streams/cli/test_status.py) ----------------------------------------


def process_state(pid: int | None, answers: bool) -> str:
    """running (ours and answering), not answering (ours, alive, silent), external (answering, not
    started by the stack scripts), stopped."""
    if pid is not None:
        return "running" if answers else "not answering"
    return "external" if answers else "stopped"


def lag_rows(
    committed: Mapping[tuple[str, int], int | None], watermarks: Mapping[tuple[str, int], tuple[int, int]]
) -> list[PartitionLag]:
    """One row per partition with known watermarks, in topic and partition order; a committed
    offset below zero (librdkafka's OFFSET_INVALID) means nothing committed."""
    rows = []
    for (topic, partition), (low, high) in sorted(watermarks.items()):
        offset = committed.get((topic, partition))
        rows.append(PartitionLag(topic, partition, offset if offset is not None and offset >= 0 else None, low, high))
    return rows


def format_age(seconds: float) -> str:
    """A short age: 4s, 3m12s, 2h05m, 3d04h."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def age_of(timestamp: str | None, now: datetime) -> str:
    """``format_age`` of an ISO-8601 time (``-`` when absent or unreadable)."""
    if not timestamp:
        return "-"
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return format_age((now - then).total_seconds())


def format_metrics(metrics: Mapping[str, float], limit: int = 3) -> str:
    return "  ".join(f"{name}={value:.4f}" for name, value in list(metrics.items())[:limit])


def format_failures(failures: Mapping[str, int]) -> str:
    """Events a model could not take, per stage and exception (``learn: TypeError x6000``); '-' for none."""
    return "  ".join(f"{reason} x{count}" for reason, count in failures.items()) or "-"


def format_versions(versions: Iterable[int]) -> str:
    """The kept versions, compactly: ``1-3,7,9-10``."""
    ordered = sorted(set(versions))
    runs: list[tuple[int, int]] = []
    for v in ordered:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) or "-"


def model_row(name: str, champion: Mapping[str, Any] | None, versions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A model of the registry: its champion and the versions it keeps."""
    newest = versions[-1] if versions else {}
    return {
        "model": name,
        "champion": champion.get("version") if champion else None,
        "candidate": champion.get("candidate") if champion else None,
        "pinned": bool(champion.get("pinned")) if champion else False,
        "versions": [int(m["version"]) for m in versions],
        "newest": newest.get("version"),
        "newest_at": newest.get("created_at"),
        "newest_reason": newest.get("reason"),
    }


# -- probes -------------------------------------------------------------------------------------


def pid_alive(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` when that process is alive."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    return pid


def http_ok(url: str, timeout: float) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def tcp_ok(address: str, timeout: float) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def redis_ok(settings: Settings, timeout: float) -> bool:
    try:
        client = redis_connect.connect_sync(settings, timeout)
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def processes(settings: Settings, stack: StackSettings, timeout: float) -> list[Process]:
    run, logs = stack.run_dir, stack.run_dir / "logs"
    bootstrap = settings.kafka_bootstrap.split(",")[0]
    if settings.metrics_port:
        worker_url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    else:
        worker_url = f"http://127.0.0.1:{settings.web_port}/"
    prometheus_url = f"http://127.0.0.1:{stack.prometheus_port}/-/ready"
    api_url = f"http://127.0.0.1:{stack.api_port}/healthz"
    return [
        Process(
            "kafka", bootstrap, pid_alive(run / "kafka" / "kafka.pid"), tcp_ok(bootstrap, timeout), str(logs / "kafka")
        ),
        Process(
            "redis",
            redacted_url(settings.redis_url),
            pid_alive(run / "redis" / "redis.pid"),
            redis_ok(settings, timeout),
            str(logs / "redis.log"),
        ),
        Process(
            "prometheus",
            prometheus_url,
            pid_alive(run / "prometheus.pid"),
            http_ok(prometheus_url, timeout),
            str(logs / "prometheus.log"),
        ),
        Process(
            "worker", worker_url, pid_alive(run / "worker.pid"), http_ok(worker_url, timeout), str(logs / "worker.log")
        ),
        Process("api", api_url, pid_alive(run / "api.pid"), http_ok(api_url, timeout), str(logs / "api.log")),
    ]


def consumer_lag(settings: Settings, timeout: float) -> Section:
    """Committed offsets of the worker's consumer group against the high watermarks of its input topics."""
    names = [settings.topic(t) for t in INPUT_TOPICS]
    try:
        consumer = Consumer(
            settings.kafka().consumer(
                settings.app_id,  # the engine's group: only reads its offsets, never subscribes, never commits
                **{"socket.connection.setup.timeout.ms": max(int(timeout * 1000), 1000), "logger": _kafka_log},
            )
        )
    except KafkaException as exc:
        return Section(error=f"Kafka client not configured: {exc.args[0].str()}")
    try:
        return _group_lag(consumer, names, timeout)
    except KafkaException as exc:
        return Section(error=f"Kafka unreachable at {settings.kafka_bootstrap}: {exc.args[0].str()}")
    finally:
        consumer.close()


def _group_lag(consumer: Consumer, names: list[str], timeout: float) -> Section:
    metadata = consumer.list_topics(timeout=timeout)
    present = [n for n in names if n in metadata.topics and metadata.topics[n].error is None]
    if not present:
        return Section(error=f"none of the worker's topics exist ({', '.join(names)}): run streamwise topics create")
    tps = [TopicPartition(n, p) for n in present for p in sorted(metadata.topics[n].partitions)]
    committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=timeout)}
    watermarks = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout, False) for tp in tps}
    rows = lag_rows(committed, {tp: wm for tp, wm in watermarks.items() if wm is not None})
    missing = [n for n in names if n not in present]
    return Section(rows=[r.to_dict() for r in rows], note=f"missing topics: {', '.join(missing)}" if missing else None)


async def _redis_sections(settings: Settings, alerts: int, timeout: float) -> tuple[Section, Section, Section, Section]:
    namespace = settings.redis_namespace
    client = redis_connect.connect(settings, timeout, timeout)
    try:
        await client.ping()
        registry = ModelRegistry(client, namespace, b"")  # reads metadata only: never signs nor verifies
        models = []
        for name in await registry.names():
            champion = await registry.champion(name)
            models.append(model_row(name, champion.to_dict() if champion else None, await registry.versions(name)))
        live = await _live_statuses(client, namespace)
        parts = await ModelStatusStore(client, namespace).parts()
        recent = await AlertLog(client, namespace).recent(alerts) if alerts else []
    finally:
        await client.aclose()
    return Section(rows=models), Section(rows=live), Section(rows=recent), Section(rows=parts)


async def _live_statuses(client: aioredis.Redis, namespace: str) -> list[dict[str, Any]]:
    """Every model's status documents (one per partition), as the worker last wrote them."""
    store = ModelStatusStore(client, namespace)
    names = sorted(await store.names())  # the set the worker adds each name to: no keyspace scan
    rows = []
    for name in names:
        for _partition, doc in sorted((await store.get(name)).items()):
            rows.append(doc)
    return rows


def redis_sections(settings: Settings, alerts: int, timeout: float) -> tuple[Section, Section, Section, Section]:
    try:
        return asyncio.run(_redis_sections(settings, alerts, timeout))
    except (redis.RedisError, OSError) as exc:
        down = Section(error=f"Redis unreachable at {redacted_url(settings.redis_url)}: {exc}")
        return down, down, down, down


def collect(settings: Settings, stack: StackSettings, alerts: int, timeout: float) -> Report:
    models, live, recent, parts = redis_sections(settings, alerts, timeout)
    lag = consumer_lag(settings, timeout)
    return Report(processes(settings, stack, timeout), settings.app_id, lag, models, live, recent, parts)


# -- rendering ----------------------------------------------------------------------------------

_STATE_STYLE = {"running": "green", "external": "cyan", "not answering": "yellow", "stopped": "red"}


def render(report: Report, console: Console, now: datetime) -> None:
    table = Table("process", "state", "pid", "address", "log", title="Local stack")
    for p in report.processes:
        style = _STATE_STYLE.get(p.state, "")
        table.add_row(p.name, f"[{style}]{p.state}[/]", str(p.pid or "-"), p.address, p.log)
    console.print(table)
    _render_section(console, f"Consumer lag (group {report.group})", report.lag, _lag_table)
    _render_section(console, "Models (registry)", report.models, _models_table)
    _render_section(console, "Live model status", report.live, lambda rows: _live_table(rows, now))
    _render_section(console, "Partitions: dead letters and waiting labels", report.parts, _parts_table)
    _render_section(console, "Last drift alerts", report.alerts, _alerts_table)


def _render_section(console: Console, title: str, section: Section, table: Any) -> None:
    if section.error is not None:
        console.print(f"[bold]{title}:[/] [red]{section.error}[/]")
        return
    if not section.rows:
        console.print(f"[bold]{title}:[/] none")
    else:
        console.print(table(section.rows))
    if section.note:
        console.print(f"[yellow]{section.note}[/]")


def _lag_table(rows: list[dict[str, Any]]) -> Table:
    total = sum(r["lag"] for r in rows)
    table = Table(
        "topic",
        "partition",
        "committed",
        "high watermark",
        "lag",
        title=f"Consumer lag: {total} in all",
        caption="committed offsets; the learn agent commits features only up to its last checkpoint",
    )
    for r in rows:
        committed = "-" if r["committed"] is None else str(r["committed"])
        table.add_row(r["topic"], str(r["partition"]), committed, str(r["high"]), str(r["lag"]))
    return table


def _models_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("model", "champion", "candidate", "pinned", "versions kept", "newest", "reason", title="Models")
    for r in rows:
        champion = "-" if r["champion"] is None else f"v{r['champion']}"
        newest = "-" if r["newest"] is None else f"v{r['newest']} {r['newest_at']}"
        row = (r["model"], champion, r["candidate"] or "-", "yes" if r["pinned"] else "no")
        table.add_row(*row, format_versions(r["versions"]), newest, r["newest_reason"] or "-")
    return table


def _live_table(rows: list[dict[str, Any]], now: datetime) -> Table:
    columns = ("model", "partition", "generation", "events", "labeled", "metrics", "failed", "updated")
    table = Table(*columns, title="Live status")
    for r in rows:
        counts = (r.get("partition"), r.get("generation"), r.get("events"), r.get("labeled"))
        failures = r.get("failures") or {}
        table.add_row(
            str(r.get("model")),
            *map(str, counts),
            format_metrics(r.get("metrics") or {}) or "n/a (nothing scored)",
            format_failures(failures),
            f"{age_of(r.get('updated_at'), now)} ago",
            style="red" if failures else None,  # a model that cannot take some events stands out
        )
    return table


def _parts_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("part", "dead letters by reason", "predictions waiting for a label", "labels waiting for their event",
                  title="Partitions")  # fmt: skip
    for r in rows:
        letters = r.get("dead_letters") or {}
        waiting = (r.get("waiting_predictions"), r.get("waiting_labels"))
        table.add_row(
            r["part"],
            "  ".join(f"{reason} {n}" for reason, n in sorted(letters.items())) or "-",
            *("-" if n is None else str(n) for n in waiting),
            style="red" if letters else None,
        )
    return table


def _alerts_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("ts", "kind", "model / feature", "detector", "action", "event", title=f"Last {len(rows)} alerts")
    for a in rows:
        where = a.get("model") or f"feature {a.get('feature')}"
        table.add_row(
            str(a.get("ts")),
            str(a.get("kind")),
            where,
            str(a.get("detector")),
            a.get("action") or "",
            str(a.get("event_id")),
        )
    return table


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a process or a service is down.")] = False,
    alerts: Annotated[int, typer.Option(min=0, help="How many of the last alerts to show.")] = 10,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each service.")] = 3.0,
) -> None:
    """What the local stack runs, the worker's consumer lag per partition, model versions and
    champions, each model's live status and the last drift alerts."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per probe
    settings, stack = Settings(), StackSettings()
    report = collect(settings, stack, alerts, timeout)
    if as_json:
        typer.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        render(report, Console(width=max(Console().width, 132)), datetime.now(tz=UTC))
    if strict and not report.ok:
        raise typer.Exit(1)
