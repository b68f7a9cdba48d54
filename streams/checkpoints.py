"""The learn agent's checkpoints: exact recovery without seeking back.

Faust drops messages below its read offset, so a restored state cannot seek its partition back.
Instead the learn agent acks a message only once a checkpoint includes it: the committed offset
never passes the stored checkpoint, a restarted (or newly assigned) worker restores the
checkpoint and skips what it already includes, and everything after it is learned once.

Pickling runs in a thread under ``lock``, which the agent also holds while a message changes the
learner, so a checkpoint is never taken halfway through an event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from faust.types import EventT
from redis.exceptions import RedisError

from online_models import checkpoint
from online_models.checkpoint import CheckpointError, CheckpointStore
from online_models.pipeline import Learner, Pipeline
from streams.metrics import StreamMetrics

log = logging.getLogger("streamwise.checkpoints")
RETRY_SECONDS = (0.5, 1, 2, 5)  # while Redis is away at assignment; then every 5 s


class Checkpointer:
    """Owns each partition's learner: restores it, checkpoints it, and acks what a checkpoint holds.

    Without a store (no Redis) every message is acked once processed: at-least-once delivery,
    with redeliveries dropped by the learner's window of recent event ids.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        metrics: StreamMetrics,
        store: CheckpointStore | None = None,
        key: bytes = b"",
        every_events: int = 10_000,
        every_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.store = store
        self.key = key
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.clock = clock
        self.lock = asyncio.Lock()
        self.learners: dict[int, Learner] = {}
        self._held: dict[int, list[EventT]] = {}
        self._last: dict[int, float] = {}

    async def learner(self, partition: int) -> Learner:
        learner = self.learners.get(partition)
        if learner is None:
            learner = await self.restore(partition) or self.pipeline.new_learner(partition)
            self.learners[partition] = learner
            self._last[partition] = self.clock()
        return learner

    async def after(self, learner: Learner, event: EventT) -> None:
        """``event`` changed ``learner``: ack it now, or hold it until a checkpoint includes it."""
        if self.store is None:
            event.ack()
            return
        if self.learners.get(learner.partition) is not learner:  # revoked meanwhile: the new owner replays it
            return
        held = self._held.setdefault(learner.partition, [])
        held.append(event)
        self.metrics.held_events.inc()
        due = len(held) >= self.every_events or self.clock() - self._last[learner.partition] >= self.every_seconds
        if due:
            await self.take(learner)

    async def tick(self) -> None:
        """A partition that went quiet still gets its checkpoint (and its offsets committed)."""
        now = self.clock()
        for partition, held in list(self._held.items()):
            learner = self.learners.get(partition)
            if held and learner is not None and now - self._last[partition] >= self.every_seconds:
                await self.take(learner)

    async def take_all(self) -> None:
        for learner in list(self.learners.values()):
            if self._held.get(learner.partition):
                await self.take(learner)

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked: drop their state unacked; whoever gets them restores and replays."""
        for partition in partitions:
            self.learners.pop(partition, None)
            self.metrics.held_events.dec(len(self._held.pop(partition, [])))

    async def take(self, learner: Learner) -> bool:
        """Checkpoint ``learner`` and ack the events it includes; False when it could not be saved."""
        partition = learner.partition
        async with self.lock:
            if self.learners.get(partition) is not learner:
                return False
            self._last[partition] = self.clock()
            cp = await self.save(learner)
        if cp is None:
            return False
        self._ack(partition, cp.metadata["offsets"])
        return True

    async def save(self, learner: Learner) -> checkpoint.Checkpoint | None:
        """Pickle ``learner`` (in a thread: the caller keeps it still), sign and store it; None when
        it could not be saved (logged and counted: Redis away or slow, the caller retries later)."""
        assert self.store is not None
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            cp = await loop.run_in_executor(None, checkpoint.take, learner, self.pipeline.config, self.key)
            await self.store.save(cp)
        except Exception as exc:
            log.warning(
                "checkpoint of partition %d not saved (retried): %s: %s", learner.partition, type(exc).__name__, exc
            )
            self.metrics.checkpoint_failures.inc()
            return None
        self.metrics.observe_checkpoint(cp.metadata["size"], time.perf_counter() - started)
        return cp

    def _ack(self, partition: int, offsets: dict[str, dict[str, int]]) -> None:
        held = self._held.get(partition, [])
        keep = []
        for event in held:
            message = event.message
            if message.offset < offsets.get(message.topic, {}).get(str(message.partition), 0):
                event.ack()
            else:
                keep.append(event)
        self.metrics.held_events.dec(len(held) - len(keep))
        self._held[partition] = keep

    async def restore(self, partition: int) -> Learner | None:
        """The learner of the stored checkpoint of ``partition``; None without one (or a refused one)."""
        if self.store is None:
            return None
        attempt = 0
        while True:
            try:
                found = await self.store.load(partition)
                break
            except (RedisError, OSError) as exc:  # nothing is learned until the state is back
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.warning("checkpoint of partition %d not loaded, retry in %ss: %s", partition, delay, exc)
                await asyncio.sleep(delay)
                attempt += 1
            except CheckpointError as exc:
                return self._refused(partition, exc)
        if found is None:
            self.metrics.restores.labels("fresh").inc()
            return None
        try:
            loop = asyncio.get_running_loop()
            learner = await loop.run_in_executor(None, checkpoint.restore, found, self.pipeline.config, self.key)
        except CheckpointError as exc:
            return self._refused(partition, exc)
        learner.clock = self.pipeline.clock
        self.metrics.restores.labels("restored").inc()
        log.info("partition %d restored at offsets %s", partition, found.metadata["offsets"])
        return learner

    def _refused(self, partition: int, exc: CheckpointError) -> None:
        # A new model config, a wrong key, tampering: start fresh from the committed offsets, loudly.
        log.error("checkpoint of partition %d refused, starting fresh: %s", partition, exc)
        self.metrics.restores.labels(exc.reason).inc()
        return None
