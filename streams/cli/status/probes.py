"""How ``streamwise status`` reads the stack.

It reads pid files, probes over HTTP and TCP, the engine's consumer lag, and the registry, live
status, partitions and alerts in Redis. Each section is read on its own: one that cannot be read
says why, and the others still come.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
from confluent_kafka import Consumer, KafkaException, TopicPartition
from pydantic import Field
from pydantic_settings import BaseSettings

from online_models.storage import redis_connect
from online_models.storage.redis_registry import ModelRegistry
from online_models.storage.status_store import ModelStatusStore
from online_models.storage.stores import AlertLog
from streams.cli.status.report import Process, Report, Section, lag_rows, model_row
from streams.kafka import topics
from streams.settings import SETTINGS_CONFIG, Settings, redacted_url

# The topics the engine reads (events, labels, the learn log): its consumer group's lag.
ROOT = Path(__file__).resolve().parents[3]  # the repository: infra/stack.sh runs from there
_kafka_log = logging.getLogger("streamwise.status.kafka")  # librdkafka's connection errors: not for the user
_kafka_log.addHandler(logging.NullHandler())
_kafka_log.propagate = False


class StackSettings(BaseSettings):
    """Where infra/stack.sh runs the local stack (the same variables and defaults)."""

    model_config = SETTINGS_CONFIG

    run_dir: Path = ROOT / ".run"
    api_port: int = Field(default=8000, ge=1, le=65535)
    prometheus_port: int = Field(default=9090, ge=1, le=65535)


def pid_alive(pid_file: Path) -> int | None:
    """Return the pid in ``pid_file`` when that process is alive, else None."""
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
    """Return whether a GET of ``url`` answers 200 within ``timeout`` seconds."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def tcp_ok(address: str, timeout: float) -> bool:
    """Return whether a TCP connection to ``address`` (``host:port``; no host: 127.0.0.1) opens in ``timeout`` s."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def redis_ok(settings: Settings, timeout: float) -> bool:
    """Return whether Redis answers a PING within ``timeout`` seconds."""
    try:
        client = redis_connect.connect_sync(settings, timeout)
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def processes(settings: Settings, stack: StackSettings, timeout: float) -> list[Process]:
    """Return the stack's processes (Kafka, Redis, Prometheus, worker, API): live pid, whether each answers."""
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
    """Return the consumer lag section of the worker's groups, or why Kafka could not be read.

    Committed offsets of each of the worker's consumer groups (intake, learners) against the high
    watermarks of the topics it reads.
    """
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for group, read in topics.groups(settings).items():
        section = _lag_of(settings, group, [settings.topic(t) for t in read], timeout)
        if section.error is not None:
            return section
        rows += section.rows or []
        missing += [section.note] if section.note else []
    return Section(rows=rows, note="; ".join(missing) if missing else None)


def _lag_of(settings: Settings, group: str, names: list[str], timeout: float) -> Section:
    try:
        consumer = Consumer(
            settings.kafka().consumer(
                group,  # an engine's group: only reads its offsets, never subscribes, never commits
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
    """Return the models, live status, alerts and partitions sections; each says so when Redis is unreachable."""
    try:
        return asyncio.run(_redis_sections(settings, alerts, timeout))
    except (redis.RedisError, OSError) as exc:
        down = Section(error=f"Redis unreachable at {redacted_url(settings.redis_url)}: {exc}")
        return down, down, down, down


def collect(settings: Settings, stack: StackSettings, alerts: int, timeout: float) -> Report:
    """Return the whole report: the processes, the consumer lag, then the sections read from Redis."""
    models, live, recent, parts = redis_sections(settings, alerts, timeout)
    lag = consumer_lag(settings, timeout)
    return Report(processes(settings, stack, timeout), settings.app_id, lag, models, live, recent, parts)
