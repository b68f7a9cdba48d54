"""The Kafka topics of the core loop: one declaration each, with its partition count."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.settings import Settings

RAW = "events.raw"
VALID = "events.valid"
FEATURES = "features"
PREDICTIONS = "predictions"
DLQ = "events.dlq"
ALL = (RAW, VALID, FEATURES, PREDICTIONS, DLQ)


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(name) for name in ALL]


@dataclass(frozen=True)
class Topics:
    """Faust topic handles. Values and keys are raw bytes: online_models encodes and decodes."""

    raw: faust.TopicT
    valid: faust.TopicT
    features: faust.TopicT
    predictions: faust.TopicT
    dlq: faust.TopicT

    @classmethod
    def declare(cls, app: faust.App, settings: Settings) -> Topics:
        def topic(name: str) -> faust.TopicT:
            return app.topic(
                settings.topic(name),
                partitions=settings.partitions,
                replicas=settings.replication_factor,
                key_serializer="raw",
                value_serializer="raw",
            )

        return cls(topic(RAW), topic(VALID), topic(FEATURES), topic(PREDICTIONS), topic(DLQ))
