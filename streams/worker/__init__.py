"""The worker: the engine in a thread of its own, with faust-streaming as its runtime.

Faust runs what serves the engine and is not its data path: the process's lifecycle and signals,
its web server (``/health``), the status timer, and an agent on the low-volume control topic. The
engine (:mod:`streams.engine`) reads and writes the data topics with confluent-kafka in batches; a
Faust agent costs a task and a queue hop per message (about 4,500 messages/s here), which the data
path cannot afford (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from online_models.clock import utc_now
from online_models.config import StreamwiseConfig
from online_models.events import DeadLetter
from online_models.pipeline import Pipeline
from online_models.status import intake_status, learner_status, model_status
from online_models.storage import redis_connect
from online_models.storage.checkpoint_store import CheckpointStore
from online_models.storage.redis_registry import ModelRegistry
from online_models.storage.status_store import ModelStatusStore
from streams.deadletters import DeadLetterLog
from streams.engine import Engine
from streams.engine.bridge import Bridge
from streams.engine.health import Health
from streams.kafka import topics
from streams.kafka.admin import partition_count
from streams.online_state import OnlineState
from streams.prometheus import StreamMetrics
from streams.settings import Settings
from streams.webhook import WebhookSink
from streams.worker import control
from streams.worker.app import create_app
from streams.worker.logs import quiet_repeats

log = logging.getLogger("streamwise.worker")
STOP_GRACE_SECONDS = 3.0


@dataclass
class Runtime:
    """What the worker's parts share: the engine once it runs, its health, metrics and Redis stores."""

    settings: Settings
    pipeline: Pipeline
    metrics: StreamMetrics
    health: Health
    store: CheckpointStore | None = None
    registry: ModelRegistry | None = None
    online: OnlineState | None = None
    status: ModelStatusStore | None = None
    alert_sinks: list[Any] = field(default_factory=list)
    engine: Engine | None = None
    running: asyncio.Future[None] | None = None

    def stop_engine(self) -> None:
        """Ask the engine to stop, if there is one (without waiting for it)."""
        if self.engine is not None:
            self.engine.stop()

    async def wait_engine(self) -> None:
        """Wait until the engine's thread has ended (shielded: cancelling the wait does not cancel it)."""
        if self.running is not None:
            await asyncio.shield(self.running)


def build_worker(
    settings: Settings, config: StreamwiseConfig, registry: CollectorRegistry | None = None
) -> tuple[faust.App, Runtime]:
    """Return the worker's Faust app and the runtime its parts share, wired for ``settings`` and ``config``."""
    app = create_app(settings)
    quiet_repeats()
    metrics = StreamMetrics([m.name for m in config.models], registry)
    health = Health(on_change=lambda name, ok: metrics.component_up.labels(name).set(1 if ok else 0))
    runtime = Runtime(settings, Pipeline(config, max_event_bytes=settings.max_event_bytes), metrics, health)
    if settings.redis_url:
        _wire_redis(runtime)
    if settings.alert_webhook_url:
        sink = WebhookSink(
            settings.alert_webhook_url,
            retries=settings.alert_webhook_retries,
            backoff=settings.alert_webhook_backoff,
            timeout=settings.alert_webhook_timeout,
            queue_size=settings.alert_webhook_queue,
        )
        runtime.alert_sinks.append(sink.offer)
        app.task(sink.run)
    _wire_engine(app, runtime)
    _wire_control(app, runtime)
    _wire_status(app, runtime)
    _wire_health_page(app, runtime)
    return app, runtime


def _wire_redis(runtime: Runtime) -> None:
    settings = runtime.settings
    # Timeouts: a stalled Redis must fail a call (logged, retried), not hang the worker.
    client = redis_connect.connect(settings, timeout=10, connect_timeout=5)
    runtime.store = CheckpointStore(client, settings.redis_namespace, settings.app_id)
    runtime.registry = ModelRegistry(client, settings.redis_namespace, settings.signing_key(), settings.registry_retain)
    runtime.online = OnlineState(client, settings.redis_namespace, settings.feature_ttl_seconds)
    runtime.status = ModelStatusStore(client, settings.redis_namespace)
    runtime.alert_sinks.append(runtime.online.remember_alert)


def _wire_engine(app: faust.App, runtime: Runtime) -> None:
    """Run the engine in a thread of its own, started with the worker and stopped before it."""
    settings = runtime.settings

    @app.task
    async def start_engine() -> None:
        loop = asyncio.get_running_loop()
        online = runtime.online
        runtime.engine = Engine(
            settings,
            runtime.pipeline,
            runtime.metrics,
            bridge=Bridge(loop),
            store=runtime.store,
            registry=runtime.registry,
            alert_sinks=runtime.alert_sinks,
            remember_features=online.remember_many if online is not None else None,
            health=runtime.health,
        )
        thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="streamwise-engine")
        runtime.running = loop.run_in_executor(thread, runtime.engine.run)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # (mode types receivers narrower than it calls them)
    async def stop_engine(app: faust.App, **kwargs: object) -> None:
        """Stop the engine, wait for it and write the online state.

        A clean stop (SIGTERM) leaves a checkpoint of every partition and a snapshot of every model.
        """
        runtime.stop_engine()
        await runtime.wait_engine()
        if runtime.online is not None:
            await runtime.online.flush()


