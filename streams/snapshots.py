"""The worker's snapshotter: signed model snapshots into the registry and onto ``model.snapshots``.

Pickling runs in a thread so the event loop keeps serving heartbeats, timers and the other
agents. It is awaited by the learn agent itself, so its partition's models do not change while
they are being pickled (that partition's stream waits for the snapshot, the process does not).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import faust
import orjson
from redis.exceptions import RedisError

from online_models.evaluation import PrequentialModel
from online_models.pipeline import Learner, LearnResult
from online_models.promotion import Promotion
from online_models.registry import ModelRegistry, RegistryError, register
from online_models.snapshot import SnapshotSchedule
from streams.metrics import StreamMetrics

log = logging.getLogger("streamwise.snapshots")


class Snapshotter:
    def __init__(
        self,
        registry: ModelRegistry,
        topic: faust.TopicT,
        metrics: StreamMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self.schedules: dict[tuple[int, str], SnapshotSchedule] = {}

    def _schedule(self, partition: int, model: PrequentialModel) -> SnapshotSchedule:
        key = (partition, model.name)
        schedule = self.schedules.get(key)
        if schedule is None:
            schedule = self.schedules[key] = SnapshotSchedule(model.spec.snapshot, self.clock())
        return schedule

    async def after(self, learner: Learner, result: LearnResult) -> None:
        """Snapshot each model of ``learner`` that is due after this step."""
        for promotion in result.promotions:
            await self.promote(learner, promotion)
        acted = {alert.model for alert in result.alerts if alert.action}
        now = self.clock()
        for model in learner.models:
            reason = self._schedule(learner.partition, model).due(model.labeled, now, model.name in acted)
            if reason is not None:
                await self.take(learner, model, reason)

    def wants(self, learner: Learner, result: LearnResult) -> bool:
        """Whether ``after`` would snapshot anything: a cheap check for callers off the event loop."""
        if result.promotions or any(alert.action for alert in result.alerts):
            return True
        now = self.clock()
        return any(self._schedule(learner.partition, m).due(m.labeled, now) is not None for m in learner.models)

    async def take_all(self, learners: dict[int, Learner], reason: str) -> None:
        for learner in learners.values():
            for model in learner.models:
                if model.spec.snapshot.on_shutdown or reason != "shutdown":
                    await self.take(learner, model, reason)

    async def promote(self, learner: Learner, promotion: Promotion) -> None:
        """Snapshot the winning challenger and make it the champion (not pinned: it follows)."""
        model = next(m for m in learner.models if m.name == promotion.to_candidate)
        judge = learner.judges[promotion.name]
        version = await self.take(learner, model, "promotion")
        champion = None
        if version is not None:
            try:
                champion = await self.registry.auto_promote(promotion.name, version, promotion.reason)
            except (RedisError, OSError, RegistryError) as exc:
                log.warning("promotion of %s not recorded: %s", promotion.to_candidate, exc)
        if champion is None:  # not recorded, or a person pinned a champion: the judge keeps the old one
            judge.champion = promotion.from_candidate
            return
        self.metrics.promotions.labels(promotion.name, promotion.to_candidate).inc()
        log.warning("promoted %s v%d: %s", promotion.name, version, promotion.reason)

    async def take(self, learner: Learner, model: PrequentialModel, reason: str) -> int | None:
        """Snapshot ``model``; its registry version, or None when it could not be saved."""
        started = time.perf_counter()
        try:
            snap = await register(
                self.registry, model, reason=reason, partition=learner.partition, offsets=learner.offsets
            )
        except Exception as exc:  # a snapshot that fails must never stop the stream
            log.warning("snapshot of %s not saved (the stream goes on): %s: %s", model.name, type(exc).__name__, exc)
            self.metrics.snapshot_failures.inc()
            self._schedule(learner.partition, model).taken(model.labeled, self.clock())  # retry at the next due
            return None
        self._schedule(learner.partition, model).taken(model.labeled, self.clock())
        self.metrics.observe_snapshot(model.name, snap.metadata, time.perf_counter() - started)
        await self.topic.send(key=model.slot.encode(), value=orjson.dumps(snap.metadata))
        return snap.version
