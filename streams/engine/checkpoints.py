"""Checkpoint rounds: every partition's progress made durable, then its offset committed.

A round flushes the producer first, so every output of every message a checkpoint includes is
delivered. Then each part that is due is made durable: a stateful one (a learner; an intake with
per-key aggregates) is frozen as it is now (pickled in the engine's thread, or by a forked child
when that takes long: :mod:`streams.engine.freezer`) and saved to Redis on the event loop, its
offset committed once the save succeeds; a stateless one (labels, an intake without aggregates)
just has its offset committed. The loop stands still only for the flush and the freezing: that
pause is measured (``streamwise_checkpoint_pause_seconds``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from confluent_kafka import Consumer, KafkaException, TopicPartition

from online_models import checkpoint
from online_models.config import StreamwiseConfig
from online_models.partition import PartitionState
from online_models.storage.checkpoint_store import CheckpointStore
from streams.engine.bridge import Bridge
from streams.engine.freezer import Freezer
from streams.engine.health import Health
from streams.engine.outputs import Outputs
from streams.engine.parts import Part, Saving
from streams.prometheus import StreamMetrics

log = logging.getLogger("streamwise.checkpoints")
FLUSH_SECONDS = 10.0  # a round waits this long for its outputs; else it is retried when due again


def freeze_key(part: Part) -> tuple[str, int]:
    """Return how the freezer knows a part's state: its kind (``learner``, ``intake``) and partition."""
    return (checkpoint.kind_name(cast(type[PartitionState], type(part.state))), part.partition)


class Checkpoints:
    """The checkpoint rounds of the engine's parts: what is due, the saves under way, and the offset commits."""

    def __init__(
        self,
        consumer_of: Callable[[str], Consumer],
        outputs: Outputs,
        store: CheckpointStore | None,
        bridge: Bridge | None,
        config: StreamwiseConfig,
        key: bytes,
        metrics: StreamMetrics,
        health: Health,
        every_events: int,
        every_seconds: float,
        freezer: Freezer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freezer = freezer or Freezer()
        self.consumer_of = consumer_of  # the consumer that commits a topic's offsets
        self.outputs = outputs
        self.store = store
        self.bridge = bridge
        self.config = config
        self.key = key
        self.metrics = metrics
        self.health = health
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.clock = clock

    def due(self, parts: Iterable[Part]) -> list[Part]:
        """Return the parts due now.

        That is every one without state (an offset to commit), and of those with state the longest
        waiting only. A round then pauses the loop for one freeze; the others follow in the next
        batches (parts taken up together fall due together: 4 learners and 4 intakes of one worker
        paused it for 128 ms in one round).
        """
        now = self.clock()
        found = [p for p in parts if p.saving is None and p.due(now, self.every_events, self.every_seconds)]
        stateful = [p for p in found if p.stateful]
        if len(stateful) <= 1:
            return found
        first = min(stateful, key=lambda p: p.last_time)
        return [p for p in found if not p.stateful or p is first]

    def round(self, parts: list[Part], flush_seconds: float = FLUSH_SECONDS) -> bool:
        """Checkpoint ``parts`` (those with progress); False when the outputs could not all be delivered."""
        parts = [p for p in parts if p.since and p.saving is None]
        if not parts:
            return True
        started = time.perf_counter()
        now = self.clock()
        if not self.outputs.flush(flush_seconds):
            for part in parts:
                part.last_time = now  # tried again after every_seconds
            return False
        commits = []
        for part in parts:
            offset = part.next_offset
            if part.stateful and self.store is not None and self.bridge is not None and part.state is not None:
                blob = self.freezer.freeze(freeze_key(part), part.state)
                metadata = checkpoint.describe(part.state, self.config)
                part.saving = Saving(self.bridge.submit(self._save(blob, metadata)), offset)
            elif offset is not None:
                commits.append(TopicPartition(part.topic, part.partition, offset))
            part.since, part.last_time = 0, now
        self.metrics.observe_checkpoint_pause(time.perf_counter() - started)
        self._commit(commits, asynchronous=True)
        return True

    def collect(self, parts: Iterable[Part], wait: float = 0.0, asynchronous: bool = True) -> None:
        """Commit the offsets of the checkpoints saved since (waiting up to ``wait`` seconds for them)."""
        saving = [p for p in parts if p.saving is not None]
        if wait and saving:
            concurrent.futures.wait([p.saving.future for p in saving], timeout=wait)  # type: ignore[union-attr]
        commits = []
        for part in saving:
            assert part.saving is not None
            future, offset = part.saving.future, part.saving.offset
            if not future.done():
                continue
            part.saving = None
            try:
                future.result()
            except Exception as exc:  # Redis away or slow: the part is due again after every_seconds
                self.metrics.checkpoint_failures.inc()
                self.health.failed("redis", f"checkpoint of {part.topic}[{part.partition}] not saved: {exc}")
                part.since = max(part.since, 1)
                continue
            self.health.succeeded("redis")
            if offset is not None:
                commits.append(TopicPartition(part.topic, part.partition, offset))
        self._commit(commits, asynchronous)

    async def _save(self, frozen: concurrent.futures.Future[bytes], metadata: dict[str, Any]) -> None:
        assert self.store is not None
        blob = await asyncio.wrap_future(frozen)
        started = time.perf_counter()
        cp = await asyncio.to_thread(checkpoint.seal, blob, metadata, self.key)
        await self.store.save(cp)  # False: the stored one goes as far already, which is as good
        self.metrics.observe_checkpoint(len(blob), time.perf_counter() - started)

    def _commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if not offsets:
            return
        by_consumer: dict[Consumer, list[TopicPartition]] = {}
        for tp in offsets:
            by_consumer.setdefault(self.consumer_of(tp.topic), []).append(tp)
        for consumer, tps in by_consumer.items():
            try:
                consumer.commit(offsets=tps, asynchronous=asynchronous)  # type: ignore[call-overload]  # (the stubs omit this form)
            except KafkaException as exc:  # committed offsets are a restart point: the next round commits again
                self.health.failed("kafka", f"offsets not committed: {exc.args[0].str()}")