def _wire_control(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    learn_log = settings.topic(topics.FEATURES)
    partitions = partition_count(settings.kafka(), learn_log)

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            settings.topic(name), partitions=settings.partitions, key_serializer="raw", value_serializer="raw"
        )

    dlq = topic(topics.DLQ)

    logged = DeadLetterLog()

    async def reject(letter: DeadLetter) -> None:
        logged.note(letter)
        runtime.metrics.dead_letters.labels(letter.reason).inc()
        await dlq.send(key=None, value=letter.to_json())

    control.register(
        app,
        runtime.pipeline,
        topic(topics.CONTROL_TOPIC),
        app.topic(learn_log, partitions=partitions),
        partitions,
        reject,
    )


def _wire_status(app: faust.App, runtime: Runtime) -> None:
    @app.timer(interval=runtime.settings.status_interval)
    async def publish_status() -> None:
        """Publish the model status to Prometheus and Redis, off the engine's thread."""
        engine = runtime.engine
        if engine is None:
            return
        now = utc_now()
        statuses: list[dict[str, Any]] = []
        learners = engine.learners
        for partition, learner in learners.items():
            runtime.metrics.observe_models(partition, learner.models, len(learner.pending))
            statuses.extend(model_status(model, partition, now) for model in learner.models)
        parts = [
            *(intake_status(i, now) for i in engine.intakes.values()),
            *(learner_status(lr, now) for lr in learners.values()),
        ]
        runtime.metrics.observe_consumer_lag(engine.lags)
        if runtime.online is not None:
            await runtime.online.flush()
        if runtime.status is not None:
            try:
                await runtime.status.publish(statuses)
                await runtime.status.publish_parts(parts)
            except (RedisError, OSError) as exc:
                runtime.health.failed("redis", f"model status not written: {exc}")


def _wire_health_page(app: faust.App, runtime: Runtime) -> None:
    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        """Answer 200 while the engine runs and everything it depends on answers; 503 says what does not."""
        engine = runtime.engine
        running = runtime.running is not None and not runtime.running.done()
        report = {
            **runtime.health.report(),
            "engine": {
                "running": running,
                "loop_seconds_ago": round(time.monotonic() - engine.beat, 3) if engine else None,
                "assigned": sorted(f"{p.topic}[{p.partition}]" for p in engine.assignment.all()) if engine else [],
                # The models this worker learns, each on its learn-log partition.
                "models": {m.name: p for p, lr in engine.learners.items() for m in lr.models} if engine else {},
                "restoring": sorted(f"{t}[{p}]" for t, p in engine.assignment.restoring) if engine else [],
                "lag": {f"{t}[{p}]": lag for (t, p), lag in sorted(engine.lags.items())} if engine else {},
                "pacing": engine.pacing() if engine else {},
            },
        }
        healthy = running and runtime.health.ok
        return web.json(report, status=200 if healthy else 503)


class Worker(faust.Worker):
    """Faust's worker, whose stop is bounded in time.

    At SIGTERM (or SIGINT) the engine stops at once, and if the process has not ended within
    ``STREAMWISE_SHUTDOWN_TIMEOUT`` (the broker or Redis unreachable) it exits anyway; what was not
    checkpointed is read again by the next worker.
    """

    def __init__(self, app: faust.App, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.runtime = runtime

    def _on_sigterm(self) -> None:
        self._stop_in_time()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._stop_in_time()
        super()._on_sigint()

    def _stop_in_time(self) -> None:
        self.runtime.stop_engine()
        engine = self.runtime.engine
        seconds = self.runtime.settings.shutdown_timeout
        threading.Thread(target=_exit_in_time, args=(engine, seconds), name="streamwise-shutdown", daemon=True).start()


def _exit_in_time(engine: Engine | None, seconds: float) -> None:
    """Exit the process once the stop's time is up, if it has not ended by then.

    Once the engine has closed, Faust gets a few seconds to stop (its consumer of the control topic
    waits for an unreachable broker in vain); the whole stop never takes over ``seconds``.
    """
    deadline = time.monotonic() + seconds
    if engine is not None and engine.stopped.wait(seconds):
        time.sleep(min(STOP_GRACE_SECONDS, max(deadline - time.monotonic(), 0.0)))
        log.warning("the engine has stopped; Faust did not within %g s more: exiting", STOP_GRACE_SECONDS)
        code = 0
    else:
        time.sleep(max(deadline - time.monotonic(), 0.0))
        log.error("the worker did not stop within %g s (Kafka or Redis unreachable?): exiting now", seconds)
        code = 1
    logging.shutdown()
    os._exit(code)
