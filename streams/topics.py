"""The Kafka topics of the core loop: one declaration each, with its partition count."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.settings import Settings

RAW = "events.raw"
VALID = "events.valid"
# The learn log: feature vectors, and under a LABEL_HEADER the labels re-keyed from events.labels.
# Both are keyed by event_id, so an event and its label meet in one partition, in one order that
# a replay reads again exactly.
FEATURES = "features"
LABEL_HEADER = ("streamwise-kind", b"label")
PREDICTIONS = "predictions"
DLQ = "events.dlq"
LABELS = "events.labels"
ALERTS = "drift.alerts"
SNAPSHOTS = "model.snapshots"  # compacted: the newest metadata per model name
ALL = (RAW, VALID, FEATURES, PREDICTIONS, DLQ, LABELS, ALERTS, SNAPSHOTS)
COMPACTED = {SNAPSHOTS}


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(name) for name in ALL]


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Per-topic broker configs for topic creation."""
    return {settings.topic(name): {"cleanup.policy": "compact"} for name in COMPACTED}


@dataclass(frozen=True)
class Topics:
    """Faust topic handles. Values and keys are raw bytes: online_models encodes and decodes."""

    raw: faust.TopicT
    valid: faust.TopicT
    features: faust.TopicT
    predictions: faust.TopicT
    dlq: faust.TopicT
    labels: faust.TopicT
    alerts: faust.TopicT
    snapshots: faust.TopicT

    @classmethod
    def declare(cls, app: faust.App, settings: Settings) -> Topics:
        def topic(*names: str) -> faust.TopicT:
            return app.topic(
                *(settings.topic(name) for name in names),
                partitions=settings.partitions,
                replicas=settings.replication_factor,
                key_serializer="raw",
                value_serializer="raw",
            )

        return cls(
            topic(RAW),
            topic(VALID),
            topic(FEATURES),
            topic(PREDICTIONS),
            topic(DLQ),
            topic(LABELS),
            topic(ALERTS),
            topic(SNAPSHOTS),
        )
