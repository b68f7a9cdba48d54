"""Telling the workers of a person's champion change: one message on ``models.control``.

The workers' control agent forwards it into every partition of their learn log, where each
promotion judge reads it in order (see :mod:`online_models.control`). The API and
``streamwise models`` send it after the registry has changed.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, Message, Producer

from online_models.control import ChampionChange
from streams.kafka import topics
from streams.settings import KafkaSettings


def notify_workers(settings: KafkaSettings, change: ChampionChange, timeout: float = 10.0) -> str | None:
    """Publish ``change``; None once delivered, else why it was not (it is then not retried)."""
    if not settings.kafka_bootstrap:
        return "no Kafka configured (STREAMWISE_KAFKA_BOOTSTRAP is empty)"
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error.str())

    producer = Producer(settings.kafka().producer(**{"message.timeout.ms": int(timeout * 1000)}))
    producer.produce(
        settings.topic(topics.CONTROL_TOPIC), change.to_json(), change.name.encode(), on_delivery=delivered
    )
    if producer.flush(timeout + 1.0) > 0:
        return f"not delivered within {timeout:g} s"
    return f"not delivered: {failures[0]}" if failures else None
