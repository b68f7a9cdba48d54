"""Model snapshots into the registry.

The engine decides when and freezes the model (pickled in its own thread, where nothing else changes
it); the event loop numbers, signs and saves it, and the engine publishes the metadata to
``model.snapshots`` once it is saved.

A snapshot is due after a drift action, when a challenger is promoted, once a new model learned
``first_after`` labels, every ``every_events`` labeled events, every ``every_seconds``, when the
model learned something and then nothing for ``idle_seconds`` (each model's ``snapshot`` config),
and at a clean stop.
A snapshot that cannot be saved never stops the stream: it is logged, counted and retried when due
again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from online_models.evaluation import PrequentialModel
from online_models.learner import Learner, LearnResult
from online_models.promotion import Promotion
from online_models.registry import register_frozen
from online_models.snapshot import Frozen, Snapshot, SnapshotSchedule, canonical, describe
from online_models.storage.redis_registry import ModelRegistry
from streams.engine.bridge import Bridge
from streams.engine.freezer import Freezer
from streams.engine.health import Health
from streams.engine.outputs import Outputs
from streams.prometheus import StreamMetrics

log = logging.getLogger("streamwise.snapshots")


class Snapshots:
    """When each model of each learn-log partition is snapshotted, and the snapshots being saved."""

    def __init__(
        self,
        registry: ModelRegistry,
        bridge: Bridge,
        outputs: Outputs,
        metrics: StreamMetrics,
        health: Health,
        freezer: Freezer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freezer = freezer or Freezer()
        self.registry = registry
        self.bridge = bridge
        self.outputs = outputs
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.schedules: dict[tuple[int, str], SnapshotSchedule] = {}
        self._next: dict[int, list[float]] = {}  # per partition, per model: labeled count of its next snapshot
        self.saving: list[concurrent.futures.Future[Snapshot | None]] = []

    def after(self, learner: Learner, result: LearnResult) -> None:
        """Take the snapshots a record made due; called after each record.

        Those are for the promotions and drift actions it made, and for the models that reached their
        count of labeled events (exactly at it: the check costs a comparison per model).
        """
        if result.promotions or result.alerts:
            self._after_actions(learner, result)
        thresholds = self._next.get(learner.partition) or self._thresholds(learner)
        for model, at in zip(learner.models, thresholds, strict=True):
            if model.labeled >= at:
                first = self._schedule(learner.partition, model).first_pending
                self._take(learner, model, "first_labels" if first else "every_events")

    def _after_actions(self, learner: Learner, result: LearnResult) -> None:
        for promotion in result.promotions:
            self._promote(learner, promotion)
        acted = {alert.model for alert in result.alerts if alert.action}
        for model in learner.models:
            if model.name in acted and self._schedule(learner.partition, model).due(model.labeled, self.clock(), True):
                self._take(learner, model, "drift_action")

    def tick(self, learners: Iterable[Learner]) -> None:
        """Take the snapshots due by time (called once per batch, and when the stream is idle)."""
        now = self.clock()
        for learner in learners:
            for model in learner.models:
                reason = self._schedule(learner.partition, model).due(model.labeled, now)
                if reason is not None:
                    self._take(learner, model, reason)

    def forget(self, partition: int) -> None:
        """Drop the schedules of a learn-log partition that went elsewhere: its next owner schedules its snapshots."""
        self._next.pop(partition, None)
        for key in [k for k in self.schedules if k[0] == partition]:
            del self.schedules[key]

    def take_all(self, learners: Iterable[Learner], reason: str) -> None:
        """Snapshot every model of ``learners`` for ``reason``; at a shutdown, only those whose config asks for it."""
        for learner in learners:
            for model in learner.models:
                if model.spec.snapshot.on_shutdown or reason != "shutdown":
                    self._take(learner, model, reason)

    def collect(self, wait: float = 0.0) -> None:
        """Publish the metadata of the snapshots saved since; log and count those that failed."""
        if wait and self.saving:
            concurrent.futures.wait(self.saving, timeout=wait)
        done = [f for f in self.saving if f.done()]
        self.saving = [f for f in self.saving if not f.done()]
        for future in done:
            try:
                snap = future.result()
            except Exception as exc:  # a snapshot that fails must never stop the stream
                self.metrics.snapshot_failures.inc()
                self.health.failed("redis", f"snapshot not saved (retried when due): {type(exc).__name__}: {exc}")
                continue
            if snap is not None:
                self.health.succeeded("redis")
                self.outputs.snapshot(snap.name, canonical(snap.metadata))

    def _schedule(self, partition: int, model: PrequentialModel) -> SnapshotSchedule:
        key = (partition, model.name)
        schedule = self.schedules.get(key)
        if schedule is None:
            schedule = self.schedules[key] = SnapshotSchedule(model.spec.snapshot, self.clock(), model.labeled)
        return schedule

    def _thresholds(self, learner: Learner) -> list[float]:
        thresholds = self._next.get(learner.partition)
        if thresholds is None:
            thresholds = self._next[learner.partition] = [
                self._schedule(learner.partition, m).next_labeled for m in learner.models
            ]
        return thresholds

    def _take(self, learner: Learner, model: PrequentialModel, reason: str, promotion: Promotion | None = None) -> None:
        """Freeze ``model`` now (its bytes may come later: :mod:`streams.engine.freezer`); save it on the loop."""
        self._schedule(learner.partition, model).taken(model.labeled, self.clock())
        self._next.pop(learner.partition, None)  # recomputed at the next record
        offsets = {topic: dict(parts) for topic, parts in learner.offsets.items()}
        metadata = describe(model, b"", version=0, partition=learner.partition, offsets=offsets, reason=reason)
        blob = self.freezer.freeze((learner.partition, model.name), model, like=("learner", learner.partition))
        self.saving.append(self.bridge.submit(self._save(model.slot, blob, metadata, promotion)))

    def _promote(self, learner: Learner, promotion: Promotion) -> None:
        """Snapshot the winning challenger and make it the champion (not pinned: it follows)."""
        model = next(m for m in learner.models if m.name == promotion.to_candidate)
        self._take(learner, model, "promotion", promotion)

    async def _save(
        self,
        name: str,
        blob: concurrent.futures.Future[bytes],
        metadata: dict[str, Any],
        promotion: Promotion | None = None,
    ) -> Snapshot:
        frozen = Frozen(name, await asyncio.wrap_future(blob), metadata)
        started = time.perf_counter()
        snap = await register_frozen(self.registry, frozen)
        self.metrics.observe_snapshot(frozen.metadata["candidate"], snap.metadata, time.perf_counter() - started)
        if promotion is not None:
            # None when a person pinned a champion: the judge learns of the pin through the learn log.
            champion = await self.registry.auto_promote(promotion.name, snap.version, promotion.reason)
            if champion is not None:
                self.metrics.promotions.labels(promotion.name, promotion.to_candidate).inc()
                log.warning("promoted %s v%d: %s", promotion.name, snap.version, promotion.reason)
        return snap
