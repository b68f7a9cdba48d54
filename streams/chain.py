"""The chained fast path: validate, features and learn in one loop over ``events.raw``.

With ``STREAMWISE_CHAIN=1`` the worker runs this loop instead of the validate, features and learn
agents (README "Performance"). The semantics stay those of the agents: every valid event is
featurized, its vector published to ``features``, predicted, scored and learned in its
partition's order; invalid events go to the dead-letter topic with their reason. What changes is
the cost per event. Faust hands each message through tasks, queues and an event object (about
4,500 messages/s for an agent that does nothing, on the benchmark machine), and each of the three
agents pays it again for one event. Here confluent-kafka (librdkafka, in C) fetches and produces
in batches, and the loop runs in a thread of its own, so the event loop of the Faust worker stays
free for heartbeats, timers, the labels agent and the snapshots it is asked to write.

Exact recovery works as in the agents: each partition's learner (models, label join, recent
event ids and, here, the per-key aggregates too) is checkpointed with the offsets it includes.
A partition assigned to this loop restores its checkpoint and *seeks* to the offset after it, so
the events since are learned once. A checkpoint first flushes the producer: the outputs of every
event it includes have been delivered. Offsets are committed to Kafka only as far as a
checkpoint, for the tools that read consumer lag.

Delayed labels reach the loop through the same log as their events, so a partition replays in
exactly the order it was learned: a forwarder in this thread (streams.label_forwarder) moves each
label to ``events.raw``, keyed by the event's ``key`` (a label field, required in this mode)
under the label header.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from confluent_kafka import OFFSET_STORED, Consumer, KafkaError, Message, Producer, TopicPartition

from online_models.events import DeadLetter, Origin
from online_models.exceptions import InvalidEventError
from online_models.pipeline import Learner, LearnResult
from streams import topics
from streams.context import StreamContext, alert_key, dead_letter_key, log_rejection
from streams.label_forwarder import LabelForwarder, broker_time
from streams.settings import Settings
from streams.topics import LABEL_HEADER

log = logging.getLogger("streamwise.chain")
NOTHING_NEW = LearnResult()  # no promotion, no alert: only the snapshot schedules can make one due
T = TypeVar("T")


def is_label(message: Message) -> bool:
    headers = message.headers()
    return bool(headers) and (LABEL_HEADER[0], LABEL_HEADER[1]) in headers


class ChainedLoop:
    """One consumer of ``events.raw`` (its own group), learners per assigned partition, one producer."""

    def __init__(self, settings: Settings, ctx: StreamContext, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.ctx = ctx
        self.loop = loop
        # Topic names once, not per event.
        self.raw, self.features = settings.topic(topics.RAW), settings.topic(topics.FEATURES)
        self.predictions, self.alerts = settings.topic(topics.PREDICTIONS), settings.topic(topics.ALERTS)
        self.dlq = settings.topic(topics.DLQ)
        self.pipeline = ctx.pipeline
        self.checkpoints = ctx.checkpoints
        # Shared with the status timer and the shutdown snapshots, which read them on the event loop:
        # counters and metrics at most one event behind (the GIL keeps each read whole).
        self.learners = ctx.learners
        self.stopping = threading.Event()
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": f"{settings.app_id}.chain",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": int(settings.session_timeout * 1000),
                **settings.kafka_client_config(),
            }
        )
        self.producer = Producer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "linger.ms": 5,
                "enable.idempotence": True,
                "compression.type": "lz4",
                "partitioner": "murmur2_random",  # Kafka's default: a forwarded label meets its event
                **settings.kafka_client_config(),
            }
        )
        labels_consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": f"{settings.app_id}.labels",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **settings.kafka_client_config(),
            }
        )
        self.labels = LabelForwarder(
            labels_consumer,
            self.producer,
            self.pipeline,
            settings.topic(topics.LABELS),
            self.raw,
            self._dead_letter,
            settings.chain_batch,
        )
        self._since: dict[int, int] = {}  # events learned per partition since its checkpoint
        self._last: dict[int, float] = {}
        self._features: dict[str, dict[str, Any]] = {}  # newest vector per key, handed to the loop per batch

    def run(self) -> None:
        """Until ``stop``: poll a batch, process it, checkpoint the partitions that are due."""
        self.consumer.subscribe([self.raw], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        self.labels.start()
        try:
            while not self.stopping.is_set():
                self.labels.pump()
                batch = self.consumer.consume(self.settings.chain_batch, self.settings.chain_within)
                for message in batch:
                    self._process(message)
                self._end_of_batch(len(batch))
            for partition in list(self.learners):
                self._checkpoint(partition)
        finally:
            if self.producer.flush(30) == 0:
                self.labels.commit()
            self.labels.close()
            self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()

    # One message.

    def _process(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error on %s: %s", self.raw, error)
            return
        partition = message.partition()
        learner = self.learners.get(partition)
        if learner is None:  # revoked while the batch was in flight: its next owner reads it
            return
        origin = Origin(self.raw, partition, message.offset())
        if learner.has_consumed(origin):  # the restored checkpoint includes it (seeks make this rare)
            self.ctx.metrics.replayed.inc()
            return
        try:
            result: LearnResult | InvalidEventError = self._step(learner, message, origin)
        except InvalidEventError as error:
            result = error
        learner.consumed(origin)
        self._since[partition] = self._since.get(partition, 0) + 1
        if isinstance(result, InvalidEventError):
            self._reject(result, message, origin)
        else:
            self._publish(learner, result)

    def _step(self, learner: Learner, message: Message, origin: Origin) -> LearnResult:
        data = message.value()
        if is_label(message):
            return learner.join_label(self.pipeline.validate_label(data, broker_time(message)), origin)
        vector = self.pipeline.featurize(self.pipeline.validate(data, broker_time(message)), learner.key_states)
        self.producer.produce(self.features, vector.to_json(), vector.event_id.encode())
        if vector.key is not None:
            self._features[vector.key] = vector.features
        return learner.learn(vector, origin)

    def _publish(self, learner: Learner, result: LearnResult) -> None:
        produce = self.producer.produce
        self.ctx.metrics.observe_result(result)
        for prediction in result.predictions:
            produce(self.predictions, prediction.to_json(), prediction.event_id.encode())
        for alert in result.alerts:
            log.warning("drift alert %s", alert.describe())
            produce(self.alerts, alert.to_json(), alert_key(alert))
            for sink in self.ctx.alert_sinks:
                self.loop.call_soon_threadsafe(sink, alert)
        for letter in result.dead_letters:
            self._dead_letter(letter)
        snapshotter = self.ctx.snapshotter
        if snapshotter is not None and (result.promotions or any(alert.action for alert in result.alerts)):
            self._call(snapshotter.after(learner, result))  # the models wait, unchanged, while pickled

    def _reject(self, error: InvalidEventError, message: Message, origin: Origin) -> None:
        log_rejection(error, origin)
        self._dead_letter(self.pipeline.dead_letter(error, message.value(), origin, message.key()))

    def _dead_letter(self, letter: DeadLetter) -> None:
        self.ctx.metrics.dead_letters.labels(letter.reason).inc()
        self.producer.produce(self.dlq, letter.to_json(), dead_letter_key(letter))

    # Per batch: counters, the online features, delivery callbacks, due checkpoints.

    def _end_of_batch(self, size: int) -> None:
        if size:
            self.ctx.metrics.chained_events.inc(size)
        if self._features and self.ctx.online is not None:
            features, self._features = self._features, {}
            self.loop.call_soon_threadsafe(self._remember, features)
        self.producer.poll(0)
        snapshotter = self.ctx.snapshotter
        for learner in list(self.learners.values()) if snapshotter is not None else ():
            if snapshotter.wants(learner, NOTHING_NEW):  # scheduled snapshots: checked once per batch
                self._call(snapshotter.after(learner, NOTHING_NEW))
        now = time.monotonic()
        for partition in list(self.learners):
            since = self._since.get(partition, 0)
            if since and (
                since >= self.settings.checkpoint_every_events
                or now - self._last.get(partition, now) >= self.settings.checkpoint_every_seconds
            ):
                self._checkpoint(partition)

    def _remember(self, features: dict[str, dict[str, Any]]) -> None:
        online = self.ctx.online
        if online is not None:
            for key, vector in features.items():
                online.remember_features(key, vector)

    def _checkpoint(self, partition: int) -> None:
        """Flush the outputs, save the learner with its offsets, then commit those offsets."""
        learner = self.learners.get(partition)
        if learner is None or not self._since.get(partition):
            return
        self._last[partition] = time.monotonic()
        offset = learner.offsets.get(self.raw, {}).get(partition)
        if self.producer.flush(30) > 0:
            log.warning("outputs of partition %d not delivered yet: checkpoint retried", partition)
            return
        self.labels.commit()  # every label forwarded so far is delivered
        # This thread waits while the learner is pickled: it is the one that would change it.
        if self.checkpoints.store is not None and self._call(self.checkpoints.save(learner)) is None:
            return  # not saved: the events stay uncommitted, retried when due
        self._since[partition] = 0
        if offset is not None:
            self.consumer.commit(offsets=[TopicPartition(self.raw, partition, offset)], asynchronous=True)

    # Rebalances (called by the consumer, inside consume(), on this thread).

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            learner = self._call(self.checkpoints.restore(tp.partition)) or self.pipeline.new_learner(tp.partition)
            self.learners[tp.partition] = learner
            self._since[tp.partition] = 0
            self._last[tp.partition] = time.monotonic()
            # Seek to just after the checkpoint: everything since it is learned once, nothing twice.
            tp.offset = learner.offsets.get(self.raw, {}).get(tp.partition, OFFSET_STORED)
        consumer.assign(partitions)
        log.info("chained loop assigned %s", sorted(tp.partition for tp in partitions))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._checkpoint(tp.partition)  # the next owner replays less
            self._forget(tp.partition)
        consumer.unassign()

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # another worker may own them already: its state wins, ours is dropped
            self._forget(tp.partition)
        consumer.unassign()

    def _forget(self, partition: int) -> None:
        self.learners.pop(partition, None)
        self._since.pop(partition, None)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the worker's event loop and wait for it (this thread only)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()
