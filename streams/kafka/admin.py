"""Topic administration with confluent-kafka: topics are created explicitly, never by the broker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from online_models.exceptions import StreamwiseError
from streams.kafka import topics
from streams.kafka.connection import KafkaConnection
from streams.settings import Settings


class TopicAdminError(StreamwiseError):
    """A topic could not be created or the broker could not be reached."""


def admin_client(kafka: KafkaConnection | str) -> AdminClient:
    """Return an admin client for ``kafka`` (a connection, or a bootstrap address)."""
    return AdminClient(_connection(kafka).admin())


def _connection(kafka: KafkaConnection | str) -> KafkaConnection:
    return KafkaConnection(kafka) if isinstance(kafka, str) else kafka


def create_topics(
    kafka: KafkaConnection | str,
    names: Iterable[str],
    partitions: int,
    replication_factor: int = 1,
    timeout: float = 30.0,
    configs: Mapping[str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Create ``names`` with ``partitions`` each (and ``configs[name]``); name -> "created" | "exists"."""
    admin = admin_client(kafka)
    configs = configs or {}
    futures = admin.create_topics(
        [
            NewTopic(
                name, num_partitions=partitions, replication_factor=replication_factor, config=configs.get(name, {})
            )
            for name in names
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    outcome: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicAdminError(f"cannot create topic {name!r}: {error.str()}") from None
            outcome[name] = "exists"
    return outcome


def create_stream_topics(settings: Settings) -> dict[str, str]:
    """Create every topic of the stream, with the settings' partitions and each topic's configs."""
    return create_topics(
        settings.kafka(),
        topics.topic_names(settings),
        settings.partitions,
        settings.replication_factor,
        configs=topics.topic_configs(settings),
    )


def partition_count(kafka: KafkaConnection | str, topic: str, timeout: float = 10.0) -> int:
    """Return how many partitions ``topic`` has (TopicAdminError when it does not exist)."""
    metadata = admin_client(kafka).list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise TopicAdminError(f"topic {topic!r} does not exist: run streamwise topics create")
    return len(metadata.partitions)


def delete_topics(kafka: KafkaConnection | str, names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete the topics ``names``; one that does not exist is no error."""
    # Keep a reference: the futures fail if the client is collected.
    admin = admin_client(kafka)
    futures = admin.delete_topics(list(names), operation_timeout=timeout, request_timeout=timeout)
    for future in futures.values():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
