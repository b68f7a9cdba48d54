"""What the agents share: the pipeline, the topics, the learners per partition, metrics, and the
one error callback that logs topic/partition/offset and routes a message to the dead-letter topic."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from faust.types import Message

from online_models.alerts import Alert
from online_models.events import DeadLetter, Origin
from online_models.exceptions import InvalidEventError
from online_models.pipeline import Learner, Pipeline
from streams.checkpoints import Checkpointer
from streams.metrics import StreamMetrics
from streams.topics import Topics

if TYPE_CHECKING:
    from streams.online_state import OnlineState
    from streams.snapshots import Snapshotter

log = logging.getLogger("streamwise.worker")


def origin_of(message: Message) -> Origin:
    return Origin(message.topic, message.partition, message.offset)


def broker_time(message: Message) -> datetime | None:
    return datetime.fromtimestamp(message.timestamp, tz=UTC) if message.timestamp else None


@dataclass
class StreamContext:
    pipeline: Pipeline
    topics: Topics
    metrics: StreamMetrics
    # Each partition's learner: restored from its checkpoint, acked once checkpointed.
    checkpoints: Checkpointer
    # Extra consumers of every published alert (the webhook sink); they must not block.
    alert_sinks: list[Callable[[Alert], None]] = field(default_factory=list)
    snapshotter: Snapshotter | None = None  # when a registry (Redis) is configured
    online: OnlineState | None = None  # when Redis is configured
    # The chained fast path (streams.chain), when it runs: stops it after its final checkpoints.
    stop_chain: Callable[[], Awaitable[None]] | None = None

    @property
    def learners(self) -> dict[int, Learner]:
        """Each stream partition has its own models, so partitions scale out across workers."""
        return self.checkpoints.learners

    async def send_alert(self, alert: Alert) -> None:
        log.warning("drift alert %s", alert.describe())
        await self.topics.alerts.send(key=alert_key(alert), value=alert.to_json())
        for sink in self.alert_sinks:
            sink(alert)

    async def reject(self, error: InvalidEventError, message: Message) -> None:
        """The error callback: log where the message came from and send it to the DLQ."""
        origin = origin_of(message)
        log_rejection(error, origin)
        await self.send_dead_letter(self.pipeline.dead_letter(error, message.value, origin, message.key))

    async def send_dead_letter(self, letter: DeadLetter) -> None:
        self.metrics.dead_letters.labels(letter.reason).inc()
        await self.topics.dlq.send(key=dead_letter_key(letter), value=letter.to_json())


def key_bytes(key: str | None) -> bytes | None:
    return key.encode() if key is not None else None


def log_rejection(error: InvalidEventError, origin: Origin) -> None:
    """The error callback's log line: where the message came from, and why it is rejected."""
    where = f"{origin.topic}[{origin.partition}]@{origin.offset}"
    log.warning("dead letter %s from %s: %s", error.reason, where, error.detail)


def alert_key(alert: Alert) -> bytes:
    return (alert.model or alert.feature or "").encode()


def dead_letter_key(letter: DeadLetter) -> bytes | None:
    return letter.event_id.encode() if letter.event_id else None
