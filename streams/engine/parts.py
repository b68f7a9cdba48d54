"""The input partitions assigned to this worker, each with its state, and their restore.

A partition of ``events.raw`` has an :class:`~online_models.intake.Intake`, a partition of the
learn log a :class:`~online_models.learner.Learner`, and a partition of ``events.labels`` no state
(it is read on from its committed offset). A state with something to keep (every learner; an
intake with per-key aggregates) is restored from its checkpoint when the partition is assigned:
the partition is paused, the checkpoint loaded on the event loop, and reading resumes at the
checkpoint's offset, so everything after it is read exactly once more.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from online_models import checkpoint
from online_models.checkpoint import CheckpointError
from online_models.intake import Intake
from online_models.learner import Learner
from online_models.partition import PartitionState
from online_models.pipeline import Pipeline
from online_models.storage.checkpoint_store import CheckpointStore
from streams.engine.bridge import Bridge
from streams.engine.freezer import Freezer
from streams.engine.health import Health
from streams.prometheus import StreamMetrics

log = logging.getLogger("streamwise.engine")
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # while a checkpoint cannot be loaded; then every 5 s


class Part:
    """One assigned input partition: its state, and how much it has read since its last checkpoint.

    Examples
    --------
    >>> labels = Part("events.labels", 0, None, stateful=False, now=100.0)   # no state: its offset is enough
    >>> labels.restoring, labels.next_offset
    (False, None)
    >>> labels.read_to, labels.since = 120, 3   # read on to offset 120, three records since its checkpoint
    >>> labels.next_offset
    120
    >>> labels.due(105.0, every_events=10_000, every_seconds=10.0), labels.due(110.0, 10_000, 10.0)
    (False, True)
    >>> Part("features", 0, None, stateful=True, now=100.0).restoring   # a learner still being loaded
    True
    """

    __slots__ = (
        "caught_up",
        "end",
        "held",
        "last_time",
        "last_ts",
        "partition",
        "read_to",
        "saving",
        "since",
        "state",
        "stateful",
        "topic",
    )

    def __init__(self, topic: str, partition: int, state: PartitionState | None, stateful: bool, now: float) -> None:
        self.topic = topic
        self.partition = partition
        self.state = state
        self.stateful = stateful  # its state must be in a checkpoint (else its offset is enough)
        self.read_to: int | None = None  # next offset, for a part without state (labels)
        self.since = 0  # records read since its last checkpoint
        self.last_time = now
        self.saving: Saving | None = None
        # Pacing (streams.engine.pacing): newest broker timestamp read, read to its end, held messages.
        self.last_ts = -1
        self.caught_up = False
        self.end = -1  # the offset of its last end-of-partition event
        self.held: deque[tuple[int, Any]] = deque()

    @property
    def restoring(self) -> bool:
        """Tell whether its state is still being loaded (it reads nothing until then)."""
        return self.stateful and self.state is None

    @property
    def next_offset(self) -> int | None:
        """Return the next offset to read: its state's, or ``read_to`` for a part without state."""
        return self.state.next_offset(self.topic) if self.state is not None else self.read_to

    def due(self, now: float, every_events: int, every_seconds: float) -> bool:
        """Tell whether a checkpoint is due: ``every_events`` records read, or ``every_seconds`` passed with any."""
        return self.since >= every_events or (self.since > 0 and now - self.last_time >= every_seconds)


@dataclass
class Saving:
    """A checkpoint being saved: its offset is committed once the save succeeds.

    Examples
    --------
    >>> saving = Saving(concurrent.futures.Future(), offset=1_200)
    >>> saving.future.done()
    False
    >>> saving.future.set_result(None)   # the save succeeded: offset 1200 may be committed
    >>> saving.future.done(), saving.offset
    (True, 1200)
    """

    future: concurrent.futures.Future[None]
    offset: int | None


@dataclass
class Restore:
    """A checkpoint being loaded for a paused part, and when to try again while it cannot be.

    Examples
    --------
    >>> restore = Restore(Learner, concurrent.futures.Future())   # a learner's checkpoint, loading
    >>> restore.kind.__name__, restore.future.done(), restore.attempts, restore.retry_at
    ('Learner', False, 0, 0.0)
    """

    kind: type[PartitionState]
    future: concurrent.futures.Future[PartitionState | None]
    attempts: int = 0
    retry_at: float = 0.0


