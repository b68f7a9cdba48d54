"""The Kafka topics of the stream: one name each, and how each is created.

``features`` is the learn log: feature vectors, and the labels and champion changes marked by the
header ``streamwise-kind``, all keyed by event_id (a champion change by its model name) with
Streamwise's own producer. An event and its label meet in one partition of it whatever partitioner
their producers used, and each partition is one learning order that a replay reads again exactly.
"""

from __future__ import annotations

from online_models.learnlog import CONTROL, LABEL
from streams.kafka.connection import MAX_MESSAGE_BYTES
from streams.settings import Settings

RAW = "events.raw"
LABELS = "events.labels"
FEATURES = "features"  # the learn log
PREDICTIONS = "predictions"
DLQ = "events.dlq"
ALERTS = "drift.alerts"
SNAPSHOTS = "model.snapshots"  # compacted: the newest metadata per model name
CONTROL_TOPIC = "models.control"  # a person's promote, rollback and unpin, for the workers' judges
ALL = (RAW, LABELS, FEATURES, PREDICTIONS, DLQ, ALERTS, SNAPSHOTS, CONTROL_TOPIC)
INPUTS = (RAW, LABELS, FEATURES)  # what the engine's two consumer groups read
KIND_HEADER = "streamwise-kind"
LABEL_HEADER = (KIND_HEADER, LABEL.encode())
CONTROL_HEADER = (KIND_HEADER, CONTROL.encode())
# Per-topic broker configs at creation: the learn log takes a raw event with its source.
CONFIGS = {
    SNAPSHOTS: {"cleanup.policy": "compact"},
    FEATURES: {"max.message.bytes": str(MAX_MESSAGE_BYTES)},
    RAW: {"max.message.bytes": str(MAX_MESSAGE_BYTES)},
}


def topic_names(settings: Settings) -> list[str]:
    """Return the full name of every topic of the stream (with the settings' prefix).

    Examples
    --------
    >>> names = topic_names(Settings(topic_prefix="demo."))
    >>> names[:3], len(names)
    (['demo.events.raw', 'demo.events.labels', 'demo.features'], 8)
    """
    return [settings.topic(name) for name in ALL]


def groups(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Return the worker's consumer groups and the topics each reads (without the prefix).

    The learners have a group of their own, so that learn-log partitions spread over the workers
    whatever the intake's partitions do.

    Examples
    --------
    >>> groups(Settings(app_id="shop"))
    {'shop': ('events.raw', 'events.labels'), 'shop.learners': ('features',)}
    """
    return {settings.app_id: (RAW, LABELS), f"{settings.app_id}.learners": (FEATURES,)}


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Return the per-topic broker configs for topic creation.

    Examples
    --------
    >>> configs = topic_configs(Settings(topic_prefix="demo."))
    >>> configs["demo.model.snapshots"], configs["demo.features"]   # the learn log takes large records
    ({'cleanup.policy': 'compact'}, {'max.message.bytes': '4194304'})
    >>> "demo.predictions" in configs   # the broker's defaults
    False
    """
    return {settings.topic(name): config for name, config in CONFIGS.items()}


def record_kind(headers: list[tuple[str, bytes]] | None) -> str | None:
    """Return the learn-log record kind a message's headers give (None: a feature vector).

    Examples
    --------
    >>> record_kind(None), record_kind([LABEL_HEADER]), record_kind([("other", b"x"), CONTROL_HEADER])
    (None, 'label', 'control')
    """
    if not headers:
        return None
    for name, value in headers:
        if name == KIND_HEADER:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None
