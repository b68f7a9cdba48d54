"""The engine: the one data path of Streamwise, a confluent-kafka loop in batches.

Two consumers read three topics: the intake's (group ``STREAMWISE_APP_ID``) the raw events and the
labels, the learners' (group ``STREAMWISE_APP_ID.learners``) the learn log, so that each group spreads
its own kind of work over the workers. One producer writes every output.

* ``events.raw``: each partition's :class:`~online_models.intake.Intake` turns a message into a
  feature vector, written to the learn log, or into a dead letter.
* ``events.labels``: each label is checked and written to the learn log (paced by
  :mod:`streams.engine.pacing`), so it meets its event whatever partitioner produced either.
* the learn log (``features``): every vector and label goes to each partition that hosts a model
  (:mod:`online_models.placement`: one model name, one learner, the whole stream); each partition's
  :class:`~online_models.learner.Learner` predicts, joins labels, scores, learns and watches for
  drift with its models; predictions, alerts and dead letters go out.

Every decision about a message is made in ``online_models``; this module moves bytes, keeps each
partition's state, and makes progress durable (:mod:`streams.engine.checkpoints`). No message can
stop a partition: whatever fails becomes a dead letter with its reason. Infrastructure errors are
retried, logged and shown on the worker's health page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, TopicPartition

from online_models.alerts import Alert
from online_models.events import DeadLetter, Origin
from online_models.intake import Intake
from online_models.learner import Learner
from online_models.pipeline import Pipeline
from online_models.storage.checkpoint_store import CheckpointStore
from online_models.storage.redis_registry import ModelRegistry
from streams.engine.bridge import Bridge
from streams.engine.bundles import Bundles
from streams.engine.checkpoints import Checkpoints
from streams.engine.freezer import Freezer
from streams.engine.health import Health
from streams.engine.outputs import Outputs, OutputsDropped
from streams.engine.pacing import EVENTS, LABELS, LabelPacer
from streams.engine.parts import Assignment, Part
from streams.engine.snapshots import Snapshots
from streams.kafka import topics
from streams.kafka.admin import TopicAdminError
from streams.kafka.consumer import Delivered
from streams.prometheus import StreamMetrics
from streams.settings import Settings

log = logging.getLogger("streamwise.engine")
_PARTITION_EOF = KafkaError._PARTITION_EOF


def _partitions(consumer: Consumer, topic: str) -> int:
    """How many partitions ``topic`` has (the learn log's: how records are spread over it)."""
    found = consumer.list_topics(topic, timeout=30).topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicAdminError(f"topic {topic!r} does not exist: run streamwise topics create")
    return len(found.partitions)


def broker_ms(message: Delivered) -> int | None:
    """Return the message's broker timestamp (epoch ms), or None when it has none.

    It is what stands in for a missing ``ts``.
    """
    kind, ms = message.timestamp()
    return ms if kind and ms > 0 else None


class Engine:
    """The worker's one loop: consume the three input topics, keep each partition's state, write every output."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        metrics: StreamMetrics,
        *,
        bridge: Bridge | None = None,
        store: CheckpointStore | None = None,
        registry: ModelRegistry | None = None,
        alert_sinks: list[Callable[[Alert], None]] | None = None,
        remember_features: Callable[[dict[str, dict[str, Any]]], None] | None = None,
        health: Health | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.bridge = bridge
        self.health = health or Health()
        self.remember_features = remember_features
        self.stopping = threading.Event()
        self.stopped = threading.Event()  # set once the loop has closed (final checkpoints done or given up)
        self.raw, self.labels = settings.topic(topics.RAW), settings.topic(topics.LABELS)
        self.learn = settings.topic(topics.FEATURES)
        intake_group, learners_group = topics.groups(settings)
        # Its end-of-partition events tell the label pacing that a raw partition is read to its end.
        self.consumer = self._consumer(intake_group, **{"enable.partition.eof": True})
        self.learn_consumer = self._consumer(learners_group)
        self.outputs = Outputs(settings, metrics, self.health, self.stopping, bridge, alert_sinks)
        self.outputs.while_waiting = self._waiting_for_room
        key = settings.signing_key()
        freezer = Freezer()  # one record of how long each state takes to pickle
        self.assignment = Assignment(
            self.raw, self.labels, self.learn, pipeline, store, key, bridge, metrics, self.health, freezer
        )
        self.checkpoints = Checkpoints(
            self.consumer_of,
            self.outputs,
            store,
            bridge,
            pipeline.config,
            key,
            metrics,
            self.health,
            settings.checkpoint_every_events,
            settings.checkpoint_every_seconds,
            freezer,
        )
        self.snapshots = (
            Snapshots(registry, bridge, self.outputs, metrics, self.health, freezer)
            if registry is not None and bridge is not None
            else None
        )
        # The parts of each input topic (the dicts live as long as the assignment): one lookup per message.
        self._raw_parts = self.assignment.parts[self.raw]
        self._label_parts = self.assignment.parts[self.labels]
        self._learn_parts = self.assignment.parts[self.learn]
        self.bundles = Bundles([], self.outputs.bundle)  # the learn log's partitions are known once running
        self.pacer = LabelPacer(self._more)
        self.paused: set[tuple[str, int]] = set()  # partitions paused because the pacer holds too much of them
        self.lags: dict[tuple[str, int], int] = {}  # read by the status timer
        self._features: dict[str, dict[str, Any]] = {}  # newest vector per key, handed over per batch
        self._counts = [0, 0, 0]  # messages of this batch: intake, labels, learn
        self._next_lag = 0.0
        self.beat = time.monotonic()  # when the loop last came round (the health page shows a stuck loop)

    def _consumer(self, group: str, **extra: Any) -> Consumer:
        settings = self.settings
        return Consumer(
            settings.kafka().consumer(
                group,
                **{
                    "partition.assignment.strategy": "cooperative-sticky",
                    "session.timeout.ms": int(settings.session_timeout * 1000),
                    "on_commit": self._committed,
                    "error_cb": self._kafka_error,
                    **extra,
                },
            )
        )

    def consumer_of(self, topic: str) -> Consumer:
        """Return the consumer that reads ``topic``: the learners' for the learn log, else the intake's."""
        return self.learn_consumer if topic == self.learn else self.consumer

    @property
    def learners(self) -> dict[int, Learner]:
        """Return the learner of each learn-log partition, restored ones only."""
        return self.assignment.learners()

    @property
    def intakes(self) -> dict[int, Intake]:
        """Return the intake of each raw partition, restored ones only."""
        return self.assignment.intakes()

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Until ``stop``: poll a batch, process it, do the batch's duties; then close cleanly."""
        self.pipeline.place(_partitions(self.consumer, self.learn))  # before any learner is made
        self.bundles = Bundles(self.pipeline.placement.hosts, self.outputs.bundle)
        for consumer, topics_read in ((self.consumer, [self.raw, self.labels]), (self.learn_consumer, [self.learn])):
            consumer.subscribe(topics_read, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        try:
            while not self.stopping.is_set():
                self.beat = time.monotonic()
                batch = self._poll()
                if batch:
                    self.pacer.refresh()  # the fetches that brought the batch moved the watermarks
                for message in batch:
                    try:
                        self._dispatch(message)
                    except OutputsDropped:
                        raise
                    except Exception as exc:  # a bug of ours: that message is a dead letter, the partition goes on
                        self._unexpected(message, exc)
                try:
                    self._end_of_batch()
                except OutputsDropped:
                    raise
                except Exception as exc:
                    log.exception("the end of a batch failed (the loop goes on)")
                    self.health.failed("engine", f"{type(exc).__name__}: {exc}")
        except OutputsDropped:
            log.warning(
                "stopping with the broker away: %d outputs not queued; nothing is checkpointed", self.outputs.dropped
            )
        finally:
            try:
                self._close()
            finally:
                self.stopped.set()

    def stop(self) -> None:
        """Ask the loop to stop: it finishes its batch, then closes (``stopped`` is set once it has)."""
        self.stopping.set()

    def _poll(self) -> list[Delivered]:
        """Return what the two consumers have queued, up to a batch from each.

        When nothing is, wait up to ``poll_timeout`` for a first message, half of it on each.
        (``consume(n, timeout)`` alone waits out its whole timeout unless n messages are queued: 50 ms
        of idle per batch whenever the loop keeps up.)
        """
        size = self.settings.batch_size
        batch = [*_consume(self.consumer, size, 0.0), *_consume(self.learn_consumer, size, 0.0)]
        if batch:
            return batch
        wait = self.settings.poll_timeout / 2
        return _consume(self.consumer, size, wait) or _consume(self.learn_consumer, size, wait)

    def _dispatch(self, message: Delivered) -> None:
        error = message.error()
        if error is not None:
            if error.code() == _PARTITION_EOF:
                part = self.assignment.parts.get(message.topic(), {}).get(message.partition())
                if part is not None:
                    self.pacer.at_end(part, message.offset())
            else:
                self._kafka_error(error)
            return
        topic = message.topic()
        if topic == self.learn:
            self._learn(message)
        elif topic == self.raw:
            self._paced(self._raw_parts.get(message.partition()), EVENTS, message, self._event)
        else:
            self._paced(self._label_parts.get(message.partition()), LABELS, message, self._forward)

    def _paced(self, part: Part | None, kind: int, message: Delivered, read: Callable[[Part, Delivered], None]) -> None:
        """Read an event or a label (``kind``) now, or hold it until the pacer lets it pass."""
        if part is None or part.restoring:  # revoked while the batch was in flight, or not loaded: read again later
            return
        if self.pacer.admit(part, kind, message, message.timestamp()[1]):
            read(part, message)
        else:
            self._hold(part)

    def _event(self, part: Part, message: Delivered) -> None:
        self._counts[0] += 1
        part.since += 1
        origin = Origin(self.raw, part.partition, message.offset())
        intake: Intake = part.state  # type: ignore[assignment]
        vector = intake.event(message.value(), message.key(), broker_ms(message), origin)
        if intake.warnings:  # a feature left out for a bad value: sampled to the dead-letter topic
            for warning in intake.take_warnings():
                self.outputs.dead_letter(warning)
        if isinstance(vector, DeadLetter):
            self.outputs.dead_letter(vector)
            return
        self.bundles.add(vector, len(message))
        if vector.key is not None and self.remember_features is not None:
            self._features[vector.key] = vector.features

    def _forward(self, part: Part, message: Delivered) -> None:
        """Write a label into the learn log (or its dead letter)."""
        self._counts[1] += 1
        part.since += 1
        part.read_to = message.offset() + 1
        origin = Origin(self.labels, part.partition, message.offset())
        label = self.pipeline.label(message.value(), message.key(), broker_ms(message), origin)
        if isinstance(label, DeadLetter):
            self.outputs.dead_letter(label)
        else:
            self.bundles.add(label, len(message))

    def _more(self, part: Part) -> bool:
        """Tell whether the consumer's newest high watermark of ``part`` lies past its last end event.

        The fetch of a burst updates it before the burst's messages are read.
        """
        _, high = self.consumer.get_watermark_offsets(TopicPartition(part.topic, part.partition), cached=True)
        return high > part.end

    def _hold(self, part: Part) -> None:
        """Pause a part the pacer holds too much of (the consumer drops what it fetched ahead: no memory grows)."""
        key = (part.topic, part.partition)
        if len(part.held) >= self.settings.batch_size and key not in self.paused:
            self.paused.add(key)
            self.consumer.pause([TopicPartition(*key)])

    def _learn(self, message: Delivered) -> None:
        partition = message.partition()
        part = self._learn_parts.get(partition)
        if part is None or part.state is None:
            return
        learner: Learner = part.state  # type: ignore[assignment]
        headers = message.headers()  # None for a bundle: no header, no kind
        kind = topics.record_kind(headers) if headers else None
        for result in learner.read(message.value(), kind, Origin(self.learn, partition, message.offset())):
            self._counts[2] += 1  # records, not messages: a bundle holds many
            part.since += 1
            self.metrics.observe_result(result)
            self.outputs.result(result)
            if self.snapshots is not None:
                self.snapshots.after(learner, result)

    # -- once per batch ----------------------------------------------------------------------------

    def _end_of_batch(self) -> None:
        self._release()
        self.bundles.flush()
        self.outputs.poll()
        self._count()
        self.assignment.poll_restores(self.consumer_of)
        if self._features and self.remember_features is not None and self.bridge is not None:
            features, self._features = self._features, {}
            self.bridge.call(self.remember_features, features)
        if self.snapshots is not None:
            self.snapshots.tick(self.learners.values())
            self.snapshots.collect()
        self.checkpoints.collect(self.assignment.all())
        due = self.checkpoints.due(self.assignment.all())
        if due:
            self.checkpoints.round(due)
        self._lag_when_due()

    def _waiting_for_room(self) -> None:
        """Keep the heartbeat, the counts and the lag current while the loop waits for room to produce."""
        self.beat = time.monotonic()
        self._count()
        self._lag_when_due()

    def _lag_when_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + self.settings.status_interval
            self._measure_lag()

    def _count(self) -> None:
        self.metrics.flush()
        intake, labels, learn = self._counts
        if intake:
            self.metrics.intake_events.inc(intake)
        if labels:
            self.metrics.label_events.inc(labels)
        if learn:
            self.metrics.learn_events.inc(learn)
        self._counts = [0, 0, 0]

    def _release(self) -> None:
        """Read the held messages the pacer lets pass now; resume the parts it no longer holds."""
        for part, message in self.pacer.release():
            try:
                if part.topic == self.raw:
                    self._event(part, message)
                else:
                    self._forward(part, message)
            except OutputsDropped:
                raise
            except Exception as exc:
                self._unexpected(message, exc)
        for key in list(self.paused):
            paused = self.assignment.parts[key[0]].get(key[1])
            if paused is None or not paused.held:
                self.paused.discard(key)
                if paused is not None:
                    self.consumer.resume([TopicPartition(*key)])
        self.metrics.held.set(self.pacer.held())

    def pacing(self) -> dict[str, dict[str, Any]]:
        """Return where the label pacing stands, per events and labels partition.

        The health page shows it: a partition that holds messages says what it waits for.
        """
        return {
            f"{part.topic}[{part.partition}]": {
                "held": len(part.held),
                "oldest_held_ms": _oldest(part),
                "read_to_ms": part.last_ts,
                "at_end": part.caught_up,
                "paused": (part.topic, part.partition) in self.paused,
            }
            for parts in list(self.pacer.parts)
            for part in list(parts.values())
        }

    def _measure_lag(self) -> None:
        """High watermark minus position of every assigned partition, from the consumer's cache."""
        lags = {}
        for part in self.assignment.all():
            tp = TopicPartition(part.topic, part.partition)
            low, high = self.consumer_of(part.topic).get_watermark_offsets(tp, cached=True)
            position = part.next_offset
            if high >= 0:
                lags[(part.topic, part.partition)] = max(high - (position if position is not None else low), 0)
        self.lags = lags

    # -- rebalances (inside consume, on this thread) -------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for part in self.assignment.assign(consumer, partitions):
            if part.topic != self.learn:  # events and labels wait for it from now on, restored or not
                self.pacer.assigned(part, EVENTS if part.topic == self.raw else LABELS)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Checkpoint what is going (the next owner reads less again), then let it go.

        At a stop the final round is done already.
        """
        self.bundles.flush()  # what was read so far goes out before anything is checkpointed
        keys = {(tp.topic, tp.partition) for tp in partitions}
        going = [p for p in self.assignment.all() if (p.topic, p.partition) in keys]
        if not self.stopping.is_set():
            self.checkpoints.collect(going, wait=5.0, asynchronous=False)  # saves under way first
            if self.checkpoints.round(going, flush_seconds=5.0):
                self.checkpoints.collect(going, wait=5.0, asynchronous=False)
        self._forget(partitions)
        consumer.incremental_unassign(partitions)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another worker may own them already: its state wins, ours is dropped."""
        self._forget(partitions)
        consumer.incremental_unassign(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for part in self.assignment.drop(partitions):
            self.paused.discard((part.topic, part.partition))
            if part.topic == self.learn and self.snapshots is not None:
                self.snapshots.forget(part.partition)
            elif part.topic != self.learn:
                self.pacer.revoked(part, EVENTS if part.topic == self.raw else LABELS)
        log.info("gave up %s", sorted((tp.topic, tp.partition) for tp in partitions))

    # -- errors and stopping -------------------------------------------------------------------------

    def _unexpected(self, message: Delivered, exc: Exception) -> None:
        origin = Origin(message.topic(), message.partition(), message.offset())
        log.exception("unexpected error on %s[%d]@%d", origin.topic, origin.partition, origin.offset)
        detail = f"{type(exc).__name__}: {exc}"
        now = self.pipeline.clock()
        self.outputs.dead_letter(
            DeadLetter("unexpected_error", detail, message.value(), origin, now, key=message.key())
        )

    def _kafka_error(self, error: KafkaError) -> None:
        self.health.failed("kafka", error.str())

    def _committed(self, error: KafkaError | None, offsets: list[TopicPartition]) -> None:
        if error is not None:
            self.health.failed("kafka", f"offsets not committed: {error.str()}")
        else:
            self.health.succeeded("kafka")

    def _close(self) -> None:
        """Take the final checkpoints and snapshots, then close the consumer.

        Bounded in time: the broker or Redis may be away.
        """
        # Leave time for the consumer's close: a broker that is away costs it a few seconds too.
        deadline = time.monotonic() + min(max(self.settings.shutdown_timeout - 10.0, 1.0), 15.0)
        parts = self.assignment.all()
        if not self.outputs.dropped:
            try:
                self.bundles.flush()
                if self.snapshots is not None:
                    self.snapshots.take_all(self.learners.values(), "shutdown")
                self.checkpoints.collect(parts, wait=_left(deadline, 0.2), asynchronous=False)  # saves under way
                if self.checkpoints.round(parts, flush_seconds=_left(deadline, 0.5)):
                    self.checkpoints.collect(parts, wait=_left(deadline, 0.4), asynchronous=False)
                if self.snapshots is not None:
                    self.snapshots.collect(wait=_left(deadline, 0.2))
                    self.outputs.flush(_left(deadline, 0.1))
            except OutputsDropped:
                log.warning("stopping with the broker away: the final checkpoints are skipped")
        self.consumer.close()
        self.learn_consumer.close()
        log.info("engine stopped")


def _consume(consumer: Consumer, size: int, wait: float) -> list[Delivered]:
    """Return what ``consumer`` has queued, up to ``size``; with none, wait up to ``wait`` s for a first message."""
    batch = cast(list[Delivered], consumer.consume(size, 0))
    if batch or not wait:
        return batch
    first = cast(Delivered | None, consumer.poll(wait))
    if first is None:
        return batch
    return [first, *cast(list[Delivered], consumer.consume(size - 1, 0))] if size > 1 else [first]


def _oldest(part: Part) -> int | None:
    """Return the broker timestamp of the oldest message ``part`` holds, or None.

    Read from another thread: the message may go meanwhile.
    """
    try:
        return part.held[0][0]
    except IndexError:
        return None


def _left(deadline: float, share: float) -> float:
    """``share`` of the time left until ``deadline`` (at least a little)."""
    return max((deadline - time.monotonic()) * share, 0.1)