class Assignment:
    """Parts by topic and partition; learners and intakes are read by the status timer too."""

    def __init__(
        self,
        raw: str,
        labels: str,
        learn: str,
        pipeline: Pipeline,
        store: CheckpointStore | None,
        key: bytes,
        bridge: Bridge | None,
        metrics: StreamMetrics,
        health: Health,
        freezer: Freezer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freezer = freezer
        self.raw, self.labels, self.learn = raw, labels, learn
        self.pipeline = pipeline
        self.store = store
        self.key = key
        self.bridge = bridge
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.parts: dict[str, dict[int, Part]] = {raw: {}, labels: {}, learn: {}}
        self.restoring: dict[tuple[str, int], Restore] = {}

    def all(self) -> list[Part]:
        """Return every part, of all three topics."""
        return [part for parts in self.parts.values() for part in parts.values()]

    def learners(self) -> dict[int, Learner]:
        """Return the learner of each learn-log partition, restored ones only."""
        return {p: part.state for p, part in list(self.parts[self.learn].items()) if part.state is not None}  # type: ignore[misc]

    def intakes(self) -> dict[int, Intake]:
        """Return the intake of each raw partition, restored ones only."""
        return {p: part.state for p, part in list(self.parts[self.raw].items()) if part.state is not None}  # type: ignore[misc]

    # -- rebalances (on the engine's thread, inside consume) ----------------------------------------

    def assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> list[Part]:
        """Take up ``partitions``: a part each at once.

        The ones whose state is being restored are paused, with no state until it is loaded.
        """
        consumer.incremental_assign(partitions)
        parts, waiting = [], []
        for tp in partitions:
            if tp.topic == self.labels:
                parts.append(self._install(tp.topic, tp.partition, None, stateful=False))
                continue
            kind: type[PartitionState] = Intake if tp.topic == self.raw else Learner
            fresh = self._fresh(kind, tp.partition)
            if self.store is None or self.bridge is None or not _stateful(fresh):
                parts.append(self._install(tp.topic, tp.partition, fresh, _stateful(fresh)))
                continue
            parts.append(self._install(tp.topic, tp.partition, None, stateful=True))
            self.restoring[(tp.topic, tp.partition)] = Restore(kind, self.bridge.submit(self._load(kind, tp.partition)))
            waiting.append(tp)
        # librdkafka keeps an application's pause across a revoke and a new assignment (it resets only
        # its own): a partition the pacer had paused when it went would never be fetched again.
        reading = [tp for tp in partitions if tp not in waiting]
        if reading:
            consumer.resume(reading)
        if waiting:
            consumer.pause(waiting)
        log.info("assigned %s", sorted((tp.topic, tp.partition) for tp in partitions))
        return parts

    def drop(self, partitions: list[TopicPartition]) -> list[Part]:
        """Give ``partitions`` up (revoked or lost); the parts that were installed."""
        gone = []
        for tp in partitions:
            self.restoring.pop((tp.topic, tp.partition), None)
            part = self.parts.get(tp.topic, {}).pop(tp.partition, None)
            if part is not None:
                gone.append(part)
        return gone

    # -- restores (at the end of a batch) -------------------------------------------------------------

    def poll_restores(self, consumer_of: Callable[[str], Consumer]) -> None:
        """Install the states loaded since; seek each to its checkpoint and resume it.

        A seek the consumer refuses (the partition's fetching is not set up yet, say after the broker
        came back) is tried again at the next batch: the partition stays paused until then.
        """
        now = self.clock()
        for (topic, partition), restore in list(self.restoring.items()):
            if not restore.future.done():
                continue
            try:
                state = restore.future.result() or self._fresh(restore.kind, partition)
            except Exception as exc:  # Redis away: nothing is read until the state is back
                self._retry(topic, partition, restore, now, exc)
                continue
            self.health.succeeded("redis")
            part = self.parts[topic].get(partition)
            if part is None:  # given up meanwhile
                del self.restoring[(topic, partition)]
                continue
            offset = state.next_offset(topic)
            consumer = consumer_of(topic)
            if offset is not None:
                try:
                    consumer.seek(TopicPartition(topic, partition, offset))
                except KafkaException as exc:
                    log.info("seek of %s[%d] to %d refused, tried again: %s", topic, partition, offset, exc)
                    continue
            del self.restoring[(topic, partition)]
            part.state = state
            consumer.resume([TopicPartition(topic, partition)])

    def _retry(self, topic: str, partition: int, restore: Restore, now: float, exc: BaseException) -> None:
        if restore.retry_at == 0.0:
            delay = RETRY_SECONDS[min(restore.attempts, len(RETRY_SECONDS) - 1)]
            restore.retry_at = now + delay
            self.health.failed("redis", f"checkpoint of {topic}[{partition}] not loaded (retry in {delay:g} s): {exc}")
            return
        if now >= restore.retry_at and self.bridge is not None:
            restore.attempts += 1
            restore.retry_at = 0.0
            restore.future = self.bridge.submit(self._load(restore.kind, partition))

    async def _load(self, kind: type[PartitionState], partition: int) -> PartitionState | None:
        """Load the state of the stored checkpoint; None without one or when it is refused (then fresh)."""
        assert self.store is not None
        name = checkpoint.kind_name(kind)
        found = await self.store.load(name, partition)
        if found is None:
            self.metrics.restores.labels("fresh").inc()
            return None
        started = time.perf_counter()
        try:
            state = await asyncio.to_thread(checkpoint.restore, found, self.pipeline.config, self.key, kind)
            if isinstance(state, Learner) and not state.placed_like(self.pipeline.placement):
                raise CheckpointError("config", f"learner checkpoint of partition {partition} hosts other models")
        except CheckpointError as exc:
            # A new model config, a wrong key, tampering: start fresh from the committed offsets, loudly.
            log.error("%s checkpoint of partition %d refused, starting fresh: %s", name, partition, exc)
            self.metrics.restores.labels(exc.reason).inc()
            return None
        state.clock = self.pipeline.clock  # type: ignore[attr-defined]
        if self.freezer is not None:  # loading took about what pickling it again will
            self.freezer.seconds[(name, partition)] = time.perf_counter() - started
        self.metrics.restores.labels("restored").inc()
        log.info("%s of partition %d restored at offsets %s", name, partition, found.metadata["offsets"])
        return state

    def _fresh(self, kind: type[PartitionState], partition: int) -> PartitionState:
        return self.pipeline.new_intake(partition) if kind is Intake else self.pipeline.new_learner(partition)

    def _install(self, topic: str, partition: int, state: PartitionState | None, stateful: bool) -> Part:
        part = Part(topic, partition, state, stateful, self.clock())
        self.parts[topic][partition] = part
        return part


def _stateful(state: PartitionState) -> bool:
    return not isinstance(state, Intake) or state.is_stateful
